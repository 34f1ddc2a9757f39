use std::path::Path;
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;

use super::{CategoryFilter, Labels, Layout, RgbaFrame, VisionError, to_input_tensor, top_k};
use crate::protocol::Category;

/// ONNX Runtime allows one environment per process, so every classifier shares this one.
static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();

fn runtime(library: &Path) -> Result<&'static Environment, VisionError> {
    RUNTIME
        .get_or_init(|| {
            ort::init_from(library)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", library.display()))?
                .with_name("ai-channels")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| VisionError::Model(e.clone()))
}

/// The image classifier on the server: the ONNX model run by native ONNX Runtime, loaded
/// dynamically from the shared library the set-up installs.
pub struct NativeClassifier {
    session: Mutex<Session>,
    labels: Labels,
}

impl std::fmt::Debug for NativeClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeClassifier").field("classes", &self.labels.len()).finish_non_exhaustive()
    }
}

impl NativeClassifier {
    /// Loads ONNX Runtime from `runtime_library` (once per process) and the model from `model`.
    pub fn load(runtime_library: &Path, model: &Path, labels: Labels) -> Result<Self, VisionError> {
        let failed = |e: ort::Error| VisionError::Model(format!("{}: {e}", model.display()));
        let session = Session::builder(runtime(runtime_library)?)
            .map_err(failed)?
            .commit_from_file(model)
            .map_err(failed)?;
        Ok(Self { session: Mutex::new(session), labels })
    }

    /// Classifies one frame and returns the `k` most probable classes, best first.
    pub fn classify(&self, frame: &RgbaFrame<'_>, k: usize) -> Result<Vec<Category>, VisionError> {
        let failed = |e: ort::Error| VisionError::Model(e.to_string());
        let input = Tensor::from_array((Layout::Nchw.shape(), to_input_tensor(frame, Layout::Nchw)))
            .map_err(failed)?;
        let mut session =
            self.session.lock().map_err(|_| VisionError::Model("a previous run panicked".into()))?;
        let outputs = session.run(ort::inputs![input]).map_err(failed)?;
        let (_, probabilities) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
        Ok(top_k(probabilities, k, &self.labels, &CategoryFilter::default()))
    }
}
