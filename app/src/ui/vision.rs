//! Image classification in the page: the browser-side classifier, a photo picker that runs it,
//! and the ranked categories with their score bars.

use leptos::prelude::*;

use crate::protocol::Category;

/// Where the page's classifier stands.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Status {
    /// Downloading onnxruntime-web and the model.
    Loading,
    /// Ready for a photo.
    Ready,
    /// Working on a photo.
    Classifying,
    /// Loading or classifying failed.
    Failed(String),
}

impl Status {
    fn describe(&self) -> String {
        match self {
            Self::Loading => "Loading the image model…".into(),
            Self::Ready => "The model runs in your browser: photos never leave this page.".into(),
            Self::Classifying => "Classifying…".into(),
            Self::Failed(why) => format!("Classification failed: {why}"),
        }
    }
}

/// Pick a photo (or take one, on a phone) and see what the in-browser model recognises.
#[component]
pub fn PhotoClassifier() -> impl IntoView {
    let status = RwSignal::new(Status::Loading);
    let categories = RwSignal::new(Vec::<Category>::new());
    let preview = RwSignal::new(None::<String>);
    #[cfg(feature = "hydrate")]
    let classifier = browser::load(status);
    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let on_change = move |event: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        browser::classify_chosen(event, classifier, status, categories, preview);
    };
    view! {
        <section class="panel photo-classifier" aria-labelledby="photo-title">
            <h2 id="photo-title">"Classify a photo"</h2>
            <p class="muted" class:error=move || matches!(status.get(), Status::Failed(_)) data-status=move || {
                match status.get() {
                    Status::Loading => "loading",
                    Status::Ready => "ready",
                    Status::Classifying => "classifying",
                    Status::Failed(_) => "failed",
                }
            }>{move || status.get().describe()}</p>
            <label class="file-button">
                "Choose a photo"
                <input
                    type="file"
                    accept="image/*"
                    on:change=on_change
                    prop:disabled=move || matches!(status.get(), Status::Loading | Status::Classifying)
                />
            </label>
            <div class="photo-result">
                {move || preview.get().map(|src| view! { <img class="photo-preview" src=src alt="The chosen photo" /> })}
                <TopCategories categories=categories />
            </div>
        </section>
    }
}

/// The recognised categories, best first, each with a score bar.
#[component]
pub fn TopCategories(#[prop(into)] categories: Signal<Vec<Category>>) -> impl IntoView {
    view! {
        <ol class="top-categories" aria-label="Recognised">
            <For each=move || categories.get() key=|category| category.index let:category>
                <li data-index=category.index data-score=category.score>
                    <span class="category-name">{category.category_name.clone()}</span>
                    <span class="score-bar" aria-hidden="true">
                        <span style=format!("width: {:.1}%", category.score * 100.0)></span>
                    </span>
                    <span class="score">{format!("{:.0}%", category.score * 100.0)}</span>
                </li>
            </For>
        </ol>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement, HtmlInputElement};

    use super::Status;
    use crate::protocol::Category;
    use crate::vision::{
        BROWSER_MODELS_URL, IMAGE_LABELS_FILE, IMAGE_MODEL_FILE, Labels, RgbaFrame, WEB_RUNTIME_URL,
        WebClassifier,
    };

    /// Photos are drawn at most this large before the shared pre-processing crops and resizes them.
    const MAX_SIDE: u32 = 1024;
    /// How many categories are shown.
    const SHOWN: usize = 3;

    type Classifier = StoredValue<Option<WebClassifier>, LocalStorage>;

    /// Starts loading the classifier; `status` follows.
    pub fn load(status: RwSignal<Status>) -> Classifier {
        let classifier = StoredValue::new_local(None);
        leptos::task::spawn_local(async move {
            match load_classifier().await {
                Ok(loaded) => {
                    classifier.set_value(Some(loaded));
                    status.set(Status::Ready);
                }
                Err(e) => status.set(Status::Failed(e)),
            }
        });
        classifier
    }

    async fn load_classifier() -> Result<WebClassifier, String> {
        let origin = window().location().origin().map_err(|_| "the page has no origin".to_owned())?;
        let models = format!("{origin}{BROWSER_MODELS_URL}");
        let labels = gloo_net::http::Request::get(&format!("{models}/{IMAGE_LABELS_FILE}"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let labels = Labels::from_json(&labels).map_err(|e| e.to_string())?;
        WebClassifier::load(
            &format!("{origin}{WEB_RUNTIME_URL}/"),
            &format!("{models}/{IMAGE_MODEL_FILE}"),
            labels,
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// Classifies the file just chosen in the input that fired `event`.
    pub fn classify_chosen(
        event: leptos::ev::Event,
        classifier: Classifier,
        status: RwSignal<Status>,
        categories: RwSignal<Vec<Category>>,
        preview: RwSignal<Option<String>>,
    ) {
        let input: HtmlInputElement = event_target(&event);
        let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
        let Some(mut model) = classifier.try_update_value(Option::take).flatten() else { return };
        status.set(Status::Classifying);
        leptos::task::spawn_local(async move {
            let result = classify_file(&file, &mut model, preview).await;
            classifier.set_value(Some(model));
            match result {
                Ok(found) => {
                    categories.set(found);
                    status.set(Status::Ready);
                }
                Err(e) => status.set(Status::Failed(e)),
            }
        });
    }

    async fn classify_file(
        file: &web_sys::File,
        model: &mut WebClassifier,
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
        let scale = f64::from(MAX_SIDE) / f64::from(image.natural_width().max(image.natural_height()).max(1));
        let scale = scale.min(1.0);
        let width = ((f64::from(image.natural_width()) * scale).round() as u32).max(1);
        let height = ((f64::from(image.natural_height()) * scale).round() as u32).max(1);
        let canvas: HtmlCanvasElement = document().create_element("canvas").map_err(js)?.unchecked_into();
        canvas.set_width(width);
        canvas.set_height(height);
        let context: CanvasRenderingContext2d =
            canvas.get_context("2d").map_err(js)?.ok_or("the browser has no 2D canvas")?.unchecked_into();
        context
            .draw_image_with_html_image_element_and_dw_and_dh(
                &image,
                0.0,
                0.0,
                f64::from(width),
                f64::from(height),
            )
            .map_err(js)?;
        let pixels =
            context.get_image_data(0.0, 0.0, f64::from(width), f64::from(height)).map_err(js)?.data();
        let frame = RgbaFrame::new(width, height, &pixels).map_err(|e| e.to_string())?;
        model.classify(&frame, SHOWN).await.map_err(|e| e.to_string())
    }
}
