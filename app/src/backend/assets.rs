use std::path::PathBuf;

use crate::protocol::Check;
use crate::vision::{self, Labels, VisionError};

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
    /// onnxruntime-web's `dist/`, served to browsers under [`vision::WEB_RUNTIME_URL`].
    pub const WEB_RUNTIME_DIR: &'static str = "onnxruntime-web";
    /// The files served under [`vision::BROWSER_MODELS_URL`]; nothing else in the model directory is.
    pub const BROWSER_MODELS: [&'static str; 2] = [Self::BROWSER_IMAGE_MODEL, Self::IMAGE_LABELS];

    const REQUIRED: [&'static str; 8] = [
        Self::IMAGE_MODEL,
        Self::BROWSER_IMAGE_MODEL,
        Self::IMAGE_LABELS,
        Self::CHAT_MODEL,
        Self::INSTRUCT_MODEL,
        Self::LARGER_INSTRUCT_MODEL,
        Self::RUNTIME_LIBRARY,
        Self::WEB_RUNTIME_DIR,
    ];

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
