//! The image model in the page: loaded once per choice of models, in a worker of its own (see
//! [`super::worker`]), with its download's progress shown, then shared by every classifier on
//! the page. One inference runs at a time; a video loop that finds the model busy skips its frame
//! instead of queueing it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures::FutureExt;
use futures::future::{LocalBoxFuture, Shared};
use futures::lock::Mutex;
use leptos::prelude::*;

use super::ModelStatus;
use super::worker::{Candidate, Loaded, WorkerClassifier};
use crate::vision::BrowserEngine;

/// A loaded model in its worker.
pub struct PageModel {
    /// The model the worker loaded and the engine that runs it.
    pub loaded: Loaded,
    /// The worker, which runs one inference at a time.
    pub worker: Mutex<WorkerClassifier>,
}

/// A loaded model, shared by the page's classifiers.
pub type SharedModel = Rc<PageModel>;

type Loading = Shared<LocalBoxFuture<'static, Result<SharedModel, String>>>;

/// Models to try in order, each with the engine that runs it.
type Candidates = Vec<(BrowserEngine, String)>;

thread_local! {
    static MODELS: RefCell<HashMap<Candidates, (ArcRwSignal<ModelStatus>, Loading)>> = RefCell::default();
}

/// The models to try, in order: `model_url` (a path on this site) on the engine its extension
/// names; else the site's model on the engine the page's address asks for (`?engine=litert` or
/// `?engine=onnxruntime`), or on every engine, fastest first.
fn candidates(model_url: Option<String>) -> Candidates {
    if let Some(url) = model_url {
        return vec![(BrowserEngine::for_model(&url).unwrap_or(BrowserEngine::OnnxRuntime), url)];
    }
    let asked = window()
        .location()
        .search()
        .ok()
        .and_then(|query| web_sys::UrlSearchParams::new_with_str(&query).ok())
        .and_then(|params| params.get("engine"))
        .and_then(|key| BrowserEngine::from_key(&key));
    let engines = asked.map_or(BrowserEngine::FASTEST_FIRST.to_vec(), |engine| vec![engine]);
    engines.into_iter().map(|engine| (engine, engine.site_model())).collect()
}

/// The model at `model_url` (or the site's, see [`candidates`]) with the labels at `labels_url`
/// (paths on this site): its status, which follows the download, and the model once loaded.
pub fn load(model_url: Option<String>, labels_url: &str) -> (ArcRwSignal<ModelStatus>, Loading) {
    let candidates = candidates(model_url);
    MODELS.with_borrow_mut(|models| {
        models
            .entry(candidates.clone())
            .or_insert_with(|| {
                let status = ArcRwSignal::new(ModelStatus::Loading(0));
                let loading =
                    download(candidates, labels_url.to_owned(), status.clone()).boxed_local().shared();
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
    candidates: Candidates,
    labels_url: String,
    status: ArcRwSignal<ModelStatus>,
) -> Result<SharedModel, String> {
    let origin = window().location().origin().map_err(|_| "the page has no origin".to_owned())?;
    let candidates = candidates
        .into_iter()
        .map(|(engine, model_url)| Candidate {
            engine,
            model_url: format!("{origin}{model_url}"),
            runtime_url: format!("{origin}{}/", engine.runtime_url()),
        })
        .collect();
    let (worker, loaded) =
        WorkerClassifier::start(candidates, format!("{origin}{labels_url}"), move |percent| {
            status.set(ModelStatus::Loading(percent))
        })
        .await?;
    Ok(Rc::new(PageModel { loaded, worker: Mutex::new(worker) }))
}
