use std::path::PathBuf;

use crate::protocol::Check;
use crate::vision::{self, BrowserEngine, Labels, VisionError};

/// The model directory the set-up fills (`models/` by default) and the files the app uses in it.
#[derive(Clone, Debug)]
pub struct ModelAssets {
    dir: PathBuf,
}

impl ModelAssets {
    /// The image classifier, EfficientNet-Lite0 as ONNX (`[N,3,224,224]` → 1000 probabilities).
    pub const IMAGE_MODEL: &'static str = vision::IMAGE_MODEL_FILE;
    /// The image classifier with float16 weights, for browsers.
    pub const BROWSER_IMAGE_MODEL: &'static str = vision::BROWSER_IMAGE_MODEL_FILE;
    /// The ImageNet class names, a JSON array of 1000 strings.
    pub const IMAGE_LABELS: &'static str = vision::IMAGE_LABELS_FILE;
    /// The embedded pre-trained model, Gemma 3 270M in GGUF.
    pub const CHAT_MODEL: &'static str = "gemma-3-270m-q4_k_m.gguf";
    /// The default embedded model, Qwen2.5 Coder 0.5B Instruct in GGUF.
    pub const INSTRUCT_MODEL: &'static str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
    /// The larger embedded instruct model, Qwen2.5 Coder 1.5B Instruct in GGUF.
    pub const LARGER_INSTRUCT_MODEL: &'static str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
    /// Native ONNX Runtime, loaded at run time.
    pub const RUNTIME_LIBRARY: &'static str = "onnxruntime/libonnxruntime.so";
    /// The image classifier with the same float16 weights as a TFLite model, for LiteRT.js.
    pub const LITERT_IMAGE_MODEL: &'static str = vision::LITERT_IMAGE_MODEL_FILE;
    /// The image classifier in int8 as a TFLite model, measured beside the others.
    pub const INT8_IMAGE_MODEL: &'static str = "efficientnet_lite0.int8.tflite";
    /// The files served under [`vision::BROWSER_MODELS_URL`]; nothing else in the model directory is.
    pub const BROWSER_MODELS: [&'static str; 4] =
        [Self::BROWSER_IMAGE_MODEL, Self::LITERT_IMAGE_MODEL, Self::INT8_IMAGE_MODEL, Self::IMAGE_LABELS];

    const REQUIRED: [&'static str; 11] = [
        Self::IMAGE_MODEL,
        Self::BROWSER_IMAGE_MODEL,
        Self::LITERT_IMAGE_MODEL,
        Self::INT8_IMAGE_MODEL,
        Self::IMAGE_LABELS,
        Self::CHAT_MODEL,
        Self::INSTRUCT_MODEL,
        Self::LARGER_INSTRUCT_MODEL,
        Self::RUNTIME_LIBRARY,
        Self::runtime_dir(BrowserEngine::OnnxRuntime),
        Self::runtime_dir(BrowserEngine::LiteRt),
    ];

    /// The directory of `engine`'s runtime for browsers (onnxruntime-web's `dist/`, LiteRT.js
    /// with its WebAssembly), served under [`BrowserEngine::runtime_url`].
    pub const fn runtime_dir(engine: BrowserEngine) -> &'static str {
        match engine {
            BrowserEngine::OnnxRuntime => "onnxruntime-web",
            BrowserEngine::LiteRt => "litert",
        }
    }

    /// Assets in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The path of one asset, e.g. `assets.path(ModelAssets::IMAGE_MODEL)`.
    pub fn path(&self, asset: &str) -> PathBuf {
        self.dir.join(asset)
    }

    /// Reads the image model's class names.
    pub fn labels(&self) -> Result<Labels, VisionError> {
        let path = self.path(Self::IMAGE_LABELS);
        let json = std::fs::read_to_string(&path)
            .map_err(|e| VisionError::Labels(format!("cannot read {}: {e}", path.display())))?;
        Labels::from_json(&json)
    }

    /// One check per required asset: present or missing.
    pub fn checks(&self) -> Vec<Check> {
        Self::REQUIRED
            .iter()
            .map(|&asset| {
                let ok = self.path(asset).exists();
                let detail = if ok { "present" } else { "missing: run `make setup`" };
                Check { name: asset.into(), ok, detail: detail.into() }
            })
            .collect()
    }
}
