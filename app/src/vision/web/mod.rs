//! The image model in the browser, on either [`BrowserEngine`]: the same pre- and post-processing
//! as the server around each engine's run.

mod litert;
mod onnx;

use super::{BrowserEngine, CategoryFilter, Labels, RgbaFrame, VisionError, to_input_tensor, top_k};
use crate::protocol::Category;

fn failed(e: impl std::fmt::Display) -> VisionError {
    VisionError::Model(e.to_string())
}

fn js_failed(e: wasm_bindgen::JsValue) -> VisionError {
    VisionError::Model(e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

/// How many threads the model may use: every core when the page is cross-origin isolated (this
/// site serves COOP/COEP, so workers can share memory), one otherwise. Reads the global scope, so
/// it works in a page and in a worker alike.
fn threads() -> usize {
    let global = js_sys::global();
    let get = |target: &wasm_bindgen::JsValue, name: &str| js_sys::Reflect::get(target, &name.into());
    let isolated = get(&global, "crossOriginIsolated").is_ok_and(|v| v.is_truthy());
    let cores = get(&global, "navigator")
        .and_then(|navigator| get(&navigator, "hardwareConcurrency"))
        .ok()
        .and_then(|cores| cores.as_f64())
        .unwrap_or(1.0)
        .max(1.0);
    if isolated { cores as usize } else { 1 }
}

enum Engine {
    LiteRt(litert::LiteRtModel),
    OnnxRuntime(onnx::OnnxModel),
}

/// The image classifier in the browser: the model run by `engine`, whose runtime this site
/// serves (never a CDN).
pub struct WebClassifier {
    engine: Engine,
    labels: Labels,
}

impl WebClassifier {
    /// Loads `engine`'s runtime from `runtime_url` (an absolute URL of its directory) once per
    /// page, then `model` (in the engine's format).
    pub async fn load(
        engine: BrowserEngine,
        runtime_url: &str,
        model: &[u8],
        labels: Labels,
    ) -> Result<Self, VisionError> {
        let threads = threads();
        let engine = match engine {
            BrowserEngine::LiteRt => {
                Engine::LiteRt(litert::LiteRtModel::load(runtime_url, model, threads).await?)
            }
            BrowserEngine::OnnxRuntime => {
                Engine::OnnxRuntime(onnx::OnnxModel::load(runtime_url, model, threads).await?)
            }
        };
        Ok(Self { engine, labels })
    }

    /// The engine that runs the model.
    pub fn engine(&self) -> BrowserEngine {
        match self.engine {
            Engine::LiteRt(_) => BrowserEngine::LiteRt,
            Engine::OnnxRuntime(_) => BrowserEngine::OnnxRuntime,
        }
    }

    /// How many threads the engine runs on.
    pub fn threads(&self) -> usize {
        match &self.engine {
            Engine::LiteRt(model) => model.threads(),
            Engine::OnnxRuntime(model) => model.threads(),
        }
    }

    /// Classifies one frame and returns the `k` most probable classes that `filter` admits,
    /// best first.
    pub async fn classify(
        &mut self,
        frame: &RgbaFrame<'_>,
        k: usize,
        filter: &CategoryFilter,
    ) -> Result<Vec<Category>, VisionError> {
        let input = to_input_tensor(frame, self.engine().layout());
        let probabilities = match &mut self.engine {
            Engine::LiteRt(model) => model.run(&input).await?,
            Engine::OnnxRuntime(model) => model.run(input).await?,
        };
        Ok(top_k(&probabilities, k, &self.labels, filter))
    }
}
