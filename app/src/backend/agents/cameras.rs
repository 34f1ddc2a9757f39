//! The built-in `cameras` agent: answers what the user's cameras saw. The model's only job is
//! to read the question: it picks one of the tools and its arguments, greedily and bound to the
//! tools' schemas. The tools look the facts up in the user's own events, alerts and rules, and
//! each returns the sentence that states them, which is the answer: every number, time, camera
//! and label the user reads comes from the data, never from the model. The user's id comes from
//! the session's context, never from the model.

mod reading;
mod words;

use chrono::{Local, TimeDelta};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use self::reading::{Question, cued_tool, names_the_thing, reshape, settle};
use self::words::{Camera, Label, Period, list, times, when};
use super::{Agent, AgentError, Answer, NoArgs, Output, Tool, ToolCall, ToolError, Turn, UserMessage};
use crate::backend::chat::providers::Turn as ModelTurn;
use crate::backend::events::{EventStore, LabelCount, Rules};
use crate::protocol::{RuleDraft, UserId, UserInfo, WidgetData};

/// What the assistant is told before the conversation: the same for every session, so what the
/// model computes for it is shared. The examples use names no user's data is expected to have,
/// so that the model copies the user's words, not theirs.
const INSTRUCTIONS: &str = r#"You read questions about the user's security cameras and call the one tool that answers them. Copy the user's own words into the arguments:
- label: the thing seen, one to three words, e.g. "raccoon", "red car";
- camera: the camera the question names, e.g. "porch", "cam7"; "all" when it names none or asks about every camera.
A follow-up such as "and on the porch?" repeats the last call with only that changed.

Examples:
how many raccoons did porch see yesterday? -> how_many {"label": "raccoon", "camera": "porch"}
number of deer on cam7 in the past 2 hours -> how_many {"label": "deer", "camera": "cam7"}
did any camera see a bicycle this week, how many? -> how_many {"label": "bicycle", "camera": "all"}
when was a raccoon last on the porch? -> last_seen {"label": "raccoon", "camera": "porch"}
last time a deer was seen? -> last_seen {"label": "deer", "camera": "all"}
what happened on cam7 this afternoon? -> what_happened {"camera": "cam7"}
anything in the backyard overnight? -> what_happened {"camera": "backyard"}
what did the garage see today? -> what_happened {"camera": "garage"}
which cameras are there? -> which_cameras {}
which camera saw something last? -> which_cameras {}
did any alerts go off? -> recent_alerts {}
let me know when a deer shows up in the backyard -> alert_me_when {"label": "deer", "camera": "backyard"}
alert me whenever a bicycle is seen -> alert_me_when {"label": "bicycle", "camera": "all"}
ping me if a raccoon comes to the porch -> alert_me_when {"label": "raccoon", "camera": "porch"}
pause the raccoon on porch alert -> pause_alert {"rule": "raccoon on porch"}
stop the deer alerts -> pause_alert {"rule": "deer"}
turn the deer rule back on -> resume_alert {"rule": "deer"}
hello -> small_talk {"about": "greeting"}
good evening -> small_talk {"about": "greeting"}
thanks a lot -> small_talk {"about": "thanks"}
what is the capital of Peru? -> small_talk {"about": "other"}
tell me a joke -> small_talk {"about": "other"}"#;

/// The pseudo-tool for messages that need no data: never shown as a call.
const NO_DATA: &str = "small_talk";

/// The assistant's context: whose cameras it answers about.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct CameraContext {
    /// The session owner's id.
    pub user_id: i64,
}

/// Answers from the user's camera events.
#[derive(Clone, Debug)]
pub struct CameraAssistant {
    tools: Vec<Tool>,
    events: EventStore,
}

impl CameraAssistant {
    /// The assistant over `events` and `rules`.
    pub fn new(events: EventStore, rules: Rules) -> Self {
        let store = events.clone();
        let tools = vec![
            Tool::over(
                events.clone(),
                "how_many",
                "Counts how many times a camera saw something: \"how many\", \"how often\", \"count\", \"number of\".",
                count_events,
            ),
            Tool::over(
                events.clone(),
                "last_seen",
                "When a camera last saw something, with its picture: \"when did … last\", \"last time\", \"has … ever \
                 seen\".",
                last_seen,
            ),
            Tool::over(
                events.clone(),
                "what_happened",
                "Everything a camera saw over a time: \"what did … see\", \"what happened\", \"anything\", \"activity\".",
                what_was_seen,
            ),
            Tool::over(
                events.clone(),
                "which_cameras",
                "Lists the user's cameras and which was active last: \"which cameras\", \"how many cameras\".",
                list_cameras,
            ),
            Tool::over(
                rules.clone(),
                "recent_alerts",
                "The alerts the user's rules fired so far: \"alerts\", \"notifications\", \"did my rules trigger\".",
                recent_alerts,
            ),
            Tool::over(
                rules.clone(),
                "alert_me_when",
                "Creates an alert rule for the future: \"tell me when\", \"let me know\", \"alert me\", \"notify me\", \
                 \"warn me\".",
                create_rule,
            )
            .needs_approval(rule_summary),
            Tool::over(
                rules.clone(),
                "pause_alert",
                "Pauses an alert rule: \"pause\", \"stop\", \"mute\", \"turn off\" an alert.",
                pause_rule,
            )
            .needs_approval(pause_summary),
            Tool::over(
                rules,
                "resume_alert",
                "Turns a paused alert rule back on: \"resume\", \"turn back on\", \"unmute\" an alert.",
                resume_rule,
            )
            .needs_approval(resume_summary),
            Tool::new(
                NO_DATA,
                "Greetings, thanks, and anything not about the cameras (weather, news, poems).",
                small_talk,
            ),
        ];
        Self { tools: tools.into_iter().map(Tool::with_context::<CameraContext>).collect(), events: store }
    }
}

impl Agent for CameraAssistant {
    type Context = CameraContext;
    type Args = NoArgs;

    fn name(&self) -> &str {
        "Camera assistant"
    }

    fn description(&self) -> &str {
        "Answers what your cameras saw: counts, latest sightings with pictures, what happened, \
         alerts; sets up and pauses alert rules with your approval."
    }

    fn create_context(&self, visitor: &UserInfo, _args: NoArgs) -> Result<CameraContext, AgentError> {
        Ok(CameraContext { user_id: visitor.id.0 })
    }

    async fn respond(
        &self,
        message: &UserMessage,
        context: &mut CameraContext,
        turn: &mut Turn,
    ) -> Result<Answer, AgentError> {
        let model = turn
            .model(message)
            .instructions(INSTRUCTIONS)
            .tools(&self.tools, context)
            .require_tool()
            .history(briefly(turn.history()));
        let mut calls = model.choose().await?;
        if calls.is_empty() {
            return Ok(Reply::Other.text().into());
        }
        let question = Question::new(&message.text);
        let previous = previous_call(turn);
        let known = cameras_of(&self.events, context.user_id).await.map_err(|e| AgentError::Failed(e.0))?;
        for call in &mut calls {
            // The question's phrases decide the tool when they point to one; a follow-up without
            // any, that looks something up as the call before did, asks what that one asked, with
            // what it changes.
            let looked_up = |tool: &str| matches!(tool, "how_many" | "last_seen" | "what_happened");
            let follow_on = previous
                .as_ref()
                .filter(|p| question.follows_up() && looked_up(&call.name) && looked_up(&p.name))
                .map(|p| p.name.as_str());
            if let Some(tool) = cued_tool(&question).or(follow_on).filter(|tool| *tool != call.name) {
                call.arguments = reshape(tool, &call.arguments, &question);
                call.name = tool.to_owned();
            }
            // A count or a last sighting of a thing the user never named is a question about
            // what happened (the model reaches for a thing from its examples).
            if matches!(call.name.as_str(), "how_many" | "last_seen")
                && !names_the_thing(&call.arguments, &question, &known)
            {
                let camera = call.arguments.get("camera").cloned().unwrap_or_else(|| json!("all"));
                call.name = "what_happened".into();
                call.arguments = json!({"camera": camera});
            }
            // The time is read from the question, not asked of the model.
            if let (Some(fields), true) =
                (call.arguments.as_object_mut(), matches!(call.name.as_str(), "how_many" | "what_happened"))
            {
                fields.entry("when").or_insert_with(|| json!(""));
            }
            settle(&mut call.arguments, &question, previous.as_ref().map(|p| &p.arguments), &known);
        }
        let mut answers = Vec::new();
        for call in &calls {
            let answer = match call.name.as_str() {
                NO_DATA => Reply::of(call).text().to_owned(),
                _ => {
                    let (ok, result) = model.execute(call).await?;
                    answer_of(call, ok, &result)
                }
            };
            if !answers.contains(&answer) {
                answers.push(answer);
            }
        }
        Ok(answers.join("\n\n").into())
    }
}

/// The conversation as the model reads it before the next question: each question and the
/// answer it got, which states what the tools found, without the calls and results behind it.
/// That is what a follow-up needs of it (code reads the call before from the session itself),
/// and the model reads only the last answer and the new question: the question before was read
/// already, at the end of the previous prompt.
fn briefly(history: &[ModelTurn]) -> Vec<ModelTurn> {
    history
        .iter()
        .filter(|earlier| match earlier {
            ModelTurn::User(_) => true,
            ModelTurn::Assistant { text, tool_calls } => tool_calls.is_empty() && !text.is_empty(),
            ModelTurn::ToolResult { .. } => false,
        })
        .cloned()
        .collect()
}

/// The last call this session's replies made, if any.
fn previous_call(turn: &Turn) -> Option<ToolCall> {
    turn.history().iter().rev().find_map(|earlier| match earlier {
        ModelTurn::Assistant { tool_calls, .. } => tool_calls.first().cloned(),
        _ => None,
    })
}

/// What the user reads for a call's outcome: the sentence its tool wrote, or what went wrong.
fn answer_of(call: &ToolCall, ok: bool, result: &Value) -> String {
    match (ok, result["answer"].as_str(), result["error"].as_str()) {
        (true, Some(answer), _) => answer.to_owned(),
        (false, _, Some("the user did not allow this")) => match call.name.as_str() {
            "alert_me_when" => "OK, I did not create the rule.".to_owned(),
            _ => "OK, I left the rule as it was.".to_owned(),
        },
        (_, _, Some(error)) => format!("I could not look that up: {error}."),
        _ => "I could not look that up.".to_owned(),
    }
}

/// A reply that needs no data.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Reply {
    /// Hello.
    Greeting,
    /// Thank you.
    Thanks,
    /// Anything else that is not about the cameras.
    Other,
}

impl Reply {
    fn of(call: &ToolCall) -> Self {
        serde_json::from_value::<ReplyArgs>(call.arguments.clone()).map_or(Self::Other, |args| args.about)
    }

    fn text(self) -> &'static str {
        match self {
            Self::Greeting => {
                "Hello! Ask me what your cameras saw: how many times a camera saw something, when it last \
                 did, or what happened over a morning or a day. I can also alert you when something shows up."
            }
            Self::Thanks => "You're welcome!",
            Self::Other => {
                "Sorry, I can only help with your cameras: what they saw and when, and alerts when something \
                 shows up."
            }
        }
    }
}

#[derive(Deserialize, JsonSchema)]
struct ReplyArgs {
    /// What the message is.
    about: Reply,
}

/// A greeting, thanks or a refusal: no data, no card.
async fn small_talk(args: ReplyArgs, _: Output) -> Result<Value, ToolError> {
    Ok(json!({"answer": args.about.text()}))
}

fn owner(user_id: i64) -> UserId {
    UserId(user_id)
}

/// The user's cameras, most recently active first.
async fn cameras_of(events: &EventStore, user_id: i64) -> Result<Vec<String>, ToolError> {
    Ok(events.streams(owner(user_id)).await?.into_iter().map(|(stream, _, _)| stream).collect())
}

/// The camera the model names, read against the user's cameras; when it names none of them,
/// `Err` with the result that says so and lists them, beside `facts` (what else the question
/// asked, as read).
async fn camera(
    events: &EventStore,
    user_id: i64,
    said: &str,
    facts: Value,
) -> Result<Result<Camera, Value>, ToolError> {
    let known = cameras_of(events, user_id).await?;
    let name = match Camera::resolve(said, &known) {
        Camera::Unknown(name) => name,
        camera => return Ok(Ok(camera)),
    };
    let answer = match known.as_slice() {
        [] => format!("No camera has sent events yet, so there is none called “{name}”."),
        known => format!("You have no camera called “{name}”. Your cameras are {}.", list(known)),
    };
    let mut result =
        json!({"summary": format!("No camera “{name}”"), "camera": name, "cameras": known, "answer": answer});
    if let (Some(result), Value::Object(facts)) = (result.as_object_mut(), facts) {
        result.extend(facts);
    }
    Ok(Err(result))
}

#[derive(Deserialize, JsonSchema)]
struct CountEvents {
    /// The thing seen.
    #[schemars(length(min = 1, max = 40))]
    label: String,
    /// The camera named, or "all".
    #[schemars(length(min = 1, max = 64))]
    camera: String,
    /// When, in the question's words ("" for none). Read from the question itself (see
    /// `reading::settle`), so not asked of the model.
    #[serde(default)]
    #[schemars(skip)]
    when: String,
    user_id: i64,
}

/// The time the user's words name, or an error that says which words this does not read.
fn period(when: &str) -> Result<Period, ToolError> {
    Period::parse(when).ok_or_else(|| ToolError::new(format!("I do not know which time “{when}” means")))
}

async fn count_events(events: EventStore, args: CountEvents, _: Output) -> Result<Value, ToolError> {
    let (label, period) = (Label::parse(&args.label), period(&args.when)?);
    let asked = json!({"label": label.name(), "period": period.name()});
    let camera = match camera(&events, args.user_id, &args.camera, asked).await? {
        Ok(camera) => camera,
        Err(no_such_camera) => return Ok(no_such_camera),
    };
    let (since, until) = period.range(Local::now());
    let counts = events.label_counts(owner(args.user_id), since, until).await?;
    let seen: Vec<&LabelCount> =
        counts.iter().filter(|c| camera.covers(&c.stream) && label.covers(c)).collect();
    let count: i64 = seen.iter().map(|c| c.count).sum();
    let (what, words) = (label.with_article(), period.words());
    let answer = match (&camera, count) {
        (Camera::Named(name), 0) => format!("{name} saw no {} {words}.", label.name()),
        (Camera::Named(name), _) => {
            format!("{name} saw {what} {} {words}{}.", times(count), breakdown(&seen, |c| &c.label, &label))
        }
        (_, 0) => format!("None of your cameras saw {what} {words}."),
        _ => format!(
            "Your cameras saw {what} {} {words}{}.",
            times(count),
            breakdown(&seen, |c| &c.stream, &label)
        ),
    };
    let summary = format!("Counted “{}” on {} {words}: {count}", label.name(), camera.name());
    Ok(json!({
        "summary": summary,
        "camera": camera.name(), "label": label.name(), "period": period.name(), "count": count,
        "by_camera": totals(&seen, |c| &c.stream).into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "by_label": totals(&seen, |c| &c.label).into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "answer": answer,
    }))
}

/// The counts of `seen` added up by `key` (camera or class).
fn totals<'a>(seen: &[&'a LabelCount], key: impl Fn(&'a LabelCount) -> &'a str) -> Vec<(&'a str, i64)> {
    let mut totals: Vec<(&str, i64)> = Vec::new();
    for count in seen {
        match totals.iter_mut().find(|(name, _)| *name == key(count)) {
            Some((_, total)) => *total += count.count,
            None => totals.push((key(count), count.count)),
        }
    }
    totals
}

/// " (cam0 7, door 5)" — the counts by `key` (camera or class), when there is more than the one
/// the question named.
fn breakdown<'a>(seen: &[&'a LabelCount], key: impl Fn(&'a LabelCount) -> &'a str, label: &Label) -> String {
    match totals(seen, key).as_slice() {
        [(name, _)] if name.eq_ignore_ascii_case(label.name()) => String::new(),
        totals => {
            let parts: Vec<String> = totals.iter().map(|(name, n)| format!("{name} {n}")).collect();
            format!(" ({})", parts.join(", "))
        }
    }
}

#[derive(Deserialize, JsonSchema)]
struct LastSeen {
    /// The thing seen.
    #[schemars(length(min = 1, max = 40))]
    label: String,
    /// The camera named, or "all".
    #[schemars(length(min = 1, max = 64))]
    camera: String,
    user_id: i64,
}

async fn last_seen(events: EventStore, args: LastSeen, output: Output) -> Result<Value, ToolError> {
    let label = Label::parse(&args.label);
    let camera = match camera(&events, args.user_id, &args.camera, json!({"label": label.name()})).await? {
        Ok(camera) => camera,
        Err(no_such_camera) => return Ok(no_such_camera),
    };
    let counts = events.label_counts(owner(args.user_id), None, None).await?;
    let classes: Vec<String> = counts
        .iter()
        .filter(|c| camera.covers(&c.stream) && label.covers(c))
        .map(|c| c.label.clone())
        .collect();
    let found = events.latest_with_labels(owner(args.user_id), &classes, camera.stream(), 3).await?;
    let now = Local::now();
    for event in found.iter().filter(|e| e.has_thumbnail) {
        output.show(WidgetData::Image {
            url: format!("/api/events/{}/thumbnail", event.id),
            caption: format!("{} on {}, {}", event.top_label, event.stream, when(event.received_at, now)),
        });
    }
    let what = label.with_article();
    let answer = match (found.first(), &camera) {
        (None, Camera::Named(name)) => format!("{name} has not seen {what}."),
        (None, _) => format!("None of your cameras has seen {what}."),
        (Some(last), camera) => {
            let kind = match last.top_label.eq_ignore_ascii_case(label.name()) {
                true => String::new(),
                false => format!(": {}", Label::parse(&last.top_label).with_article()),
            };
            let at = when(last.received_at, now);
            match camera {
                Camera::Named(name) => format!("{name} last saw {what} {at}{kind}."),
                _ => format!("The last {} was on {}, {at}{kind}.", label.name(), last.stream),
            }
        }
    };
    let sightings: Vec<Value> = found
        .iter()
        .map(|e| json!({"camera": e.stream, "label": e.top_label, "when": when(e.received_at, now)}))
        .collect();
    let summary = match found.first() {
        Some(last) => {
            format!("Last “{}” on {}: {}", label.name(), camera.name(), when(last.received_at, now))
        }
        None => format!("Last “{}” on {}: never", label.name(), camera.name()),
    };
    Ok(json!({
        "summary": summary, "camera": camera.name(), "label": label.name(), "sightings": sightings, "answer": answer,
    }))
}

#[derive(Deserialize, JsonSchema)]
struct Owner {
    user_id: i64,
}

async fn list_cameras(events: EventStore, args: Owner, _: Output) -> Result<Value, ToolError> {
    let streams = events.streams(owner(args.user_id)).await?;
    let now = Local::now();
    let names: Vec<String> = streams.iter().map(|(stream, _, _)| stream.clone()).collect();
    let answer = match streams.first() {
        None => "No camera has sent events yet.".to_owned(),
        Some((latest, _, at)) => {
            let count = match names.len() {
                1 => "1 camera".to_owned(),
                n => format!("{n} cameras"),
            };
            format!(
                "You have {count}: {}. The latest event came from {latest}, {}.",
                list(&names),
                when(*at, now)
            )
        }
    };
    let cameras: Vec<Value> = streams
        .iter()
        .map(|(stream, events, last)| json!({"camera": stream, "events": events, "last_event": when(*last, now)}))
        .collect();
    Ok(json!({"summary": format!("Your cameras: {}", cameras.len()), "cameras": cameras, "answer": answer}))
}

#[derive(Deserialize, JsonSchema)]
struct WhatWasSeen {
    /// The camera named, or "all".
    #[schemars(length(min = 1, max = 64))]
    camera: String,
    /// When, in the question's words ("" for none). Read from the question itself (see
    /// `reading::settle`), so not asked of the model.
    #[serde(default)]
    #[schemars(skip)]
    when: String,
    user_id: i64,
}

/// Most kinds of things an answer names; the rest are counted together.
const MOST_NAMED: usize = 8;

/// One kind of thing seen: how many times, and on which cameras how many.
struct Kind<'a> {
    label: &'a str,
    total: i64,
    on: Vec<(&'a str, i64)>,
}

async fn what_was_seen(events: EventStore, args: WhatWasSeen, output: Output) -> Result<Value, ToolError> {
    let period = period(&args.when)?;
    let camera = match camera(&events, args.user_id, &args.camera, json!({"period": period.name()})).await? {
        Ok(camera) => camera,
        Err(no_such_camera) => return Ok(no_such_camera),
    };
    let (since, until) = period.range(Local::now());
    let counts = events.label_counts(owner(args.user_id), since, until).await?;
    let mut kinds: Vec<Kind> = Vec::new();
    for count in counts.iter().filter(|c| camera.covers(&c.stream)) {
        match kinds.iter_mut().find(|kind| kind.label == count.label) {
            Some(kind) => {
                kind.total += count.count;
                kind.on.push((&count.stream, count.count));
            }
            None => kinds.push(Kind {
                label: &count.label,
                total: count.count,
                on: vec![(&count.stream, count.count)],
            }),
        }
    }
    kinds.sort_by_key(|kind| std::cmp::Reverse(kind.total));
    let items: Vec<String> = kinds
        .iter()
        .take(MOST_NAMED)
        .map(|kind| match camera {
            Camera::Named(_) => format!("{} {}", kind.label, times(kind.total)),
            _ => {
                let cameras: Vec<String> =
                    kind.on.iter().map(|(stream, n)| format!("{stream} {n}")).collect();
                format!("{} {} ({})", kind.label, times(kind.total), cameras.join(", "))
            }
        })
        .collect();
    let others = kinds.len().saturating_sub(MOST_NAMED);
    let more = match others {
        0 => String::new(),
        n => format!(", and {n} other kinds of things"),
    };
    let subject = match &camera {
        Camera::Named(name) => name.as_str(),
        _ => "your cameras",
    };
    let words = period.words();
    let answer = match items.is_empty() {
        true => words::sentence(&format!("{subject} saw nothing {words}.")),
        false => words::sentence(&format!("{words} {subject} saw: {}{more}.", items.join(", "))),
    };
    if camera.stream().is_none()
        && matches!(period, Period::Today | Period::LastHours(24))
        && !items.is_empty()
    {
        let activity = events.activity(owner(args.user_id), 24, TimeDelta::hours(1), 5).await?;
        output.show(WidgetData::Chart { title: "The last 24 hours".into(), activity });
    }
    let seen: Vec<Value> = kinds
        .iter()
        .map(|kind| {
            let on: Vec<Value> =
                kind.on.iter().map(|(stream, n)| json!({"camera": stream, "count": n})).collect();
            json!({"label": kind.label, "count": kind.total, "cameras": on})
        })
        .collect();
    let summary = format!("What {} saw {words}: {} kinds of things", camera.name(), kinds.len());
    Ok(json!({
        "summary": summary, "camera": camera.name(), "period": period.name(), "seen": seen, "others": others,
        "answer": answer,
    }))
}

async fn recent_alerts(rules: Rules, args: Owner, _: Output) -> Result<Value, ToolError> {
    let alerts = rules.alerts(owner(args.user_id)).await?;
    let now = Local::now();
    let latest: Vec<Value> = alerts
        .iter()
        .take(5)
        .map(|a| json!({"rule": a.rule_name, "camera": a.stream, "label": a.label, "when": when(a.fired_at, now)}))
        .collect();
    let said: Vec<String> = alerts
        .iter()
        .take(5)
        .map(|a| format!("“{}” ({} on {}) {}", a.rule_name, a.label, a.stream, when(a.fired_at, now)))
        .collect();
    let answer = match said.as_slice() {
        [] => "No alert has fired yet.".to_owned(),
        [one] => format!("Your latest alert: {one}."),
        said => format!("Your latest alerts: {}.", said.join("; ")),
    };
    Ok(json!({"summary": format!("Latest alerts: {}", latest.len()), "alerts": latest, "answer": answer}))
}

#[derive(Deserialize, JsonSchema)]
struct CreateRule {
    /// The thing to watch for.
    #[schemars(length(min = 1, max = 40))]
    label: String,
    /// The camera named, or "all".
    #[schemars(length(min = 1, max = 64))]
    camera: String,
    user_id: i64,
}

fn rule_summary(arguments: &Value) -> String {
    let label = Label::parse(arguments["label"].as_str().unwrap_or("?"));
    match Camera::resolve(arguments["camera"].as_str().unwrap_or("all"), &[]) {
        Camera::All => format!("Create a rule: alert when any camera sees {}", label.with_article()),
        camera => format!("Create a rule: alert when {} sees {}", camera.name(), label.with_article()),
    }
}

async fn create_rule(rules: Rules, args: CreateRule, _: Output) -> Result<Value, ToolError> {
    let label = Label::parse(&args.label);
    let stream = match Camera::resolve(&args.camera, &[]) {
        Camera::All => None,
        camera => Some(camera.name().to_owned()),
    };
    let name = match &stream {
        Some(stream) => format!("{} on {stream}", label.name()),
        None => format!("{} on any camera", label.name()),
    };
    let draft = RuleDraft {
        name: name.chars().take(64).collect(),
        labels: label.name().to_owned(),
        min_score: 0.5,
        stream: stream.clone(),
        cooldown_secs: 300,
        stays_secs: 0,
        webhook_url: None,
    };
    let rule = rules.save(owner(args.user_id), None, draft).await?;
    let place = stream.as_deref().unwrap_or("all");
    let answer = format!(
        "Done: you will be alerted when {} sees {} (rule “{}”).",
        stream.as_deref().unwrap_or("any camera"),
        label.with_article(),
        rule.rule.name
    );
    let summary = format!("Created the rule “{}”", rule.rule.name);
    Ok(json!({
        "summary": summary, "created": rule.rule.name, "rule_id": rule.id, "label": label.name(), "camera": place,
        "answer": answer,
    }))
}

#[derive(Deserialize, JsonSchema)]
struct RuleNamed {
    /// The rule, in the user's words.
    #[schemars(length(min = 1, max = 64))]
    rule: String,
    user_id: i64,
}

fn pause_summary(arguments: &Value) -> String {
    format!("Pause the rule “{}”", arguments["rule"].as_str().unwrap_or("?"))
}

fn resume_summary(arguments: &Value) -> String {
    format!("Resume the rule “{}”", arguments["rule"].as_str().unwrap_or("?"))
}

async fn pause_rule(rules: Rules, args: RuleNamed, _: Output) -> Result<Value, ToolError> {
    set_paused(rules, args, true).await
}

async fn resume_rule(rules: Rules, args: RuleNamed, _: Output) -> Result<Value, ToolError> {
    set_paused(rules, args, false).await
}

/// Pauses or resumes the user's rule that the words of `args` name best.
async fn set_paused(rules: Rules, args: RuleNamed, paused: bool) -> Result<Value, ToolError> {
    let all = rules.list(owner(args.user_id)).await?;
    let names: Vec<String> = all.iter().map(|r| r.rule.name.clone()).collect();
    let best = words::best_match(&args.rule, &names).ok_or_else(|| {
        let listed: Vec<String> = names.iter().map(|n| format!("“{n}”")).collect();
        ToolError::new(match listed.as_slice() {
            [] => "you have no alert rules".to_owned(),
            listed => format!("you have no rule like “{}”; your rules are {}", args.rule, list(listed)),
        })
    })?;
    let rule = &all[best];
    rules.set_paused(owner(args.user_id), rule.id, paused).await?;
    let (done, answer) = match paused {
        true => (
            "Paused",
            format!("Paused the rule “{}”: it will not alert you until you resume it.", rule.rule.name),
        ),
        false => ("Resumed", format!("Resumed the rule “{}”: it alerts you again.", rule.rule.name)),
    };
    let summary = format!("{done} the rule “{}”", rule.rule.name);
    Ok(json!({"summary": summary, "rule": rule.rule.name, "paused": paused, "answer": answer}))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    #[test]
    fn a_call_s_outcome_is_its_tool_s_sentence_or_says_what_went_wrong() {
        let call = |name: &str| ToolCall { id: "c".into(), name: name.into(), arguments: json!({}) };
        let counted = json!({"count": 7, "answer": "cam0 saw a cat 7 times today."});
        assert_eq!(answer_of(&call("how_many"), true, &counted), "cam0 saw a cat 7 times today.");
        let denied = json!({"error": "the user did not allow this"});
        assert_eq!(answer_of(&call("alert_me_when"), false, &denied), "OK, I did not create the rule.");
        assert_eq!(answer_of(&call("pause_alert"), false, &denied), "OK, I left the rule as it was.");
        let failed = json!({"error": "I do not know which time “purple” means"});
        assert_eq!(
            answer_of(&call("how_many"), false, &failed),
            "I could not look that up: I do not know which time “purple” means."
        );
    }

    #[test]
    fn a_breakdown_names_what_the_question_did_not() {
        let count = |stream: &str, label: &str, count| LabelCount {
            stream: stream.into(),
            index: 281,
            label: label.into(),
            count,
            last: Utc::now(),
        };
        let (tabby, persian) = (count("door", "tabby", 3), count("door", "Persian cat", 2));
        let cat = Label::parse("cats");
        assert_eq!(breakdown(&[&tabby, &persian], |c| &c.label, &cat), " (tabby 3, Persian cat 2)");
        assert_eq!(breakdown(&[&tabby], |c| &c.label, &Label::parse("tabby")), "", "nothing more to say");
        let other = count("cam0", "tabby", 4);
        assert_eq!(breakdown(&[&tabby, &other], |c| &c.stream, &cat), " (door 3, cam0 4)");
    }
}
