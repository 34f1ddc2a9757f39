//! Holds the model's call to the user's words. The small model picks the tool and names the
//! thing well, but it drops a camera the question names, copies names from its examples, and
//! reads times loosely; what the words decide, code reads from them: the camera the question
//! names, the time it says, and, for a follow-up ("and yesterday?"), what it leaves unsaid from
//! the call before.

use serde_json::Value;

use super::words::{Period, singular};

/// Words that make a question one about every camera.
const EVERY: [&str; 6] = ["all", "every", "any", "cameras", "anywhere", "everywhere"];

/// How a follow-up starts.
const FOLLOW_UPS: [&str; 6] = ["and", "what about", "how about", "same", "also", "then"];

/// A question as code reads it.
#[derive(Debug)]
pub struct Question {
    text: String,
    /// Its words, lower case and singular.
    words: Vec<String>,
}

impl Question {
    /// Reads `text`.
    pub fn new(text: &str) -> Self {
        let text = text.to_lowercase();
        let words = split(&text).map(singular).collect();
        Self { text, words }
    }

    /// Whether it goes on from the question before, leaving out what does not change ("and on
    /// cam1?", "how many of those were cats?").
    pub fn follows_up(&self) -> bool {
        FOLLOW_UPS.iter().any(|start| self.text.trim_start().starts_with(start))
            || self.words.len() <= 3
            || self.words.iter().any(|word| matches!(word.as_str(), "those" | "them" | "these" | "there"))
    }

    /// The ones of `known` cameras it names ("garden 2" and "garden2" name `garden-2`).
    fn cameras<'k>(&self, known: &'k [String]) -> Vec<&'k String> {
        let squashed: String = self.words.join(" ");
        known
            .iter()
            .filter(|camera| {
                let name = camera.to_lowercase();
                let spaced = name.replace(['-', '_'], " ");
                self.has_phrase(&name)
                    || self.has_phrase(&spaced)
                    || squashed.split(' ').any(|w| w == name.replace(['-', '_'], ""))
            })
            .collect()
    }

    /// Whether `phrase` stands in it as whole words.
    fn has_phrase(&self, phrase: &str) -> bool {
        !phrase.is_empty()
            && self.text.match_indices(phrase).any(|(at, _)| {
                let before = self.text[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
                let after =
                    self.text[at + phrase.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
                before && after
            })
    }

    /// Whether it says one of the words of `said` that carry meaning.
    fn says(&self, said: &str) -> bool {
        split(&said.to_lowercase())
            .filter(|word| word.len() > 2 && !matches!(*word, "the" | "and" | "any" | "all"))
            .any(|word| self.words.contains(&singular(word)))
    }
}

/// The words of lower-case `text`.
fn split(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric() && c != '-').filter(|word| !word.is_empty())
}

/// Phrases that say which tool a question wants, by tool: a question whose phrases point to one
/// tool only is that tool's, whatever the model picked (it is swayed by the tools' names); one
/// whose phrases point to none or to several is left to the model.
const CUES: [(&str, &[&str]); 9] = [
    (
        "which_cameras",
        &[
            "which camera",
            "which cameras",
            "what cameras",
            "list my cameras",
            "list the cameras",
            "how many cameras",
            "cameras do i have",
            "cameras are there",
            "cameras are set up",
            "cameras are sending",
        ],
    ),
    (
        "alert_me_when",
        &[
            "tell me when",
            "tell me if",
            "let me know",
            "alert me",
            "notify me",
            "warn me",
            "ping me",
            "message me",
            "an alert for",
            "an alert when",
            "an alert if",
            "a rule for",
            "a rule when",
            "whenever",
        ],
    ),
    (
        "pause_alert",
        &[
            "pause",
            "mute",
            "stop the",
            "stop alerts",
            "stop notifications",
            "turn off",
            "switch off",
            "disable",
            "silence",
        ],
    ),
    (
        "resume_alert",
        &[
            "resume",
            "unpause",
            "unmute",
            "back on",
            "turn on",
            "switch on",
            "re-enable",
            "enable the",
            "reactivate",
        ],
    ),
    (
        "recent_alerts",
        &[
            "alerts fired",
            "alerts went",
            "alerts go off",
            "any alerts",
            "my alerts",
            "latest alerts",
            "recent alerts",
            "alert go off",
            "alerts today",
            "triggered",
            "notifications",
            "went off",
            "fired",
        ],
    ),
    ("how_many", &["how many", "how often", "count", "number of", "how much", "times did", "times was"]),
    (
        "last_seen",
        &[
            "when did",
            "when was",
            "when's the last",
            "last time",
            "last seen",
            "last sighting",
            "last saw",
            "most recent sighting",
            "what time did",
        ],
    ),
    (
        "what_happened",
        &[
            "what happened",
            "what did",
            "what was",
            "what's been",
            "what has",
            "anything",
            "activity",
            "going on",
            "summary",
            "summarize",
            "summarise",
            "what went on",
        ],
    ),
    (
        "small_talk",
        &[
            "hello",
            "hi",
            "hey",
            "good morning",
            "good evening",
            "good afternoon",
            "thanks",
            "thank you",
            "cheers",
        ],
    ),
];

/// The tool the question's phrases point to, when they point to one only (a more specific cue
/// wins over the ones it contains: "tell me when" over "when did" is not needed, as it is not
/// contained; "how many cameras" over "how many" is).
pub fn cued_tool(question: &Question) -> Option<&'static str> {
    let text = question.text.trim();
    let cued: Vec<(&str, &str)> = CUES
        .iter()
        .flat_map(|(tool, phrases)| {
            phrases.iter().filter(|p| question.has_phrase(p)).map(move |p| (*tool, *p))
        })
        .collect();
    // A cue that stands inside a longer one of another tool is that one's ("how many" inside
    // "how many cameras").
    let standing: Vec<&str> = cued
        .iter()
        .filter(|(tool, phrase)| {
            !cued.iter().any(|(other, longer)| {
                other != tool && longer.len() > phrase.len() && longer.contains(phrase)
            })
        })
        .map(|(tool, _)| *tool)
        .collect();
    let mut tools = standing.clone();
    tools.sort_unstable();
    tools.dedup();
    match tools.as_slice() {
        // Small talk only when that is all the message is ("hi, how many cats…" is a question).
        ["small_talk"] if text.split_whitespace().count() > 6 => None,
        [one] => Some(one),
        // Making or changing an alert is what a message about alerts asks.
        several => match several {
            [changing, "recent_alerts"] | ["recent_alerts", changing]
                if ["alert_me_when", "pause_alert", "resume_alert"].contains(changing) =>
            {
                Some(changing)
            }
            _ => None,
        },
    }
}

/// The arguments of a call of `tool` made from what the model wrote for another: the thing and
/// the camera carry over (a rule is named by them).
pub fn reshape(tool: &str, arguments: &Value, question: &Question) -> Value {
    let field = |key: &str| arguments.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (label, camera) = (field("label"), field("camera"));
    let camera = if camera.is_empty() { "all".to_owned() } else { camera };
    match tool {
        "how_many" => serde_json::json!({"label": label, "camera": camera, "when": ""}),
        "last_seen" | "alert_me_when" => serde_json::json!({"label": label, "camera": camera}),
        "what_happened" => serde_json::json!({"camera": camera, "when": ""}),
        "pause_alert" | "resume_alert" => {
            let rule = match field("rule") {
                rule if !rule.is_empty() => rule,
                _ => question.text.clone(),
            };
            serde_json::json!({"rule": rule})
        }
        "small_talk" => {
            let thanks = question.has_phrase("thanks")
                || question.has_phrase("thank")
                || question.has_phrase("cheers");
            serde_json::json!({"about": if thanks { "thanks" } else { "greeting" }})
        }
        _ => serde_json::json!({}),
    }
}

/// Whether the question names the thing `arguments` ask about (its `label`), as a word of its
/// own or, for a follow-up, by leaving it to the call before.
pub fn names_the_thing(arguments: &Value, question: &Question, known: &[String]) -> bool {
    let label = arguments.get("label").and_then(Value::as_str).unwrap_or_default();
    question.follows_up() || is_a_thing(label, question, known)
}

/// Whether `label` is a thing the question says: not a time, and not a camera once the words
/// around a camera's name are left out ("on cam0", "door camera" are places, not things).
fn is_a_thing(label: &str, question: &Question, known: &[String]) -> bool {
    let label = label.to_lowercase();
    let rest: Vec<&str> = split(&label)
        .filter(|word| !known.iter().any(|camera| camera.eq_ignore_ascii_case(word)))
        .filter(|word| !matches!(*word, "on" | "in" | "at" | "the" | "camera" | "cam" | "of"))
        .collect();
    !rest.is_empty() && question.says(&rest.join(" ")) && Period::find(&label).is_none()
}

/// Settles the arguments of a call the model made for `question` by the question's words:
/// `camera` is the one camera of `known` the question names, else what the model wrote when the
/// question says it, else the camera of the `previous` call for a follow-up, else every camera;
/// `when` is the question's own words for a time, else the previous call's for a follow-up, else
/// none; `label` is the previous call's for a follow-up that names no thing the model wrote (or
/// whose "thing" is a time or a camera).
pub fn settle(arguments: &mut Value, question: &Question, previous: Option<&Value>, known: &[String]) {
    let Some(fields) = arguments.as_object_mut() else { return };
    let earlier = |key: &str| previous.and_then(|p| p.get(key)).and_then(Value::as_str).map(str::to_owned);
    let follow_up = question.follows_up();
    if let Some(camera) = fields.get("camera").and_then(Value::as_str).map(str::to_owned) {
        let settled = match question.cameras(known).as_slice() {
            [one] => (*one).clone(),
            [_, _, ..] => camera,
            [] if question.has_phrase(&camera.to_lowercase()) => camera,
            [] if question.words.iter().any(|w| EVERY.contains(&w.as_str())) => "all".to_owned(),
            [] => earlier("camera").filter(|_| follow_up).unwrap_or_else(|| "all".to_owned()),
        };
        fields.insert("camera".into(), Value::String(settled));
    }
    if fields.contains_key("when") {
        let settled = match Period::find(&question.text) {
            Some(period) => period.phrase(),
            None => earlier("when").filter(|_| follow_up).unwrap_or_default(),
        };
        fields.insert("when".into(), Value::String(settled));
    }
    // A camera's name is not part of the thing ("bird garden-2" is a bird).
    if let Some(label) = fields.get("label").and_then(Value::as_str).map(str::to_owned) {
        let lower = label.to_lowercase();
        let rest: Vec<&str> = split(&lower)
            .filter(|word| !known.iter().any(|camera| camera.eq_ignore_ascii_case(word)))
            .collect();
        if !rest.is_empty() && rest.len() < split(&lower).count() {
            fields.insert("label".into(), Value::String(rest.join(" ")));
        }
    }
    // A "thing" that is a time or a camera is the model mistaking the follow-up's other word.
    if let Some(label) = fields.get("label").and_then(Value::as_str).map(str::to_owned)
        && follow_up
        && !is_a_thing(&label, question, known)
        && let Some(before) = earlier("label")
    {
        fields.insert("label".into(), Value::String(before));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settled(question: &str, arguments: Value, previous: Option<Value>) -> Value {
        let known: Vec<String> = ["cam0", "cam1", "door", "garden-2"].map(String::from).to_vec();
        let mut arguments = arguments;
        settle(&mut arguments, &Question::new(question), previous.as_ref(), &known);
        arguments
    }

    #[test]
    fn a_camera_the_question_names_is_never_dropped_and_one_it_does_not_is_not_made_up() {
        let call = |camera: &str| json!({"label": "cat", "camera": camera, "when": ""});
        let at_door = settled("How many cats were at the door yesterday?", call("all"), None);
        assert_eq!(at_door, json!({"label": "cat", "camera": "door", "when": "yesterday"}));
        assert_eq!(settled("any cats in garden 2?", call("all"), None)["camera"], "garden-2");
        assert_eq!(settled("Hi there", call("porch"), None)["camera"], "all", "a name from the examples");
        assert_eq!(
            settled("cats on cam2 today?", call("cam2"), None)["camera"],
            "cam2",
            "a camera not seen yet"
        );
        assert_eq!(settled("How many cats did all my cameras see?", call("cam0"), None)["camera"], "all");
        let bird = json!({"label": "bird garden-2", "camera": "garden-2"});
        assert_eq!(
            settled("the last bird garden-2 saw", bird, None)["label"],
            "bird",
            "a camera is not the thing"
        );
    }

    #[test]
    fn a_question_s_phrases_point_to_its_tool_when_they_point_to_one() {
        let cued = |text: &str| cued_tool(&Question::new(text));
        assert_eq!(cued("How many cats did cam0 see today?"), Some("how_many"));
        assert_eq!(cued("How many cameras do I have?"), Some("which_cameras"), "the longer cue wins");
        assert_eq!(cued("Let me know when a dog shows up"), Some("alert_me_when"));
        assert_eq!(cued("When did the door last see a cat?"), Some("last_seen"));
        assert_eq!(cued("Pause the dog alerts"), Some("pause_alert"));
        assert_eq!(cued("hi!"), Some("small_talk"));
        assert_eq!(cued("Is the garden camera pointed at the pond?"), None, "no cue: the model decides");
    }

    #[test]
    fn a_thing_is_named_only_by_the_user_s_words() {
        let known: Vec<String> = ["cam0", "door"].map(String::from).to_vec();
        let names = |question: &str, label: &str| {
            names_the_thing(&json!({"label": label, "camera": "all"}), &Question::new(question), &known)
        };
        assert!(names("How many foxes did my cameras see?", "fox"));
        assert!(!names("What was on the door camera yesterday?", "raccoon"), "a thing from the examples");
        assert!(!names("What was seen on cam0 last night?", "cam0"), "a camera is not a thing");
        assert!(names("and cats?", "cat"));
    }

    #[test]
    fn a_follow_up_keeps_what_it_does_not_change() {
        let before = json!({"label": "dog", "camera": "cam1", "when": "this morning"});
        let now =
            settled("And cats?", json!({"label": "cats", "camera": "all", "when": ""}), Some(before.clone()));
        assert_eq!(now, json!({"label": "cats", "camera": "cam1", "when": "this morning"}));
        let later = settled(
            "and yesterday?",
            json!({"label": "yesterday", "camera": "all", "when": ""}),
            Some(before),
        );
        assert_eq!(later, json!({"label": "dog", "camera": "cam1", "when": "yesterday"}));
        let fresh = settled(
            "How many foxes did my cameras see?",
            json!({"label": "fox", "camera": "cam1", "when": "today"}),
            None,
        );
        assert_eq!(
            fresh,
            json!({"label": "fox", "camera": "all", "when": ""}),
            "no time said is all the time"
        );
    }
}
