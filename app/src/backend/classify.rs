use std::sync::{Arc, OnceLock};

use super::{AppError, ModelAssets};
use crate::protocol::{Classification, MAX_CATEGORIES};
use crate::vision::{NativeClassifier, RgbaFrame};

/// Classifies uploaded images on the server with native ONNX Runtime: the same model and the
/// same pre- and post-processing as the browser. The model loads on first use.
#[derive(Clone, Debug)]
pub struct ServerClassifier {
    assets: ModelAssets,
    loaded: Arc<OnceLock<Result<Arc<NativeClassifier>, String>>>,
}

impl ServerClassifier {
    /// A classifier over the model files in `assets`.
    pub fn new(assets: ModelAssets) -> Self {
        Self { assets, loaded: Arc::default() }
    }

    /// The `max_results` most probable classes of a JPEG or PNG image, best first.
    pub async fn classify(&self, image: Vec<u8>, max_results: usize) -> Result<Classification, AppError> {
        if !(1..=MAX_CATEGORIES).contains(&max_results) {
            return Err(AppError::BadRequest(format!("max_results is between 1 and {MAX_CATEGORIES}")));
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let classifier = this.model()?;
            let image = image::load_from_memory(&image)
                .map_err(|e| AppError::BadRequest(format!("not a JPEG or PNG image: {e}")))?
                .to_rgba8();
            let frame = RgbaFrame::new(image.width(), image.height(), image.as_raw())
                .map_err(|e| AppError::BadRequest(e.to_string()))?;
            let categories =
                classifier.classify(&frame, max_results).map_err(|e| AppError::Unavailable(e.to_string()))?;
            Ok(Classification { categories, head_index: 0, head_name: "probability".into() })
        })
        .await
        .map_err(|e| AppError::Internal(format!("classification stopped: {e}")))?
    }

    fn model(&self) -> Result<Arc<NativeClassifier>, AppError> {
        self.loaded
            .get_or_init(|| {
                let labels = self.assets.labels().map_err(|e| e.to_string())?;
                NativeClassifier::load(
                    &self.assets.path(ModelAssets::RUNTIME_LIBRARY),
                    &self.assets.path(ModelAssets::IMAGE_MODEL),
                    labels,
                )
                .map(Arc::new)
                .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(AppError::Unavailable)
    }
}
