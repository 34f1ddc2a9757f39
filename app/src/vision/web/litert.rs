//! LiteRT.js (`@litertjs/core`), the site's copy imported as a module at run time.

use js_sys::{Array, Float32Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::{VisionError, js_failed};
use crate::vision::Layout;

#[wasm_bindgen(inline_js = "export function import_module(url) { return import(url); }")]
extern "C" {
    /// `import(url)`: the module, loaded only where it is used.
    fn import_module(url: &str) -> Promise;
}

#[wasm_bindgen]
extern "C" {
    /// The `@litertjs/core` module.
    type LiteRtModule;
    #[wasm_bindgen(method, catch, js_name = loadLiteRt)]
    fn load_lite_rt(this: &LiteRtModule, path: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, js_name = supportsFeature)]
    fn supports_feature(this: &LiteRtModule, feature: &str) -> Promise;
    #[wasm_bindgen(method, catch, js_name = loadAndCompile)]
    fn load_and_compile(
        this: &LiteRtModule,
        model: &Uint8Array,
        options: &JsValue,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, getter = Tensor)]
    fn tensor_class(this: &LiteRtModule) -> js_sys::Function;

    /// A model compiled for the CPU.
    type CompiledModel;
    #[wasm_bindgen(method, catch)]
    fn run(this: &CompiledModel, input: &Tensor) -> Result<Promise, JsValue>;

    /// A tensor in LiteRT's memory, freed by `delete`.
    type Tensor;
    #[wasm_bindgen(method, catch, js_name = toTypedArray)]
    fn to_typed_array(this: &Tensor) -> Result<Float32Array, JsValue>;
    #[wasm_bindgen(method)]
    fn delete(this: &Tensor);
}

/// The LiteRT.js build for this browser, in the runtime's directory: XNNPACK with relaxed SIMD,
/// threaded when more than one thread may run, or the compatible build without relaxed SIMD (one
/// thread).
async fn build(module: &LiteRtModule, threads: usize) -> (&'static str, usize) {
    let relaxed_simd =
        JsFuture::from(module.supports_feature("relaxedSimd")).await.is_ok_and(|v| v.is_truthy());
    match (relaxed_simd, threads > 1) {
        (true, true) => ("litert_wasm_threaded_internal.js", threads),
        (true, false) => ("litert_wasm_internal.js", 1),
        (false, _) => ("litert_wasm_compat_internal.js", 1),
    }
}

/// A TFLite model compiled by LiteRT.js for the CPU.
pub struct LiteRtModel {
    module: LiteRtModule,
    model: CompiledModel,
    threads: usize,
}

impl LiteRtModel {
    /// Imports LiteRT.js from `runtime_url` (an absolute URL of its directory) and loads its
    /// WebAssembly, then compiles the TFLite `model` to run on up to `threads` threads.
    pub async fn load(runtime_url: &str, model: &[u8], threads: usize) -> Result<Self, VisionError> {
        let module: LiteRtModule = JsFuture::from(import_module(&format!("{runtime_url}litert.js")))
            .await
            .map_err(js_failed)?
            .unchecked_into();
        let (script, threads) = build(&module, threads).await;
        locate_files_in(runtime_url, script)?;
        JsFuture::from(module.load_lite_rt(&format!("{runtime_url}{script}")).map_err(js_failed)?)
            .await
            .map_err(js_failed)?;
        let options = Object::new();
        let cpu = Object::new();
        let set = |target: &Object, key: &str, value: JsValue| Reflect::set(target, &key.into(), &value);
        set(&cpu, "numThreads", (threads as f64).into()).map_err(js_failed)?;
        set(&options, "accelerator", "wasm".into()).map_err(js_failed)?;
        set(&options, "cpuOptions", cpu.into()).map_err(js_failed)?;
        let compiled = module.load_and_compile(&Uint8Array::from(model), &options).map_err(js_failed)?;
        let model = JsFuture::from(compiled).await.map_err(js_failed)?.unchecked_into();
        Ok(Self { module, model, threads })
    }

    /// How many threads the model runs on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs the model on one NHWC `input` and returns its output.
    pub async fn run(&mut self, input: &[f32]) -> Result<Vec<f32>, VisionError> {
        let shape: Array = Layout::Nhwc.shape().iter().map(|&n| JsValue::from(n as f64)).collect();
        let data = Float32Array::from(input);
        let tensor: Tensor = Reflect::construct(&self.module.tensor_class(), &Array::of2(&data, &shape))
            .map_err(js_failed)?
            .unchecked_into();
        let ran = match self.model.run(&tensor) {
            Ok(running) => JsFuture::from(running).await,
            Err(e) => Err(e),
        };
        tensor.delete();
        let outputs: Array = ran.map_err(js_failed)?.unchecked_into();
        let output: Tensor = outputs.get(0).unchecked_into();
        let values = output.to_typed_array().map(|values| values.to_vec());
        for output in outputs.iter() {
            output.unchecked_into::<Tensor>().delete();
        }
        values.map_err(js_failed)
    }
}

/// LiteRT's WebAssembly looks for its files beside the script that runs it, and starts its
/// threads from that script: in a worker that would be the worker's own script, so both are
/// pointed at the runtime's directory (Emscripten's `Module.locateFile` and
/// `Module.mainScriptUrlOrBlob`, which LiteRT.js passes on). Its log, which Emscripten writes to
/// the console as errors, goes to the console's debug level, but for its errors.
fn locate_files_in(runtime_url: &str, script: &str) -> Result<(), VisionError> {
    let settings = Object::new();
    let log = Closure::<dyn Fn(String)>::new(|line: String| match line.starts_with("ERROR") {
        true => web_sys::console::error_1(&line.into()),
        false => web_sys::console::debug_1(&line.into()),
    });
    Reflect::set(&settings, &"printErr".into(), &log.into_js_value()).map_err(js_failed)?;
    let directory = runtime_url.to_owned();
    let locate = Closure::<dyn Fn(String) -> String>::new(move |file: String| format!("{directory}{file}"));
    Reflect::set(&settings, &"locateFile".into(), &locate.into_js_value()).map_err(js_failed)?;
    Reflect::set(&settings, &"mainScriptUrlOrBlob".into(), &format!("{runtime_url}{script}").into())
        .map_err(js_failed)?;
    Reflect::set(&js_sys::global(), &"Module".into(), &settings).map_err(js_failed)?;
    Ok(())
}
