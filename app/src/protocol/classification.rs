use serde::{Deserialize, Serialize};

/// One class an image classifier recognised, with its confidence.
///
/// Field names follow the event shape of the original "AI Channels" classifier
/// (`{index, score, categoryName, displayName}`) so existing consumers keep working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Category {
    /// Index of the class in the model's label list (ImageNet: 0–999).
    pub index: u32,
    /// Probability in `[0, 1]`.
    pub score: f32,
    /// The label's canonical name, e.g. `"tabby cat"`.
    pub category_name: String,
    /// A name for display; empty when it equals `category_name`.
    pub display_name: String,
}
