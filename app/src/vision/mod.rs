//! Image classification shared by both sides: the same pre-processing, labels and top-k run in the
//! browser and on the server, so both produce the same categories for the same frame.

mod engine;
mod labels;
mod policy;
mod preprocess;

#[cfg(feature = "ssr")]
mod native;
#[cfg(feature = "hydrate")]
mod web;

pub use engine::BrowserEngine;
pub use labels::{CategoryFilter, Labels, kind_classes, top_k};
pub use policy::{EventPolicy, Trigger};
pub use preprocess::{INPUT_SIZE, Layout, RgbaFrame, to_input_tensor};

#[cfg(feature = "ssr")]
pub use native::NativeClassifier;
#[cfg(feature = "hydrate")]
pub use web::WebClassifier;

/// Where the site serves the image model and its labels to browsers.
pub const BROWSER_MODELS_URL: &str = "/models";
/// The image model's file name in the model directory (float32, run by the server).
pub const IMAGE_MODEL_FILE: &str = "efficientnet_lite0.onnx";
/// The same model with its weights stored as float16 (half the download, the same float32
/// arithmetic), in the model directory and under [`BROWSER_MODELS_URL`]: what browsers run.
pub const BROWSER_IMAGE_MODEL_FILE: &str = "efficientnet_lite0.f16.onnx";
/// The same float16 weights as a LiteRT (TFLite) model, in the model directory and under
/// [`BROWSER_MODELS_URL`]: what LiteRT.js runs.
pub const LITERT_IMAGE_MODEL_FILE: &str = "efficientnet_lite0.f16.tflite";
/// The class names' file name, in the model directory and under [`BROWSER_MODELS_URL`].
pub const IMAGE_LABELS_FILE: &str = "imagenet_labels.json";

/// What can go wrong while preparing, running or interpreting a classification.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// The frame's pixel buffer does not match its stated size.
    #[error("a {width}×{height} RGBA frame needs {expected} bytes, got {actual}")]
    FrameSize {
        /// Stated width in pixels.
        width: u32,
        /// Stated height in pixels.
        height: u32,
        /// Bytes a buffer of that size holds.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// The label list is not a JSON array of names.
    #[error("the label list is not a JSON array of names: {0}")]
    Labels(String),
    /// The model or its runtime failed to load or run.
    #[error("the image model failed: {0}")]
    Model(String),
}
