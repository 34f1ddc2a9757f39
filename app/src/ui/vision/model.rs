//! The image model in the page: loaded once per model URL, in a worker of its own (see
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
use super::worker::WorkerClassifier;
use crate::vision::WEB_RUNTIME_URL;

/// A loaded model, shared by the page's classifiers.
pub type SharedModel = Rc<Mutex<WorkerClassifier>>;

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
    let urls = (
        format!("{origin}{model_url}"),
        format!("{origin}{labels_url}"),
        format!("{origin}{WEB_RUNTIME_URL}/"),
    );
    let classifier =
        WorkerClassifier::start(urls, move |percent| status.set(ModelStatus::Loading(percent))).await?;
    Ok(Rc::new(Mutex::new(classifier)))
}
