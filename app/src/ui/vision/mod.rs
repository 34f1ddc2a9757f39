//! Image classification in the page: the shared in-browser model, a photo classifier, the live
//! [`VideoClassifier`] with its camera controls, and the ranked categories with score bars.

mod camera;
#[cfg(feature = "hydrate")]
mod frames;
#[cfg(feature = "hydrate")]
mod model;
mod photo;
#[cfg(feature = "hydrate")]
mod sender;
mod video;
#[cfg(feature = "hydrate")]
mod worker;

pub use camera::CameraSource;
pub use photo::PhotoClassifier;
pub use video::VideoClassifier;
#[cfg(feature = "hydrate")]
pub use worker::serve as serve_classifier_worker;

use leptos::prelude::*;

use crate::protocol::Category;
use crate::vision::{BROWSER_MODELS_URL, IMAGE_LABELS_FILE};

/// Where the page's image model stands.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum ModelStatus {
    /// Downloading the model: this many percent so far.
    Loading(u8),
    /// Ready to classify.
    Ready,
    /// Loading failed.
    Failed(String),
}

/// The class names of the site's image model, as a path on this site.
fn default_labels_url() -> String {
    format!("{BROWSER_MODELS_URL}/{IMAGE_LABELS_FILE}")
}

/// The recognised categories, best first, each with a score bar.
#[component]
pub fn TopCategories(
    /// The categories to show, best first.
    #[prop(into)]
    categories: Signal<Vec<Category>>,
) -> impl IntoView {
    view! {
        <ol class="top-categories" aria-label="Recognised">
            <For each=move || categories.get() key=|category| (category.index, category.score.to_bits()) let:category>
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
