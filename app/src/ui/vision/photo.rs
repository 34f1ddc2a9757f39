//! Classify one photo in the browser.

use leptos::prelude::*;

use super::{ModelStatus, TopCategories};
use crate::protocol::Category;

/// Pick a photo (or take one, on a phone) and see what the in-browser model recognises.
#[component]
pub fn PhotoClassifier() -> impl IntoView {
    let status = RwSignal::new(ModelStatus::Loading(0));
    let busy = RwSignal::new(false);
    let failure = RwSignal::new(None::<String>);
    let categories = RwSignal::new(Vec::<Category>::new());
    let preview = RwSignal::new(None::<String>);
    #[cfg(feature = "hydrate")]
    let model = browser::follow_model(status);
    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let on_change = move |event: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        browser::classify_chosen(event, model, busy, failure, categories, preview);
    };
    let describe = move || match (status.get(), busy.get(), failure.get()) {
        (_, _, Some(why)) => format!("Classification failed: {why}"),
        (ModelStatus::Failed(why), ..) => format!("The image model failed to load: {why}"),
        (ModelStatus::Loading(percent), ..) => format!("Loading the image model ({percent}%)…"),
        (ModelStatus::Ready, true, _) => "Classifying…".into(),
        (ModelStatus::Ready, false, _) => {
            "The model runs in your browser: photos never leave this page.".into()
        }
    };
    let state = move || match (status.get(), busy.get(), failure.get().is_some()) {
        (_, _, true) | (ModelStatus::Failed(_), ..) => "failed",
        (ModelStatus::Loading(_), ..) => "loading",
        (ModelStatus::Ready, true, _) => "classifying",
        (ModelStatus::Ready, false, _) => "ready",
    };
    view! {
        <section class="panel photo-classifier" aria-labelledby="photo-title">
            <h2 id="photo-title">"Classify a photo"</h2>
            <p class="muted" class:error=move || state() == "failed" data-status=state>{describe}</p>
            <label class="file-button">
                "Choose a photo"
                <input
                    type="file"
                    accept="image/*"
                    on:change=on_change
                    prop:disabled=move || status.get() != ModelStatus::Ready || busy.get()
                />
            </label>
            <div class="photo-result">
                {move || preview.get().map(|src| view! { <img class="photo-preview" src=src alt="The chosen photo" /> })}
                <TopCategories categories=categories />
            </div>
        </section>
    }
    .into_any()
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use web_sys::{HtmlImageElement, HtmlInputElement};

    use super::super::frames::Source;
    use super::super::model::{self, SharedModel};
    use super::super::{ModelStatus, default_labels_url};
    use crate::protocol::Category;
    use crate::vision::CategoryFilter;

    /// How many categories are shown.
    const SHOWN: usize = 3;
    /// Photos are drawn at most this large before the shared pre-processing crops and resizes them.
    const MAX_SIDE: u32 = 1024;

    type Loaded = StoredValue<Option<SharedModel>, LocalStorage>;

    /// Starts (or joins) loading the site's model; `status` follows it.
    pub fn follow_model(status: RwSignal<ModelStatus>) -> Loaded {
        let (progress, loading) = model::load(None, &default_labels_url());
        Effect::new(move || status.set(progress.get()));
        let loaded = StoredValue::new_local(None);
        leptos::task::spawn_local(async move {
            if let Ok(model) = loading.await {
                loaded.set_value(Some(model));
            }
        });
        loaded
    }

    /// Classifies the file just chosen in the input that fired `event`.
    pub fn classify_chosen(
        event: leptos::ev::Event,
        model: Loaded,
        busy: RwSignal<bool>,
        failure: RwSignal<Option<String>>,
        categories: RwSignal<Vec<Category>>,
        preview: RwSignal<Option<String>>,
    ) {
        let input: HtmlInputElement = event_target(&event);
        let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
        let Some(model) = model.get_value() else { return };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = classify_file(&file, &model, preview).await;
            busy.set(false);
            match result {
                Ok(found) => {
                    categories.set(found);
                    failure.set(None);
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    }

    async fn classify_file(
        file: &web_sys::File,
        model: &SharedModel,
        preview: RwSignal<Option<String>>,
    ) -> Result<Vec<Category>, String> {
        let js = |e: wasm_bindgen::JsValue| format!("{e:?}");
        let url = web_sys::Url::create_object_url_with_blob(file).map_err(js)?;
        if let Some(old) = preview.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&old);
        }
        preview.set(Some(url.clone()));
        let image = HtmlImageElement::new().map_err(js)?;
        image.set_src(&url);
        wasm_bindgen_futures::JsFuture::from(image.decode())
            .await
            .map_err(|_| "this is not an image".to_owned())?;
        let bitmap = Source::Image(&image).bitmap(MAX_SIDE).await?.ok_or("the image is empty")?;
        let model = model.worker.lock().await;
        Ok(model.classify(bitmap, SHOWN, &CategoryFilter::default()).await?.0)
    }
}
