//! The image model in the page: downloaded once per model URL with its progress shown, then
//! shared by every classifier on the page. One inference runs at a time; a video loop that
//! finds the model busy skips its frame instead of queueing it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures::FutureExt;
use futures::future::{LocalBoxFuture, Shared};
use futures::lock::Mutex;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::ModelStatus;
use crate::vision::{Labels, WEB_RUNTIME_URL, WebClassifier};

/// A loaded model, shared by the page's classifiers.
pub type SharedModel = Rc<Mutex<WebClassifier>>;

type Loading = Shared<LocalBoxFuture<'static, Result<SharedModel, String>>>;

thread_local! {
    static MODELS: RefCell<HashMap<String, (ArcRwSignal<ModelStatus>, Loading)>> = RefCell::default();
}

/// The model at `model_url` with the labels at `labels_url` (both paths on this site): its
/// status, which follows the download, and the model once loaded.
pub fn load(model_url: &str, labels_url: &str) -> (ArcRwSignal<ModelStatus>, Loading) {
    MODELS.with_borrow_mut(|models| {
        models
            .entry(model_url.to_owned())
            .or_insert_with(|| {
                let status = ArcRwSignal::new(ModelStatus::Loading(0));
                let loading = download(model_url.to_owned(), labels_url.to_owned(), status.clone())
                    .boxed_local()
                    .shared();
                leptos::task::spawn_local({
                    let (status, loading) = (status.clone(), loading.clone());
                    async move {
                        status.set(match loading.await {
                            Ok(_) => ModelStatus::Ready,
                            Err(why) => ModelStatus::Failed(why),
                        });
                    }
                });
                (status, loading)
            })
            .clone()
    })
}

async fn download(
    model_url: String,
    labels_url: String,
    status: ArcRwSignal<ModelStatus>,
) -> Result<SharedModel, String> {
    let origin = window().location().origin().map_err(|_| "the page has no origin".to_owned())?;
    let labels = fetch_bytes(&format!("{origin}{labels_url}"), |_| {}).await?;
    let labels = Labels::from_json(&String::from_utf8_lossy(&labels)).map_err(|e| e.to_string())?;
    let model = fetch_bytes(&format!("{origin}{model_url}"), |percent| {
        status.set(ModelStatus::Loading(percent));
    })
    .await?;
    let classifier = WebClassifier::load(&format!("{origin}{WEB_RUNTIME_URL}/"), &model, labels)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Rc::new(Mutex::new(classifier)))
}

/// Downloads `url`, reporting whole percents as they arrive (when the size is known). A
/// compressed download's length is that of its compressed bytes, fewer than the bytes read, so the
/// percent stays below 100 until the end.
async fn fetch_bytes(url: &str, progress: impl Fn(u8)) -> Result<Vec<u8>, String> {
    let failed = |what: &str| format!("cannot download {url}: {what}");
    let response: web_sys::Response = JsFuture::from(window().fetch_with_str(url))
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
