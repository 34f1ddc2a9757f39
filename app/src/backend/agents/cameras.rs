//! The built-in `cameras` agent: answers questions about what the user's cameras saw, with
//! tools over the user's own events, alerts and rules. The user's id comes from the session's
//! context, never from the model.

use chrono::{DateTime, Local, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Agent, AgentError, Answer, NoArgs, Output, Tool, ToolError, Turn, UserMessage};
use crate::backend::events::{EventStore, Rules};
use crate::protocol::{RuleDraft, UserId, UserInfo, WidgetData};
use crate::vision::CategoryFilter;

/// What the assistant is told before the conversation.
const INSTRUCTIONS: &str = "You answer questions about what the user's cameras saw, using the tools. \
Cameras are streams named like cam0. What a camera saw is a label such as cat, dog or car. \
Call a tool to look things up, then answer in one or two sentences with the numbers and times the tools gave.";

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
}

impl CameraAssistant {
    /// The assistant over `events` and `rules`.
    pub fn new(events: EventStore, rules: Rules) -> Self {
        let tools = vec![
            Tool::over(
                events.clone(),
                "count_events",
                "How many times a camera saw something, e.g. how many cats cam0 saw today.",
                count_events,
            ),
            Tool::over(
                events.clone(),
                "latest_sightings",
                "When a camera last saw something, with pictures, e.g. when cam0 last saw a cat.",
                latest_sightings,
            ),
            Tool::over(
                events.clone(),
                "list_streams",
                "The user's cameras, with how many events each sent and when it last did.",
                list_streams,
            ),
            Tool::over(
                events,
                "activity_per_hour",
                "What the cameras saw per hour, shown as a chart, e.g. the activity of the last 24 hours.",
                activity_per_hour,
            ),
            Tool::over(rules.clone(), "recent_alerts", "The latest alerts the user's rules fired.", recent_alerts),
            Tool::over(
                rules.clone(),
                "tell_me_when_seen",
                "From now on, alerts the user when a camera sees something: for requests like \"tell me when a \
                 dog shows up on cam1\" or \"let me know when a cat appears\". Creates an alert rule.",
                create_rule,
            )
            .needs_approval(rule_summary),
            Tool::over(rules, "pause_rule", "Pauses or resumes one of the user's alert rules, by name.", pause_rule)
                .needs_approval(pause_summary),
        ];
        Self { tools: tools.into_iter().map(Tool::with_context::<CameraContext>).collect() }
    }
}

impl Agent for CameraAssistant {
    type Context = CameraContext;
    type Args = NoArgs;

    fn name(&self) -> &str {
        "Camera assistant"
    }

    fn description(&self) -> &str {
        "Answers what your cameras saw: counts, latest sightings with pictures, activity per hour, \
         alerts; sets up alert rules with your approval."
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
        turn.model(message)
            .instructions(INSTRUCTIONS)
            .tools(&self.tools, context)
            .require_tool()
            .run()
            .await?;
        Ok(Answer::Streamed)
    }
}

/// A time range the model names.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Period {
    /// The last 60 minutes.
    LastHour,
    /// Since midnight.
    Today,
    /// The last 24 hours.
    #[default]
    Last24Hours,
    /// The last 7 days.
    Last7Days,
    /// Everything stored.
    AllTime,
}

impl Period {
    fn since(self) -> Option<DateTime<Utc>> {
        let now = Utc::now();
        match self {
            Self::LastHour => Some(now - TimeDelta::hours(1)),
            Self::Today => Local::now()
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .and_then(|midnight| midnight.and_local_timezone(Local).earliest())
                .map(|midnight| midnight.with_timezone(&Utc)),
            Self::Last24Hours => Some(now - TimeDelta::hours(24)),
            Self::Last7Days => Some(now - TimeDelta::days(7)),
            Self::AllTime => None,
        }
    }
}

fn owner(user_id: i64) -> UserId {
    UserId(user_id)
}

/// A time as people read it, with how long ago it was.
fn when(time: DateTime<Utc>) -> String {
    let minutes = (Utc::now() - time).num_minutes();
    let ago = match minutes {
        ..1 => "just now".to_owned(),
        1..60 => format!("{minutes} min ago"),
        _ => format!("{} h ago", minutes / 60),
    };
    format!("{} ({ago})", time.with_timezone(&Local).format("%Y-%m-%d %H:%M"))
}

/// The image model's classes that an everyday word covers (ImageNet has no class called "cat"
/// or "dog", but five cat breeds and over a hundred dog breeds), by class index.
fn classes_of(word: &str) -> &'static [std::ops::RangeInclusive<i64>] {
    let word = word.trim().to_lowercase();
    match word.trim_end_matches('s') {
        "cat" | "kitten" => &[281..=285],
        "dog" | "puppy" | "puppie" => &[151..=268],
        "bird" => &[7..=24, 80..=100, 127..=146],
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

/// The stored classes (name and count) that `label` names: by name as on the Camera page
/// (`tabby` names "tabby"), or as a kind (`cat` names "tabby" and "Egyptian cat").
async fn matching_labels(
    events: &EventStore,
    user_id: i64,
    label: &str,
    stream: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<(String, i64)>, ToolError> {
    let (filter, kind) = (CategoryFilter::from_lists(label, ""), classes_of(label));
    let counts = events.label_counts(owner(user_id), stream, since).await?;
    Ok(counts
        .into_iter()
        .filter(|(index, name, _)| filter.admits(name) || kind.iter().any(|range| range.contains(index)))
        .map(|(_, name, count)| (name, count))
        .collect())
}

/// What a question is about: a label, on a camera or any.
#[derive(Deserialize, JsonSchema)]
struct Seen {
    /// What was seen, e.g. "cat".
    #[schemars(length(min = 1, max = 40))]
    label: String,
    /// The camera, e.g. "cam0"; every camera when absent.
    #[serde(default)]
    #[schemars(length(max = 64))]
    stream: Option<String>,
}

impl Seen {
    /// The camera, unless every camera is meant.
    fn stream(&self) -> Option<&str> {
        self.stream.as_deref().filter(|s| !s.is_empty())
    }
}

#[derive(Deserialize, JsonSchema)]
struct CountEvents {
    #[serde(flatten)]
    seen: Seen,
    /// Over which time.
    #[serde(default)]
    period: Period,
    user_id: i64,
}

async fn count_events(events: EventStore, args: CountEvents, _: Output) -> Result<Value, ToolError> {
    let (label, stream) = (&args.seen.label, args.seen.stream());
    let labels = matching_labels(&events, args.user_id, label, stream, args.period.since()).await?;
    let count: i64 = labels.iter().map(|(_, n)| n).sum();
    Ok(json!({"label": label, "stream": stream.unwrap_or("all cameras"), "count": count}))
}

#[derive(Deserialize, JsonSchema)]
struct LatestSightings {
    #[serde(flatten)]
    seen: Seen,
    /// How many, 1 to 5.
    #[serde(default)]
    limit: Option<u8>,
    user_id: i64,
}

async fn latest_sightings(
    events: EventStore,
    args: LatestSightings,
    output: Output,
) -> Result<Value, ToolError> {
    let stream = args.seen.stream();
    let labels: Vec<String> = matching_labels(&events, args.user_id, &args.seen.label, stream, None)
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let limit = i64::from(args.limit.unwrap_or(3).clamp(1, 5));
    let found = events.latest_with_labels(owner(args.user_id), &labels, stream, limit).await?;
    for event in found.iter().filter(|e| e.has_thumbnail) {
        output.show(WidgetData::Image {
            url: format!("/api/events/{}/thumbnail", event.id),
            caption: format!("{} on {}, {}", event.top_label, event.stream, when(event.received_at)),
        });
    }
    let sightings: Vec<Value> = found
        .iter()
        .map(|e| {
            let score = (e.top_score * 100.0).round() / 100.0;
            json!({"stream": e.stream, "label": e.top_label, "score": score, "when": when(e.received_at)})
        })
        .collect();
    Ok(if sightings.is_empty() {
        json!({"sightings": [], "note": "never seen"})
    } else {
        json!({"sightings": sightings})
    })
}

#[derive(Deserialize, JsonSchema)]
struct Owner {
    user_id: i64,
}

async fn list_streams(events: EventStore, args: Owner, _: Output) -> Result<Vec<Value>, ToolError> {
    let streams = events.streams(owner(args.user_id)).await?;
    Ok(streams
        .into_iter()
        .map(|(stream, events, last)| json!({"stream": stream, "events": events, "last_event": when(last)}))
        .collect())
}

#[derive(Deserialize, JsonSchema)]
struct Activity {
    /// Hours back from now, 1 to 48.
    #[serde(default)]
    hours: Option<u8>,
    user_id: i64,
}

async fn activity_per_hour(events: EventStore, args: Activity, output: Output) -> Result<Value, ToolError> {
    let hours = args.hours.unwrap_or(24).clamp(1, 48);
    let activity = events.activity(owner(args.user_id), usize::from(hours), TimeDelta::hours(1), 5).await?;
    let totals: Vec<Value> = activity
        .series
        .iter()
        .map(|s| json!({"label": s.label, "count": s.counts.iter().sum::<u32>()}))
        .collect();
    output.show(WidgetData::Chart { title: format!("The last {hours} hours"), activity });
    Ok(json!({"hours": hours, "totals": totals}))
}

#[derive(Deserialize, JsonSchema)]
struct RecentAlerts {
    /// How many, 1 to 10.
    #[serde(default)]
    limit: Option<u8>,
    user_id: i64,
}

async fn recent_alerts(rules: Rules, args: RecentAlerts, _: Output) -> Result<Vec<Value>, ToolError> {
    let limit = usize::from(args.limit.unwrap_or(5).clamp(1, 10));
    let alerts = rules.alerts(owner(args.user_id)).await?;
    Ok(alerts
        .into_iter()
        .take(limit)
        .map(|a| json!({"rule": a.rule_name, "stream": a.stream, "label": a.label, "when": when(a.fired_at)}))
        .collect())
}

#[derive(Deserialize, JsonSchema)]
struct CreateRule {
    /// What to watch for, e.g. "dog".
    #[schemars(length(min = 1, max = 40))]
    label: String,
    /// The camera, e.g. "cam1"; every camera when absent.
    #[serde(default)]
    #[schemars(length(max = 64))]
    stream: Option<String>,
    user_id: i64,
}

fn rule_summary(arguments: &Value) -> String {
    let label = arguments["label"].as_str().unwrap_or("?");
    match arguments["stream"].as_str().filter(|s| !s.is_empty()) {
        Some(stream) => format!("Create a rule: alert when {stream} sees a {label}"),
        None => format!("Create a rule: alert when any camera sees a {label}"),
    }
}

async fn create_rule(rules: Rules, args: CreateRule, _: Output) -> Result<Value, ToolError> {
    let stream = args.stream.filter(|s| !s.trim().is_empty());
    let name = match &stream {
        Some(stream) => format!("{} on {stream}", args.label.trim()),
        None => format!("{} on any camera", args.label.trim()),
    };
    let draft = RuleDraft {
        name: name.chars().take(64).collect(),
        labels: args.label,
        min_score: 0.5,
        stream,
        cooldown_secs: 300,
        stays_secs: 0,
        webhook_url: None,
    };
    let rule = rules.save(owner(args.user_id), None, draft).await?;
    Ok(json!({"created": rule.rule.name, "rule_id": rule.id}))
}

#[derive(Deserialize, JsonSchema)]
struct PauseRule {
    /// The rule's name.
    #[schemars(length(min = 1, max = 64))]
    rule: String,
    /// True to pause it, false to resume it.
    paused: bool,
    user_id: i64,
}

fn pause_summary(arguments: &Value) -> String {
    let verb = if arguments["paused"].as_bool().unwrap_or(true) { "Pause" } else { "Resume" };
    format!("{verb} the rule “{}”", arguments["rule"].as_str().unwrap_or("?"))
}

async fn pause_rule(rules: Rules, args: PauseRule, _: Output) -> Result<Value, ToolError> {
    let all = rules.list(owner(args.user_id)).await?;
    let wanted = args.rule.trim().to_lowercase();
    let rule = all
        .iter()
        .find(|r| r.rule.name.to_lowercase() == wanted)
        .ok_or_else(|| ToolError::new(format!("there is no rule named `{}`", args.rule)))?;
    rules.set_paused(owner(args.user_id), rule.id, args.paused).await?;
    Ok(json!({"rule": rule.rule.name, "paused": args.paused}))
}
