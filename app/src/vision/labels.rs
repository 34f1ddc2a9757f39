use super::VisionError;
use crate::protocol::Category;

/// The model's class names, indexed by output position.
#[derive(Clone, Debug)]
pub struct Labels(Vec<String>);

impl Labels {
    /// Parses a JSON array of class names (the set-up writes `models/imagenet_labels.json`).
    pub fn from_json(json: &str) -> Result<Self, VisionError> {
        let names: Vec<String> =
            serde_json::from_str(json).map_err(|e| VisionError::Labels(e.to_string()))?;
        if names.is_empty() {
            return Err(VisionError::Labels("the list is empty".into()));
        }
        Ok(Self(names))
    }

    /// How many classes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a label list has at least one name.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name of class `index`, if there is one.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.0.get(index).map(String::as_str)
    }
}

/// The `k` most probable classes, best first, named from `labels`.
pub fn top_k(probabilities: &[f32], k: usize, labels: &Labels) -> Vec<Category> {
    let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
    ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
    ranked
        .into_iter()
        .take(k)
        .filter_map(|(index, score)| {
            Some(Category {
                index: u32::try_from(index).ok()?,
                score,
                category_name: labels.name(index)?.to_owned(),
                display_name: String::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_rejects_other_json() {
        let labels = Labels::from_json(r#"["tench", "goldfish"]"#).unwrap();
        assert_eq!(labels.len(), 2);
        assert_eq!(labels.name(1), Some("goldfish"));
        assert!(Labels::from_json(r#"{"0": "tench"}"#).is_err());
        assert!(Labels::from_json("[]").is_err());
    }

    #[test]
    fn ranks_the_best_classes_first() {
        let labels = Labels::from_json(r#"["a", "b", "c", "d"]"#).unwrap();
        let best = top_k(&[0.1, 0.6, 0.05, 0.25], 2, &labels);
        let names: Vec<_> = best.iter().map(|c| (c.index, c.category_name.as_str())).collect();
        assert_eq!(names, [(1, "b"), (3, "d")]);
        assert_eq!(best[0].score, 0.6);
    }
}
