use std::io::Cursor;
use std::sync::{Arc, OnceLock};

use image::{ImageError, ImageReader, Limits};
use tokio::sync::Semaphore;

use super::{AppError, ModelAssets};
use crate::protocol::{Classification, MAX_CATEGORIES};
use crate::vision::{NativeClassifier, RgbaFrame};

/// Widest and tallest image accepted, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 4096;
/// Most memory one decode may allocate: a 4096 × 4096 RGBA image and a little more.
const MAX_DECODE_BYTES: u64 = 80 * 1024 * 1024;
/// Classifications running or waiting at once, per core; more are refused as busy.
const CLASSIFICATIONS_PER_CORE: usize = 2;

/// Classifies uploaded images on the server with native ONNX Runtime: the same model and the
/// same pre- and post-processing as the browser. The model loads on first use. Decoding is held
/// to [`MAX_IMAGE_SIDE`] and a memory budget before any pixel is allocated, and only a few
/// classifications per core run at once.
#[derive(Clone, Debug)]
pub struct ServerClassifier {
    assets: ModelAssets,
    loaded: Arc<OnceLock<Result<Arc<NativeClassifier>, String>>>,
    slots: Arc<Semaphore>,
}

impl ServerClassifier {
    /// A classifier over the model files in `assets`.
    pub fn new(assets: ModelAssets) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            assets,
            loaded: Arc::default(),
            slots: Arc::new(Semaphore::new(cores * CLASSIFICATIONS_PER_CORE)),
        }
    }

    /// The `max_results` most probable classes of a JPEG or PNG image, best first.
    pub async fn classify(&self, image: Vec<u8>, max_results: usize) -> Result<Classification, AppError> {
        if !(1..=MAX_CATEGORIES).contains(&max_results) {
            return Err(AppError::BadRequest(format!("max_results is between 1 and {MAX_CATEGORIES}")));
        }
        let slot = Arc::clone(&self.slots).try_acquire_owned().map_err(|_| {
            AppError::Unavailable("the server is busy classifying other images; try again shortly".into())
        })?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let image = decode(&image)?.to_rgba8();
            let classifier = this.model()?;
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

/// Decodes a JPEG or PNG within the size limits: too large is 413, anything undecodable 422.
fn decode(bytes: &[u8]) -> Result<image::DynamicImage, AppError> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| AppError::Unprocessable(format!("not a JPEG or PNG image: {e}")))?;
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        ImageError::Limits(_) => {
            AppError::TooLarge(format!("the image is larger than {MAX_IMAGE_SIDE} × {MAX_IMAGE_SIDE} pixels"))
        }
        e => AppError::Unprocessable(format!("not a JPEG or PNG image: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn classifications_beyond_the_bound_are_refused_as_busy() {
        let classifier = ServerClassifier::new(ModelAssets::new("no-models-here"));
        let permits = u32::try_from(classifier.slots.available_permits()).unwrap();
        let _all = Arc::clone(&classifier.slots).acquire_many_owned(permits).await.unwrap();
        let busy = classifier.classify(vec![0; 16], 3).await.unwrap_err();
        assert!(matches!(busy, AppError::Unavailable(ref m) if m.contains("busy")), "{busy}");
    }
}
