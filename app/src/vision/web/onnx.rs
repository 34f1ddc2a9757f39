//! onnxruntime-web, through `ort` with the `ort-web` backend.

use std::cell::RefCell;

use ort::environment::Environment;
use ort::session::{RunOptions, Session};
use ort::value::Tensor;
use wasm_bindgen::prelude::*;

use super::{VisionError, failed};
use crate::vision::Layout;

thread_local! {
    /// onnxruntime-web is loaded once per page; every model shares its environment.
    static RUNTIME: RefCell<Option<Environment>> = const { RefCell::new(None) };
}

// ort-web's loader adds a `<script>` for onnxruntime-web's bundle to `document.head`, as in a page.
// In a worker there is no document, so for that one call the loader gets a stand-in that imports
// the bundle's module build instead; the stand-ins are gone before onnxruntime-web runs.
#[wasm_bindgen(inline_js = r#"
export function stand_in_for_a_page() {
  if (typeof document !== 'undefined') return;
  const element = (tag) => {
    const listeners = {};
    return {
      tag,
      setAttribute() {},
      addEventListener(type, listener) { listeners[type] = listener; },
      dispatch(type, event) { listeners[type]?.(event); },
    };
  };
  self.window = self;
  self.document = {
    createElement: element,
    head: {
      appendChild(script) {
        if (script.tag !== 'script') return; // preload hints: nothing to do in a worker
        delete self.document;
        delete self.window;
        import(String(script.src).replace(/\.js$/, '.mjs')).then(
          (module) => {
            self.ort = { ...module };
            self.window = self;
            script.dispatch('load');
            delete self.window;
          },
          (error) => script.dispatch('error', { error }),
        );
      },
    },
  };
}
"#)]
extern "C" {
    fn stand_in_for_a_page();
}

async fn runtime(runtime_url: &str, threads: usize) -> Result<Environment, VisionError> {
    if let Some(environment) = RUNTIME.with_borrow(Clone::clone) {
        return Ok(environment);
    }
    stand_in_for_a_page();
    let api = ort_web::api(ort_web::Dist::new(runtime_url)).await.map_err(failed)?;
    set_threads(threads);
    ort::set_api(api);
    let environment = ort::init().with_name("ai-channels").with_telemetry(false).build().map_err(failed)?;
    RUNTIME.set(Some(environment.clone()));
    Ok(environment)
}

/// onnxruntime-web runs one thread unless told otherwise (`ort.env.wasm.numThreads`); set before
/// the first session is created.
fn set_threads(threads: usize) {
    let global = js_sys::global();
    let settings = js_sys::Reflect::get(&global, &"ort".into())
        .and_then(|ort| js_sys::Reflect::get(&ort, &"env".into()))
        .and_then(|env| js_sys::Reflect::get(&env, &"wasm".into()));
    if let Ok(settings) = settings {
        let _ = js_sys::Reflect::set(&settings, &"numThreads".into(), &(threads as f64).into());
    }
}

/// An ONNX model in onnxruntime-web.
pub struct OnnxModel {
    session: Session,
    threads: usize,
}

impl OnnxModel {
    /// Loads onnxruntime-web from `runtime_url` (an absolute URL of its `dist/`) once per page,
    /// then the ONNX `model`, to run on `threads` threads.
    pub async fn load(runtime_url: &str, model: &[u8], threads: usize) -> Result<Self, VisionError> {
        let environment = runtime(runtime_url, threads).await?;
        let session = Session::builder(&environment)
            .map_err(failed)?
            .commit_from_memory(model)
            .await
            .map_err(failed)?;
        Ok(Self { session, threads })
    }

    /// How many threads the model runs on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs the model on one NCHW `input` and returns its output.
    pub async fn run(&mut self, input: Vec<f32>) -> Result<Vec<f32>, VisionError> {
        let input = Tensor::from_array((Layout::Nchw.shape(), input)).map_err(failed)?;
        let options = RunOptions::new().map_err(failed)?;
        let mut outputs = self.session.run_async(ort::inputs![input], &options).await.map_err(failed)?;
        ort_web::sync_outputs(&mut outputs).await.map_err(failed)?;
        let (_, probabilities) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
        Ok(probabilities.to_vec())
    }
}
