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

/// Which classes a camera reports: only those on the allowlist (when it is not empty), never
/// those on the denylist. An entry matches a class whose name equals it or contains it as a
/// whole word, ignoring case: `cat` matches "Egyptian cat" but not "catamaran".
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CategoryFilter {
    allow: Vec<String>,
    deny: Vec<String>,
}

impl CategoryFilter {
    /// A filter from comma-separated lists, as people type them.
    pub fn from_lists(allow: &str, deny: &str) -> Self {
        let entries = |list: &str| {
            list.split(',')
                .map(|entry| entry.trim().to_lowercase())
                .filter(|entry| !entry.is_empty())
                .collect()
        };
        Self { allow: entries(allow), deny: entries(deny) }
    }

    /// Whether class `index` of the image model, called `name`, is admitted: by its name, or by
    /// an entry that is a kind covering it ("dog" admits "golden retriever").
    pub fn admits_class(&self, index: i64, name: &str) -> bool {
        let name = name.to_lowercase();
        self.passes(|entry| {
            names(entry, &name)
                || kind_classes(entry.trim_end_matches('s')).iter().any(|c| c.contains(&index))
        })
    }

    /// Whether the class called `name` is reported.
    pub fn admits(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        self.passes(|entry| names(entry, &name))
    }

    /// Whether an entry that `matches` is allowed (or nothing is listed as allowed) and none
    /// that does is denied.
    fn passes(&self, matches: impl Fn(&String) -> bool) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(&matches)) && !self.deny.iter().any(&matches)
    }
}

/// Whether list entry `entry` names the class called `name` (both lower case): the same name, a
/// word of it, or a phrase in it.
fn names(entry: &str, name: &str) -> bool {
    name == entry
        || name.split(|c: char| !c.is_alphanumeric() && c != '-').any(|word| word == entry)
        || (entry.contains(' ') && name.contains(entry))
}

/// The image model's classes that an everyday word covers (ImageNet has no class called "cat"
/// or "dog", but five cat breeds and over a hundred dog breeds), by class index; none for a
/// word that is no such kind. `word` is lower case and singular.
pub fn kind_classes(word: &str) -> &'static [std::ops::RangeInclusive<i64>] {
    match word {
        "cat" => &[281..=285],
        "dog" => &[151..=268],
        "bird" => &[7..=24, 80..=100, 127..=146],
        "fox" => &[277..=280],
        "squirrel" => &[335..=336],
        "car" => &[
            436..=436,
            468..=468,
            511..=511,
            609..=609,
            627..=627,
            656..=656,
            717..=717,
            751..=751,
            817..=817,
        ],
        _ => &[],
    }
}

/// The `k` most probable classes that `filter` admits, best first, named from `labels`.
pub fn top_k(probabilities: &[f32], k: usize, labels: &Labels, filter: &CategoryFilter) -> Vec<Category> {
    let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
    ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
    ranked
        .into_iter()
        .filter_map(|(index, score)| {
            let name = labels.name(index).filter(|name| filter.admits(name))?;
            Some(Category {
                index: u32::try_from(index).ok()?,
                score,
                category_name: name.to_owned(),
                display_name: String::new(),
            })
        })
        .take(k)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_kind_admits_its_classes_by_index() {
        let dogs = CategoryFilter::from_lists("dog", "");
        assert!(dogs.admits_class(207, "golden retriever"), "a breed is a dog");
        assert!(!dogs.admits("golden retriever"), "by name alone it is not");
        assert!(!dogs.admits_class(281, "tabby"));
        let no_cats = CategoryFilter::from_lists("", "cats");
        assert!(!no_cats.admits_class(283, "Persian cat") && no_cats.admits_class(207, "golden retriever"));
    }

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
        let best = top_k(&[0.1, 0.6, 0.05, 0.25], 2, &labels, &CategoryFilter::default());
        let names: Vec<_> = best.iter().map(|c| (c.index, c.category_name.as_str())).collect();
        assert_eq!(names, [(1, "b"), (3, "d")]);
        assert_eq!(best[0].score, 0.6);
    }

    #[test]
    fn allow_and_deny_lists_match_whole_words() {
        let cats = CategoryFilter::from_lists(" Cat, tabby ", "");
        assert!(cats.admits("Egyptian cat") && cats.admits("tabby") && cats.admits("CAT"));
        assert!(!cats.admits("catamaran") && !cats.admits("golden retriever"));
        let no_tigers = CategoryFilter::from_lists("", "tiger cat");
        assert!(!no_tigers.admits("tiger cat") && no_tigers.admits("tiger") && no_tigers.admits("tabby"));
        let both = CategoryFilter::from_lists("cat", "persian cat");
        assert!(both.admits("Egyptian cat") && !both.admits("Persian cat"));
        assert!(CategoryFilter::from_lists(" , ", "").admits("anything"));
    }

    #[test]
    fn the_filter_applies_before_the_ranking_is_cut() {
        let labels = Labels::from_json(r#"["tabby", "tiger cat", "dog"]"#).unwrap();
        let filter = CategoryFilter::from_lists("", "cat, tabby");
        let best = top_k(&[0.5, 0.3, 0.2], 1, &labels, &filter);
        assert_eq!(best[0].category_name, "dog");
    }
}
