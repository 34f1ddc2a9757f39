use std::cell::RefCell;

use ort::environment::Environment;
use ort::session::{RunOptions, Session};
use ort::value::Tensor;

use super::{CategoryFilter, INPUT_SIZE, Labels, RgbaFrame, VisionError, to_input_tensor, top_k};
use crate::protocol::Category;

thread_local! {
    /// onnxruntime-web is loaded once per page; every classifier shares its environment.
    static RUNTIME: RefCell<Option<Environment>> = const { RefCell::new(None) };
}

fn failed(e: impl std::fmt::Display) -> VisionError {
    VisionError::Model(e.to_string())
}

async fn runtime(runtime_url: &str) -> Result<Environment, VisionError> {
    if let Some(environment) = RUNTIME.with_borrow(Clone::clone) {
        return Ok(environment);
    }
    let api = ort_web::api(ort_web::Dist::new(runtime_url)).await.map_err(failed)?;
    use_every_core();
    ort::set_api(api);
    let environment = ort::init().with_name("ai-channels").with_telemetry(false).build().map_err(failed)?;
    RUNTIME.set(Some(environment.clone()));
    Ok(environment)
}

/// onnxruntime-web runs one thread unless told otherwise; a cross-origin isolated page (this
/// site serves COOP/COEP) may use a worker per core. Set before the first session is created.
/// Reads the global scope's own properties, so it works in a page and in a worker alike.
fn use_every_core() {
    let global = js_sys::global();
    let get = |target: &wasm_bindgen::JsValue, name: &str| js_sys::Reflect::get(target, &name.into());
    let isolated = get(&global, "crossOriginIsolated").is_ok_and(|v| v.is_truthy());
    let cores = get(&global, "navigator")
        .and_then(|navigator| get(&navigator, "hardwareConcurrency"))
        .ok()
        .and_then(|cores| cores.as_f64())
        .unwrap_or(1.0)
        .max(1.0);
    let wasm_settings = js_sys::Reflect::get(&global, &"ort".into())
        .and_then(|ort| js_sys::Reflect::get(&ort, &"env".into()))
        .and_then(|env| js_sys::Reflect::get(&env, &"wasm".into()));
    if let (true, Ok(settings)) = (isolated, wasm_settings) {
        let _ = js_sys::Reflect::set(&settings, &"numThreads".into(), &cores.into());
    }
}

/// The image classifier in the browser: the same ONNX model and the same pre- and
/// post-processing as the server, run by onnxruntime-web (served by this site, never a CDN).
pub struct WebClassifier {
    session: Session,
    labels: Labels,
}

impl WebClassifier {
    /// Loads onnxruntime-web from `runtime_url` (an absolute URL of its `dist/`) once per page,
    /// then the ONNX `model`.
    pub async fn load(runtime_url: &str, model: &[u8], labels: Labels) -> Result<Self, VisionError> {
        let environment = runtime(runtime_url).await?;
        let session = Session::builder(&environment)
            .map_err(failed)?
            .commit_from_memory(model)
            .await
            .map_err(failed)?;
        Ok(Self { session, labels })
    }

    /// Classifies one frame and returns the `k` most probable classes that `filter` admits,
    /// best first.
    pub async fn classify(
        &mut self,
        frame: &RgbaFrame<'_>,
        k: usize,
        filter: &CategoryFilter,
    ) -> Result<Vec<Category>, VisionError> {
        let input =
            Tensor::from_array(([1, 3, INPUT_SIZE, INPUT_SIZE], to_input_tensor(frame))).map_err(failed)?;
        let options = RunOptions::new().map_err(failed)?;
        let mut outputs = self.session.run_async(ort::inputs![input], &options).await.map_err(failed)?;
        ort_web::sync_outputs(&mut outputs).await.map_err(failed)?;
        let (_, probabilities) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
        Ok(top_k(probabilities, k, &self.labels, filter))
    }
}
