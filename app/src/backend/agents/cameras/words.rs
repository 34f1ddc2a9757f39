//! How the camera assistant reads what the model passes on from the user's words — a time, a
//! camera, a kind of thing — and how it says numbers, times and lists.

use chrono::{DateTime, Local, NaiveDate, TimeDelta, Utc};

use crate::backend::events::LabelCount;
use crate::vision::{CategoryFilter, kind_classes};

/// A time the user names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// The last so many hours ("in the last hour", "the past 3 hours", "the last day").
    LastHours(u32),
    /// The last so many days ("this week", "the last 2 days").
    LastDays(u32),
    /// Since midnight.
    Today,
    /// Today before noon.
    ThisMorning,
    /// Today from noon to 18:00.
    ThisAfternoon,
    /// Today from 18:00.
    ThisEvening,
    /// From 18:00 yesterday to 06:00 today.
    LastNight,
    /// The whole of yesterday.
    Yesterday,
    /// Everything stored.
    AllTime,
}

/// `hour`:00 local time on `day`, in UTC.
fn local(day: NaiveDate, hour: u32) -> Option<DateTime<Utc>> {
    let time = day.and_hms_opt(hour, 0, 0)?.and_local_timezone(Local).earliest()?;
    Some(time.with_timezone(&Utc))
}

/// A number as a word or in digits: "3", "three", "a couple of".
fn number(word: &str) -> Option<u32> {
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    match word {
        "a" | "an" => Some(1),
        "couple" => Some(2),
        "few" => Some(3),
        word => word
            .parse()
            .ok()
            .or_else(|| WORDS.iter().position(|w| *w == word).and_then(|n| u32::try_from(n).ok())),
    }
}

impl Period {
    /// The time that `said` (the user's words for it) names; none when it names no time this
    /// understands. No words, or words like "ever" or "in total", are all the time stored.
    pub fn parse(said: &str) -> Option<Self> {
        match Self::find(said) {
            None if said.split(|c: char| !c.is_alphanumeric()).all(str::is_empty) => Some(Self::AllTime),
            found => found,
        }
    }

    /// The time that the words of `text` (a whole question, say) name, if they name one.
    pub fn find(text: &str) -> Option<Self> {
        let text = text.to_lowercase();
        let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let has = |word: &str| words.contains(&word);
        // "3 hours", "two days": the number before the unit.
        let counted = |units: &[&str]| {
            words
                .iter()
                .position(|w| units.contains(w))
                .map(|at| at.checked_sub(1).and_then(|n| number(words[n])).unwrap_or(1))
        };
        let period = if has("tonight") {
            Self::ThisEvening
        } else if has("night") || has("overnight") {
            Self::LastNight
        } else if has("yesterday") {
            Self::Yesterday
        } else if has("morning") {
            Self::ThisMorning
        } else if has("afternoon") {
            Self::ThisAfternoon
        } else if has("evening") {
            Self::ThisEvening
        } else if has("today") || has("midnight") {
            Self::Today
        } else if has("week") || has("weeks") {
            Self::LastDays(7 * counted(&["week", "weeks"]).unwrap_or(1))
        } else if let Some(hours) = counted(&["hour", "hours", "hr", "hrs"]) {
            Self::LastHours(hours.clamp(1, 24 * 31))
        } else if has("minutes") || has("minute") || has("mins") {
            Self::LastHours(1)
        } else if let Some(days) = counted(&["day", "days"]) {
            match days {
                1 => Self::LastHours(24),
                days => Self::LastDays(days.min(366)),
            }
        } else if has("recently") || has("lately") {
            Self::LastHours(24)
        } else if has("ever")
            || has("total")
            || has("always")
            || text.contains("so far")
            || text.contains("all time")
        {
            Self::AllTime
        } else {
            return None;
        };
        Some(period)
    }

    /// From when (inclusive) to when (exclusive) the period runs, seen at `now`; open ends are
    /// none.
    pub fn range(self, now: DateTime<Local>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let today = now.date_naive();
        let yesterday = today.pred_opt().unwrap_or(today);
        let ago = |delta: TimeDelta| Some((now - delta).with_timezone(&Utc));
        match self {
            Self::LastHours(hours) => (ago(TimeDelta::hours(i64::from(hours))), None),
            Self::LastDays(days) => (ago(TimeDelta::days(i64::from(days))), None),
            Self::Today => (local(today, 0), None),
            Self::ThisMorning => (local(today, 0), local(today, 12)),
            Self::ThisAfternoon => (local(today, 12), local(today, 18)),
            Self::ThisEvening => (local(today, 18), None),
            Self::LastNight => (local(yesterday, 18), local(today, 6)),
            Self::Yesterday => (local(yesterday, 0), local(today, 0)),
            Self::AllTime => (None, None),
        }
    }

    /// Its name in a tool's result (`last_hour`, `last_3_hours`, `today`, …) and the period in a
    /// sentence ("in the last hour", "today").
    fn names(self) -> (String, String) {
        let fixed = |name: &str, words: &str| (name.to_owned(), words.to_owned());
        match self {
            Self::LastHours(1) => fixed("last_hour", "in the last hour"),
            Self::LastHours(hours) => (format!("last_{hours}_hours"), format!("in the last {hours} hours")),
            Self::LastDays(days) => (format!("last_{days}_days"), format!("in the last {days} days")),
            Self::Today => fixed("today", "today"),
            Self::ThisMorning => fixed("this_morning", "this morning"),
            Self::ThisAfternoon => fixed("this_afternoon", "this afternoon"),
            Self::ThisEvening => fixed("this_evening", "this evening"),
            Self::LastNight => fixed("last_night", "last night"),
            Self::Yesterday => fixed("yesterday", "yesterday"),
            Self::AllTime => fixed("all_time", "since its events were kept"),
        }
    }

    /// The period in a sentence: "today", "in the last hour".
    pub fn words(self) -> String {
        self.names().1
    }

    /// Words that name it and that [`Period::parse`] reads back: "last 3 hours", "all time".
    pub fn phrase(self) -> String {
        self.name().replace('_', " ")
    }

    /// Its name in a tool's result: `last_hour`, `last_3_hours`, `last_7_days`, `today`, …
    pub fn name(self) -> String {
        self.names().0
    }
}

/// Lower case, without what people put around a name ("the", "camera").
fn plain(said: &str) -> String {
    let said = said.trim().trim_matches(|c: char| c.is_ascii_punctuation() && c != '-').to_lowercase();
    let said = ["the ", "my ", "a ", "an ", "any ", "some "]
        .iter()
        .fold(said, |said, article| said.strip_prefix(article).map(str::to_owned).unwrap_or(said));
    [" camera", " cam"]
        .iter()
        .fold(said, |said, word| said.strip_suffix(word).map(str::to_owned).unwrap_or(said))
}

/// Letters and digits only: "garden 2", "Garden-2" and "garden2" are the same camera.
fn squashed(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Which camera a question is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Camera {
    /// Every camera.
    All,
    /// One of the user's cameras, as it is named.
    Named(String),
    /// A name none of the user's cameras has.
    Unknown(String),
}

impl Camera {
    /// The camera `said` names among `known` ones: "all" (or "every", "any") is every camera;
    /// a name is matched ignoring case, spaces, hyphens and words like "the" or "camera", or as
    /// the one known name it contains ("front door" is `door`). With no known cameras, a name is
    /// taken as said.
    pub fn resolve(said: &str, known: &[String]) -> Self {
        let name = plain(said);
        let every = ["all", "every", "any", "cameras", "none", "*"];
        if name.is_empty() || name.split_whitespace().any(|word| every.contains(&word)) {
            return Self::All;
        }
        if known.is_empty() {
            return Self::Named(name);
        }
        let wanted = squashed(&name);
        if let Some(camera) = known.iter().find(|k| squashed(k) == wanted) {
            return Self::Named(camera.clone());
        }
        let within: Vec<&String> =
            known.iter().filter(|k| !squashed(k).is_empty() && wanted.contains(&squashed(k))).collect();
        match within.as_slice() {
            [camera] => Self::Named((*camera).clone()),
            _ => Self::Unknown(said.trim().to_owned()),
        }
    }

    /// The stream it is, unless every one is meant.
    pub fn stream(&self) -> Option<&str> {
        match self {
            Self::Named(name) | Self::Unknown(name) => Some(name),
            Self::All => None,
        }
    }

    /// Its name, or "all".
    pub fn name(&self) -> &str {
        self.stream().unwrap_or("all")
    }

    /// Whether events of `stream` are the camera's.
    pub fn covers(&self, stream: &str) -> bool {
        self.stream().is_none_or(|name| name == stream)
    }
}

/// One word as a thing's name, singular: "puppies" is "dog", "foxes" "fox", "people" "person".
pub fn singular(word: &str) -> String {
    let word = match word {
        "people" | "persons" | "humans" | "someone" | "somebody" | "anyone" | "anybody" => "person",
        "kitten" | "kittens" | "kitty" | "kitties" => "cat",
        "puppy" | "puppies" | "doggy" | "doggies" => "dog",
        "vehicle" | "vehicles" | "automobile" | "automobiles" => "car",
        other => other,
    };
    if let Some(stem) = word.strip_suffix("ies").filter(|stem| stem.len() > 1) {
        return format!("{stem}y");
    }
    for ending in ["xes", "ches", "shes", "sses"] {
        if let Some(stem) = word.strip_suffix(ending) {
            return format!("{stem}{}", &ending[..ending.len() - 2]);
        }
    }
    match word.strip_suffix('s').filter(|stem| !stem.ends_with('s') && stem.len() > 1) {
        Some(stem) => stem.to_owned(),
        None => word.to_owned(),
    }
}

/// What the user asks about: a class as the Camera page names it ("tabby", "golden retriever"),
/// or a kind that covers several ("cat", "dog", "bird").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    name: String,
}

impl Label {
    /// The thing `said` names, in the singular, without articles, and without what may follow
    /// the thing in a question ("dog shows up on cam1" is a dog).
    pub fn parse(said: &str) -> Self {
        const AFTER: [&str; 16] = [
            "on", "in", "at", "near", "by", "from", "shows", "show", "appears", "appear", "comes", "came",
            "is", "was", "were", "lands",
        ];
        let plain = plain(said);
        let mut words: Vec<&str> =
            plain.split_whitespace().take_while(|word| !AFTER.contains(word)).collect();
        if words.is_empty() {
            words = plain.split_whitespace().collect();
        }
        let last = words.pop().map(singular);
        let name = words.into_iter().map(str::to_owned).chain(last).collect::<Vec<_>>().join(" ");
        Self { name }
    }

    /// Its name, singular.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its name with "a" or "an".
    pub fn with_article(&self) -> String {
        let article = match self.name.chars().next() {
            Some('a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U') => "an",
            _ => "a",
        };
        format!("{article} {}", self.name)
    }

    /// Whether events of `count`'s class are of this thing: a kind's classes, or a class whose
    /// name is this one or contains it as a word (`cat` is "Persian cat"; a kind is only its
    /// classes: `fox` is not "fox squirrel").
    pub fn covers(&self, count: &LabelCount) -> bool {
        match kind_classes(&self.name) {
            [] => CategoryFilter::from_lists(&self.name, "").admits(&count.label),
            kind => kind.iter().any(|classes| classes.contains(&count.index)),
        }
    }
}

/// `text` with its first letter in upper case.
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Names joined as a sentence says them: "a, b and c".
pub fn list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "once", "7 times".
pub fn times(count: i64) -> String {
    match count {
        1 => "once".to_owned(),
        n => format!("{n} times"),
    }
}

/// A time as people say it, seen at `now`: "today at 14:05 (20 min ago)", "yesterday at 22:10
/// (16 h ago)", "on Mon 30 Nov at 09:00 (7 days ago)".
pub fn when(time: DateTime<Utc>, now: DateTime<Local>) -> String {
    let time = time.with_timezone(&Local);
    let minutes = (now - time).num_minutes();
    let ago = match minutes {
        ..1 => "just now".to_owned(),
        1..60 => format!("{minutes} min ago"),
        60..2880 => format!("{} h ago", minutes / 60),
        _ => format!("{} days ago", minutes / 1440),
    };
    let today = now.date_naive();
    let day = match time.date_naive() {
        day if day == today => "today".to_owned(),
        day if Some(day) == today.pred_opt() => "yesterday".to_owned(),
        _ => time.format("on %a %-d %b").to_string(),
    };
    format!("{day} at {} ({ago})", time.format("%H:%M"))
}

/// The one of `names` that shares the most words with `said` (singular, ignoring case and
/// little words), if one does more than the others.
pub fn best_match(said: &str, names: &[String]) -> Option<usize> {
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric() && c != '-')
            .map(|w| singular(&w.to_lowercase()))
            .filter(|w| !w.is_empty() && !matches!(w.as_str(), "on" | "the" | "a" | "rule" | "alert" | "any"))
            .collect()
    };
    let wanted = words(said);
    let scores: Vec<usize> =
        names.iter().map(|name| words(name).iter().filter(|w| wanted.contains(w)).count()).collect();
    let best = *scores.iter().max()?;
    let mut at_best = scores.iter().enumerate().filter(|(_, s)| **s == best);
    match (best, at_best.next(), at_best.next()) {
        (1.., Some((index, _)), None) => Some(index),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(index: i64, label: &str) -> LabelCount {
        LabelCount { stream: "door".into(), index, label: label.into(), count: 1, last: Utc::now() }
    }

    #[test]
    fn a_camera_is_found_however_it_is_written() {
        let known: Vec<String> = ["cam0", "door", "garden-2"].map(String::from).to_vec();
        let named = |name: &str| Camera::Named(name.into());
        assert_eq!(Camera::resolve("cam0", &known), named("cam0"));
        assert_eq!(Camera::resolve("the door camera", &known), named("door"));
        assert_eq!(Camera::resolve("Garden 2", &known), named("garden-2"));
        assert_eq!(Camera::resolve("front door", &known), named("door"));
        assert_eq!(Camera::resolve("all", &known), Camera::All);
        assert_eq!(Camera::resolve("All cameras", &known), Camera::All);
        assert_eq!(Camera::resolve("any of my cameras", &known), Camera::All);
        assert_eq!(Camera::resolve("cam2", &known), Camera::Unknown("cam2".into()));
        assert_eq!(Camera::resolve("cam2", &[]), named("cam2"), "a rule may name a camera not seen yet");
    }

    #[test]
    fn a_label_is_a_thing_in_the_singular_and_a_kind_covers_its_classes() {
        assert_eq!(Label::parse("Cats").name(), "cat");
        assert_eq!(Label::parse("a dog").name(), "dog");
        assert_eq!(Label::parse("golden retrievers").name(), "golden retriever");
        assert_eq!(Label::parse("foxes").name(), "fox");
        assert_eq!(Label::parse("puppies").name(), "dog");
        assert_eq!(Label::parse("people").name(), "person");
        assert_eq!(
            Label::parse("dog shows up on cam1").name(),
            "dog",
            "what follows the thing is not the thing"
        );
        assert_eq!(Label::parse("espresso").with_article(), "an espresso");
        let cat = Label::parse("cats");
        assert!(cat.covers(&count(281, "tabby")) && cat.covers(&count(283, "Persian cat")));
        assert!(!cat.covers(&count(207, "golden retriever")));
        let fox = Label::parse("fox");
        assert!(fox.covers(&count(277, "red fox")) && !fox.covers(&count(335, "fox squirrel")));
        assert!(Label::parse("Persian cats").covers(&count(283, "Persian cat")));
        assert!(!Label::parse("Persian cat").covers(&count(281, "tabby")));
    }

    #[test]
    fn a_time_is_read_from_the_user_s_words() {
        let read = |said: &str| Period::parse(said).map(Period::name);
        for (said, period) in [
            ("today", "today"),
            ("since midnight", "today"),
            ("in the past hour", "last_hour"),
            ("the last 3 hours", "last_3_hours"),
            ("in the last two hours", "last_2_hours"),
            ("over the last day", "last_24_hours"),
            ("in the last 24 hours", "last_24_hours"),
            ("this week", "last_7_days"),
            ("in the last 7 days", "last_7_days"),
            ("yesterday", "yesterday"),
            ("last night", "last_night"),
            ("overnight", "last_night"),
            ("this morning", "this_morning"),
            ("this afternoon", "this_afternoon"),
            ("", "all_time"),
            ("ever", "all_time"),
            ("in total", "all_time"),
        ] {
            assert_eq!(read(said).as_deref(), Some(period), "{said:?}");
        }
        assert_eq!(read("purple"), None);
        for period in [Period::LastHours(3), Period::LastDays(7), Period::ThisMorning, Period::AllTime] {
            assert_eq!(Period::parse(&period.phrase()), Some(period), "its phrase reads back");
        }
        let find = |text: &str| Period::find(text).map(Period::name);
        assert_eq!(
            find("Across all cameras, how many dogs in the last 7 days?").as_deref(),
            Some("last_7_days")
        );
        assert_eq!(find("How many cats did cam0 see?"), None, "no time said");
    }

    #[test]
    fn periods_run_between_local_times() {
        let now = Local::now();
        let (since, until) = Period::Yesterday.range(now);
        assert_eq!(until.unwrap() - since.unwrap(), TimeDelta::hours(24));
        assert_eq!(until, Period::Today.range(now).0);
        let (since, until) = Period::LastNight.range(now);
        assert_eq!(until.unwrap() - since.unwrap(), TimeDelta::hours(12));
        assert_eq!(Period::AllTime.range(now), (None, None));
    }

    #[test]
    fn numbers_times_and_rules_read_as_people_say_them() {
        assert_eq!((times(1), times(7)), ("once".to_owned(), "7 times".to_owned()));
        assert_eq!(list(&["a".into(), "b".into(), "c".into()]), "a, b and c");
        assert_eq!(sentence("today door saw: tabby once."), "Today door saw: tabby once.");
        let now = Local::now();
        let said = when((now - TimeDelta::minutes(20)).with_timezone(&Utc), now);
        assert!(said.ends_with("(20 min ago)"), "{said}");
        let rules: Vec<String> = ["dog on cam1", "cat on door", "car on driveway"].map(String::from).to_vec();
        assert_eq!(best_match("the dog alert on cam1", &rules), Some(0));
        assert_eq!(best_match("driveway car alerts", &rules), Some(2));
        assert_eq!(best_match("cats", &rules), Some(1));
        assert_eq!(best_match("bird", &rules), None);
    }
}
