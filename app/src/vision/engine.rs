use serde::{Deserialize, Serialize};

use super::{BROWSER_MODELS_URL, Layout};

/// An engine that runs the image model in a browser, each with the site's model in its format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrowserEngine {
    /// LiteRT.js (`@litertjs/core`, XNNPACK kernels) on a `.tflite` model, NHWC input.
    LiteRt,
    /// onnxruntime-web on an `.onnx` model, NCHW input.
    OnnxRuntime,
}

impl BrowserEngine {
    /// Every engine, fastest first as measured (`cargo bench -p server --bench inference`): the
    /// order a page tries them in.
    pub const FASTEST_FIRST: [Self; 2] = [Self::LiteRt, Self::OnnxRuntime];

    /// The name people know it by.
    pub fn name(self) -> &'static str {
        match self {
            Self::LiteRt => "LiteRT",
            Self::OnnxRuntime => "ONNX Runtime",
        }
    }

    /// Its short name in settings and URLs (`?engine=litert`).
    pub fn key(self) -> &'static str {
        match self {
            Self::LiteRt => "litert",
            Self::OnnxRuntime => "onnxruntime",
        }
    }

    /// The engine a short name names.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::FASTEST_FIRST.into_iter().find(|engine| engine.key() == key)
    }

    /// The engine that runs the model at `url`, from its extension (`.tflite` or `.onnx`).
    pub fn for_model(url: &str) -> Option<Self> {
        Self::FASTEST_FIRST.into_iter().find(|engine| url.ends_with(engine.extension()))
    }

    fn extension(self) -> &'static str {
        match self {
            Self::LiteRt => ".tflite",
            Self::OnnxRuntime => ".onnx",
        }
    }

    /// Where the site serves the engine's runtime to browsers.
    pub fn runtime_url(self) -> &'static str {
        match self {
            Self::LiteRt => "/litert",
            Self::OnnxRuntime => "/ort",
        }
    }

    /// The site's image model for this engine (float16 weights, float32 arithmetic), a path on
    /// this site.
    pub fn site_model(self) -> String {
        let file = match self {
            Self::LiteRt => super::LITERT_IMAGE_MODEL_FILE,
            Self::OnnxRuntime => super::BROWSER_IMAGE_MODEL_FILE,
        };
        format!("{BROWSER_MODELS_URL}/{file}")
    }

    /// How the engine's model takes its input image.
    pub fn layout(self) -> Layout {
        match self {
            Self::LiteRt => Layout::Nhwc,
            Self::OnnxRuntime => Layout::Nchw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_names_its_engine_and_each_engine_has_a_site_model() {
        assert_eq!(BrowserEngine::for_model("/models/x.tflite"), Some(BrowserEngine::LiteRt));
        assert_eq!(BrowserEngine::for_model("/models/x.onnx"), Some(BrowserEngine::OnnxRuntime));
        assert_eq!(BrowserEngine::for_model("/models/x.bin"), None);
        for engine in BrowserEngine::FASTEST_FIRST {
            assert_eq!(BrowserEngine::for_model(&engine.site_model()), Some(engine));
            assert_eq!(BrowserEngine::from_key(engine.key()), Some(engine));
        }
        assert_eq!(BrowserEngine::from_key("tract"), None);
    }
}
