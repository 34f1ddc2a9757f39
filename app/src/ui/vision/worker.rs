//! The image model in a dedicated Web Worker, so the page never blocks on inference: the page
//! starts the worker (`/pkg/classifier-worker.js`, which runs this same WebAssembly and calls
//! [`serve`]), the worker downloads the model and loads its engine (the first of the candidates
//! that loads), and each frame goes to it as a transferred `ImageBitmap` and comes back as ranked
//! categories. Messages are typed ([`Request`], [`Reply`]) and travel as JSON, the bitmap beside
//! them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use futures::lock::Mutex;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DedicatedWorkerGlobalScope, ImageBitmap, MessageEvent, OffscreenCanvas,
    OffscreenCanvasRenderingContext2d, Worker, WorkerOptions, WorkerType,
};

use crate::protocol::Category;
use crate::vision::{BrowserEngine, CategoryFilter, Labels, RgbaFrame, WebClassifier};

/// The worker's script, built beside the app's WebAssembly.
const WORKER_SCRIPT: &str = "/pkg/classifier-worker.js";

/// A model the worker may run, with the engine that runs it (absolute URLs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The engine.
    pub engine: BrowserEngine,
    /// The model, in the engine's format.
    pub model_url: String,
    /// The directory the engine's runtime is served from, ending in `/`.
    pub runtime_url: String,
}

/// The model the worker runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    /// The engine that runs it.
    pub engine: BrowserEngine,
    /// The model's URL.
    pub model_url: String,
    /// How many threads the engine runs on.
    pub threads: usize,
}

/// What the page asks the worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Request {
    /// Load the first of the `candidates` that loads, and the labels.
    Load { candidates: Vec<Candidate>, labels_url: String },
    /// Classify the bitmap sent beside this message.
    Classify { id: u32, k: usize, filter: CategoryFilter },
}

/// What the worker answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Reply {
    /// The worker runs and listens.
    Started,
    /// The model's download, in whole percents.
    Progress { percent: u8 },
    /// The model is loaded.
    Ready(Loaded),
    /// The model could not be loaded.
    Failed { message: String },
    /// Request `id`'s categories, best first, and how long inference took.
    Classified { id: u32, categories: Vec<Category>, inference_ms: f64 },
    /// Request `id` failed.
    Error { id: u32, message: String },
}

fn js_error(error: JsValue) -> String {
    error.as_string().unwrap_or_else(|| format!("{error:?}"))
}

/// One classification: the categories, best first, and the milliseconds inference took.
pub type Classified = (Vec<Category>, f64);

type Pending = Rc<RefCell<HashMap<u32, oneshot::Sender<Result<Classified, String>>>>>;

/// The page's handle on the worker that runs the model.
pub struct WorkerClassifier {
    worker: Worker,
    pending: Pending,
    next_id: Cell<u32>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::ErrorEvent)>,
}

impl Drop for WorkerClassifier {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

impl WorkerClassifier {
    /// Starts the worker and has it load the first of the `candidates` that loads, with the labels
    /// at `labels_url` (an absolute URL); `progress` follows the model's download. Returns the
    /// worker and what it loaded.
    pub async fn start(
        candidates: Vec<Candidate>,
        labels_url: String,
        progress: impl Fn(u8) + 'static,
    ) -> Result<(Self, Loaded), String> {
        // A classic worker: LiteRT's WebAssembly is started with `importScripts`, which module
        // workers lack; the app's own module is imported dynamically.
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Classic);
        let worker = Worker::new_with_options(WORKER_SCRIPT, &options).map_err(js_error)?;
        let pending: Pending = Rc::default();
        let (loading, mut replies) = mpsc::unbounded::<Reply>();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
            let (pending, loading) = (Rc::clone(&pending), loading.clone());
            move |event: MessageEvent| {
                let reply =
                    event.data().as_string().and_then(|json| serde_json::from_str::<Reply>(&json).ok());
                match reply {
                    Some(Reply::Classified { id, categories, inference_ms }) => {
                        if let Some(waiting) = pending.borrow_mut().remove(&id) {
                            let _ = waiting.send(Ok((categories, inference_ms)));
                        }
                    }
                    Some(Reply::Error { id, message }) => {
                        if let Some(waiting) = pending.borrow_mut().remove(&id) {
                            let _ = waiting.send(Err(message));
                        }
                    }
                    Some(other) => {
                        let _ = loading.unbounded_send(other);
                    }
                    None => {}
                }
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new({
            let pending = Rc::clone(&pending);
            move |event: web_sys::ErrorEvent| {
                let message = format!("the model's worker failed: {}", event.message());
                for (_, waiting) in pending.borrow_mut().drain() {
                    let _ = waiting.send(Err(message.clone()));
                }
                let _ = loading.unbounded_send(Reply::Failed { message });
            }
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let classifier =
            Self { worker, pending, next_id: Cell::new(0), _on_message: on_message, _on_error: on_error };
        while let Some(reply) = replies.next().await {
            match reply {
                Reply::Started => {
                    let load =
                        Request::Load { candidates: candidates.clone(), labels_url: labels_url.clone() };
                    classifier.post(&load, None)?;
                }
                Reply::Progress { percent } => progress(percent),
                Reply::Ready(loaded) => return Ok((classifier, loaded)),
                Reply::Failed { message } => return Err(message),
                Reply::Classified { .. } | Reply::Error { .. } => {}
            }
        }
        Err("the model's worker stopped".into())
    }

    fn post(&self, request: &Request, bitmap: Option<ImageBitmap>) -> Result<(), String> {
        let json = JsValue::from(serde_json::to_string(request).map_err(|e| e.to_string())?);
        match bitmap {
            None => self.worker.post_message(&json),
            Some(bitmap) => self.worker.post_message_with_transfer(
                &js_sys::Array::of2(&json, &bitmap),
                &js_sys::Array::of1(&bitmap),
            ),
        }
        .map_err(js_error)
    }

    /// Classifies `bitmap` (handed over to the worker) and returns the `k` most probable
    /// classes that `filter` admits, best first, with the inference time.
    pub async fn classify(
        &self,
        bitmap: ImageBitmap,
        k: usize,
        filter: &CategoryFilter,
    ) -> Result<Classified, String> {
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        let (answer, answered) = oneshot::channel();
        self.pending.borrow_mut().insert(id, answer);
        if let Err(e) = self.post(&Request::Classify { id, k, filter: filter.clone() }, Some(bitmap)) {
            self.pending.borrow_mut().remove(&id);
            return Err(e);
        }
        answered.await.map_err(|_| "the model's worker stopped".to_owned())?
    }
}

/// The worker's side: answers the page's requests. Called by `/pkg/classifier-worker.js` once the
/// WebAssembly is loaded in the worker.
pub fn serve() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let model: Rc<Mutex<Option<WebClassifier>>> = Rc::default();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
        let scope = scope.clone();
        move |event: MessageEvent| {
            let (scope, model) = (scope.clone(), Rc::clone(&model));
            wasm_bindgen_futures::spawn_local(async move {
                let data = event.data();
                let (json, bitmap) = match data.dyn_ref::<js_sys::Array>() {
                    Some(parts) => (parts.get(0), parts.get(1).dyn_into::<ImageBitmap>().ok()),
                    None => (data, None),
                };
                let request = json.as_string().and_then(|json| serde_json::from_str::<Request>(&json).ok());
                let reply = match request {
                    Some(Request::Load { candidates, labels_url }) => {
                        match load(&scope, &candidates, &labels_url).await {
                            Ok((classifier, model_url)) => {
                                let loaded = Loaded {
                                    engine: classifier.engine(),
                                    model_url,
                                    threads: classifier.threads(),
                                };
                                *model.lock().await = Some(classifier);
                                Reply::Ready(loaded)
                            }
                            Err(message) => Reply::Failed { message },
                        }
                    }
                    Some(Request::Classify { id, k, filter }) => {
                        let mut model = model.lock().await;
                        let classified = match (model.as_mut(), bitmap) {
                            (Some(classifier), Some(bitmap)) => {
                                classify(&scope, classifier, bitmap, k, &filter).await
                            }
                            (None, _) => Err("the model is not loaded".into()),
                            (_, None) => Err("no image came with the request".into()),
                        };
                        match classified {
                            Ok((categories, inference_ms)) => {
                                Reply::Classified { id, categories, inference_ms }
                            }
                            Err(message) => Reply::Error { id, message },
                        }
                    }
                    None => return,
                };
                send(&scope, &reply);
            });
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    send(&scope, &Reply::Started);
}

fn send(scope: &DedicatedWorkerGlobalScope, reply: &Reply) {
    if let Ok(json) = serde_json::to_string(reply) {
        let _ = scope.post_message(&JsValue::from(json));
    }
}

/// Loads the first of `candidates` that loads, and returns it with its model's URL. An engine
/// that fails is reported on the console, then the next one is tried.
async fn load(
    scope: &DedicatedWorkerGlobalScope,
    candidates: &[Candidate],
    labels_url: &str,
) -> Result<(WebClassifier, String), String> {
    let labels = fetch_bytes(scope, labels_url, |_| {}).await?;
    let labels = Labels::from_json(&String::from_utf8_lossy(&labels)).map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    for Candidate { engine, model_url, runtime_url } in candidates {
        let loaded = async {
            let model =
                fetch_bytes(scope, model_url, |percent| send(scope, &Reply::Progress { percent })).await?;
            WebClassifier::load(*engine, runtime_url, &model, labels.clone()).await.map_err(|e| e.to_string())
        };
        match loaded.await {
            Ok(classifier) => return Ok((classifier, model_url.clone())),
            Err(why) => {
                let failure = format!("{} cannot run {model_url}: {why}", engine.name());
                web_sys::console::warn_1(&failure.as_str().into());
                failures.push(failure);
            }
        }
    }
    Err(if failures.is_empty() { "no model to load".to_owned() } else { failures.join("; ") })
}

async fn classify(
    scope: &DedicatedWorkerGlobalScope,
    classifier: &mut WebClassifier,
    bitmap: ImageBitmap,
    k: usize,
    filter: &CategoryFilter,
) -> Result<Classified, String> {
    let (width, height) = (bitmap.width(), bitmap.height());
    let canvas = OffscreenCanvas::new(width, height).map_err(js_error)?;
    let context: OffscreenCanvasRenderingContext2d =
        canvas.get_context("2d").map_err(js_error)?.ok_or("no 2D canvas in the worker")?.unchecked_into();
    context.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0).map_err(js_error)?;
    bitmap.close();
    let pixels =
        context.get_image_data(0.0, 0.0, f64::from(width), f64::from(height)).map_err(js_error)?.data().0;
    let frame = RgbaFrame::new(width, height, &pixels).map_err(|e| e.to_string())?;
    let now = || scope.performance().map_or(0.0, |p| p.now());
    let started = now();
    let categories = classifier.classify(&frame, k, filter).await.map_err(|e| e.to_string())?;
    Ok((categories, now() - started))
}

/// Downloads `url`, reporting whole percents as they arrive (when the size is known). A
/// compressed download's length is that of its compressed bytes, fewer than the bytes read, so the
/// percent stays below 100 until the end.
async fn fetch_bytes(
    scope: &DedicatedWorkerGlobalScope,
    url: &str,
    progress: impl Fn(u8),
) -> Result<Vec<u8>, String> {
    let failed = |what: &str| format!("cannot download {url}: {what}");
    let response: web_sys::Response = JsFuture::from(scope.fetch_with_str(url))
        .await
        .map_err(|_| failed("the network failed"))?
        .unchecked_into();
    if !response.ok() {
        return Err(failed(&format!("status {}", response.status())));
    }
    let total: Option<f64> =
        response.headers().get("content-length").ok().flatten().and_then(|length| length.parse().ok());
    let reader: web_sys::ReadableStreamDefaultReader =
        response.body().ok_or_else(|| failed("empty response"))?.get_reader().unchecked_into();
    let mut bytes = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|_| failed("the download broke off"))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).is_ok_and(|done| done.is_truthy());
        if done {
            return Ok(bytes);
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(|_| failed("unreadable chunk"))?;
        bytes.extend(js_sys::Uint8Array::new(&value).to_vec());
        if let Some(total) = total.filter(|total| *total > 0.0) {
            progress((bytes.len() as f64 / total * 100.0).min(99.0) as u8);
        }
    }
}
