//! The camera assistant's evaluation set: conversations in everyday words with a user whose six
//! cameras sent known events (`fixture.json`), each question with the tool and arguments it
//! needs. The development part (`dev.json`) is for tuning; the held-out part (`held_out.json`,
//! a third of the set, drawn at random when it was written) is only scored.
//!
//! Each conversation is a new `cameras` session on the real server, asked over its websocket as
//! the page asks; each question is graded on the call the model made (tool and arguments), on
//! the facts the answer must state (computed from the fixture, at the time of asking, by code of
//! its own), on whether the answer is grounded (every fact in it is one the tools returned,
//! `grounding.rs`), and timed to the first word and to the whole answer.
//!
//! The API suite scores both parts with the default model (`cargo test -p server --test api
//! camera_eval`); the `assistant` benchmark prints the table for each embedded model.

pub mod grounding;

use std::time::{Duration, Instant};

use chrono::{DateTime, Local, NaiveDate, SecondsFormat, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};
use crate::sockets::{Socket, connect_as, next_json, next_json_within, send};

/// The development part: read it, tune on it.
pub const DEV: &str = include_str!("dev.json");
/// The held-out part: score it, never tune on it.
pub const HELD_OUT: &str = include_str!("held_out.json");
const FIXTURE: &str = include_str!("fixture.json");

/// How long a reply may take before the evaluation gives up on it.
const PATIENCE: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct Fixture {
    events: Vec<FixtureEvents>,
    rules: Vec<FixtureRule>,
    alerts: Vec<FixtureAlert>,
}

#[derive(Deserialize)]
struct FixtureEvents {
    camera: String,
    label: String,
    index: i64,
    kind: String,
    minutes_ago: Vec<i64>,
}

#[derive(Deserialize)]
struct FixtureRule {
    name: String,
    labels: String,
    camera: String,
    paused: bool,
}

#[derive(Deserialize)]
struct FixtureAlert {
    rule: String,
    camera: String,
    label: String,
    minutes_ago: i64,
}

/// A conversation: questions asked one after the other in one session.
#[derive(Clone, Debug, Deserialize)]
pub struct Conversation {
    /// Its questions.
    pub turns: Vec<Question>,
}

/// A question and what answering it takes.
#[derive(Clone, Debug, Deserialize)]
pub struct Question {
    /// What the user writes.
    pub q: String,
    /// The call it needs.
    pub expect: Expect,
}

/// The call a question needs (`tool` is `none` for a message that needs no data), and for calls
/// that wait for approval, whether the user approves.
#[derive(Clone, Debug, Deserialize)]
pub struct Expect {
    pub tool: String,
    pub camera: Option<String>,
    pub label: Option<String>,
    pub period: Option<String>,
    pub rule: Option<String>,
    pub paused: Option<bool>,
    pub approve: Option<bool>,
}

/// Parses one part of the set.
pub fn part(json: &str) -> Vec<Conversation> {
    serde_json::from_str(json).expect("the evaluation set parses")
}

/// An event of the fixture, as stored.
struct Seen {
    at: DateTime<Utc>,
    camera: String,
    label: String,
    kind: String,
}

/// The evaluation's user and what its cameras sent.
pub struct World {
    user: TestUser,
    user_id: i64,
    seen: Vec<Seen>,
    cameras: Vec<String>,
    labels: Vec<String>,
    fixture: Fixture,
}

/// Signs up the evaluation's user and stores the fixture's events through the cameras'
/// websocket, oldest first, each then dated as the fixture says.
pub async fn seed(app: &TestApp) -> World {
    let fixture: Fixture = serde_json::from_str(FIXTURE).expect("the fixture parses");
    let user = app.sign_up("evaluation").await;
    let me: Value = user.client.get(app.url("/api/me")).send().await.unwrap().json().await.unwrap();
    let user_id = me["id"].as_i64().unwrap();
    let now = Utc::now();
    let mut seen: Vec<(Seen, i64)> = fixture
        .events
        .iter()
        .flat_map(|events| {
            events.minutes_ago.iter().map(|ago| {
                let at = now - TimeDelta::minutes(*ago);
                let seen = Seen {
                    at,
                    camera: events.camera.clone(),
                    label: events.label.clone(),
                    kind: events.kind.clone(),
                };
                (seen, events.index)
            })
        })
        .collect();
    seen.sort_by_key(|(s, _)| s.at);
    let mut database = app.database().await;
    let mut sockets: Vec<(String, Socket)> = Vec::new();
    for (seq, (event, index)) in (1..).zip(&seen) {
        if !sockets.iter().any(|(camera, _)| *camera == event.camera) {
            let mut socket = connect_as(app, &format!("/ws/events/{}", event.camera), &user).await;
            next_json(&mut socket).await;
            sockets.push((event.camera.clone(), socket));
        }
        let socket = &mut sockets.iter_mut().find(|(camera, _)| *camera == event.camera).unwrap().1;
        let frame = json!({
            "type": "classification", "producer": "evaluation", "seq": seq, "model": "efficientnet_lite0",
            "client_time": event.at.to_rfc3339(),
            "classifications": [{"categories": [{"index": index, "score": 0.9, "categoryName": event.label, "displayName": ""}],
                                 "headIndex": 0, "headName": "probability"}]
        });
        send(socket, &frame.to_string()).await;
        assert_eq!(next_json(socket).await["type"], "ack");
        sqlx::query("UPDATE classification_events SET received_at = $1 WHERE owner_id = $2 AND seq = $3")
            .bind(event.at.to_rfc3339_opts(SecondsFormat::Micros, false))
            .bind(user_id)
            .bind(seq)
            .execute(&mut database)
            .await
            .unwrap();
    }
    let mut cameras: Vec<String> = fixture.events.iter().map(|e| e.camera.clone()).collect();
    cameras.dedup();
    let mut labels: Vec<String> =
        fixture.events.iter().flat_map(|e| [e.label.to_lowercase(), e.kind.clone()]).collect();
    labels.extend(["person", "dog", "cat", "bird", "car", "fox", "squirrel"].map(String::from));
    labels.sort();
    labels.dedup();
    let seen = seen.into_iter().map(|(seen, _)| seen).collect();
    World { user, user_id, seen, cameras, labels, fixture }
}

/// Puts the user's rules and alerts back as the fixture has them.
async fn reset_rules(app: &TestApp, world: &World) {
    let mut database = app.database().await;
    for table in ["alerts", "alert_rules"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE owner_id = $1"))
            .bind(world.user_id)
            .execute(&mut database)
            .await
            .unwrap();
    }
    let now = Utc::now();
    for rule in &world.fixture.rules {
        sqlx::query(
            "INSERT INTO alert_rules (owner_id, name, labels, min_score, stream, cooldown_secs, paused, created_at)
             VALUES ($1, $2, $3, 0.5, $4, 300, $5, $6)",
        )
        .bind(world.user_id)
        .bind(&rule.name)
        .bind(&rule.labels)
        .bind(&rule.camera)
        .bind(i32::from(rule.paused))
        .bind(now.to_rfc3339_opts(SecondsFormat::Micros, false))
        .execute(&mut database)
        .await
        .unwrap();
    }
    for alert in &world.fixture.alerts {
        let fired = now - TimeDelta::minutes(alert.minutes_ago);
        sqlx::query(
            "INSERT INTO alerts (owner_id, rule_id, rule_name, stream, label, score, fired_at)
             VALUES ($1, (SELECT id FROM alert_rules WHERE owner_id = $1 AND name = $2), $2, $3, $4, 0.9, $5)",
        )
        .bind(world.user_id)
        .bind(&alert.rule)
        .bind(&alert.camera)
        .bind(&alert.label)
        .bind(fired.to_rfc3339_opts(SecondsFormat::Micros, false))
        .execute(&mut database)
        .await
        .unwrap();
    }
}

/// The user's rules: name, labels, camera, paused.
async fn rules(app: &TestApp, world: &World) -> Vec<(String, String, Option<String>, bool)> {
    let mut database = app.database().await;
    let rows: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT name, labels, stream, paused FROM alert_rules WHERE owner_id = $1 ORDER BY id",
    )
    .bind(world.user_id)
    .fetch_all(&mut database)
    .await
    .unwrap();
    rows.into_iter().map(|(name, labels, stream, paused)| (name, labels, stream, paused != 0)).collect()
}

/// How one question went.
#[derive(Debug)]
pub struct Asked {
    /// The question and what it needs.
    pub question: Question,
    /// The calls the model made: tool and arguments.
    pub calls: Vec<(String, Value)>,
    /// The answer the user read.
    pub answer: String,
    /// From sending to the answer's first text.
    pub first_word: Duration,
    /// From sending to the reply's end.
    pub whole: Duration,
    /// The right tool, and only it (no call for a message that needs none).
    pub right_tool: bool,
    /// The right tool with the right arguments.
    pub right_call: bool,
    /// The answer states the facts the data holds.
    pub facts: bool,
    /// Every fact the answer states is one the tools returned, and it has no markup.
    pub grounded: bool,
    /// What was wrong.
    pub notes: Vec<String>,
}

/// Asks every conversation of `part` in a new `cameras` session (with `model`, or the
/// session's default model) and grades each answer.
pub async fn run(app: &TestApp, world: &World, model: Option<&str>, part: &[Conversation]) -> Vec<Asked> {
    let mut asked = Vec::new();
    for conversation in part {
        reset_rules(app, world).await;
        let mut body = json!({"agent": "cameras"});
        if let Some(model) = model {
            body["settings"] =
                json!({"model": model, "temperature": 0.7, "max_tokens": 512, "system_prompt": ""});
        }
        let response =
            world.user.client.post(app.url("/ai-chat/api/sessions/")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 201);
        let session: Value = response.json().await.unwrap();
        let path = format!("/ws/ai-chat/session/{}/", session["id"]);
        let mut socket = connect_as(app, &path, &world.user).await;
        assert_eq!(next_json(&mut socket).await["type"], "connection_established");
        for question in &conversation.turns {
            asked.push(ask(app, world, &mut socket, question).await);
        }
    }
    asked
}

/// Asks one question on the session's socket and grades the answer.
async fn ask(app: &TestApp, world: &World, socket: &mut Socket, question: &Question) -> Asked {
    let rules_before = rules(app, world).await;
    let started = Instant::now();
    send(socket, &json!({"type": "send_message", "message": question.q}).to_string()).await;
    let (mut calls, mut results, mut first_word) = (Vec::new(), Vec::new(), None);
    let reply = loop {
        let frame = next_json_within(socket, PATIENCE).await;
        match frame["type"].as_str() {
            Some("ai_message_chunk") => {
                first_word.get_or_insert_with(|| started.elapsed());
            }
            Some("tool_call") => {
                calls.push((frame["name"].as_str().unwrap_or("").to_owned(), frame["arguments"].clone()))
            }
            Some("tool_result") => results.push(frame["result"].clone()),
            Some("approval_request") => {
                let approved = question.expect.approve.unwrap_or(false);
                let decision = json!({"type": "approve", "call_id": frame["call_id"], "approved": approved});
                send(socket, &decision.to_string()).await;
            }
            Some("ai_message_complete") => break frame["message"].clone(),
            _ => {}
        }
    };
    let whole = started.elapsed();
    let answer = reply["content"].as_str().unwrap_or("").to_owned();
    let mut asked = Asked {
        question: question.clone(),
        calls,
        answer,
        first_word: first_word.unwrap_or(whole),
        whole,
        right_tool: false,
        right_call: false,
        facts: false,
        grounded: false,
        notes: Vec::new(),
    };
    grade(app, world, &mut asked, &results, &rules_before).await;
    asked
}

/// Lower case, without "the", "camera" and what is not a letter or digit: how the evaluation
/// compares camera names; every camera is `all`.
fn camera_name(said: &str) -> String {
    let said = said.trim().to_lowercase();
    let said = said.strip_prefix("the ").unwrap_or(&said);
    let said = said.strip_suffix(" camera").unwrap_or(said);
    match said {
        "all" | "all cameras" | "any" | "every camera" | "every" => "all".to_owned(),
        said => said.chars().filter(|c| c.is_alphanumeric()).collect(),
    }
}

/// Lower case, singular, without articles: how the evaluation compares what was seen.
fn thing(said: &str) -> String {
    let said = said.trim().to_lowercase();
    let said = ["a ", "an ", "the ", "any "]
        .iter()
        .fold(said, |s, a| s.strip_prefix(a).map(str::to_owned).unwrap_or(s));
    let irregular =
        [("people", "person"), ("puppies", "dog"), ("puppy", "dog"), ("kittens", "cat"), ("kitten", "cat")];
    if let Some((_, one)) = irregular.iter().find(|(many, _)| said == *many) {
        return (*one).to_owned();
    }
    if let Some(stem) = said.strip_suffix("ies") {
        return format!("{stem}y");
    }
    if let Some(stem) = said.strip_suffix("xes") {
        return format!("{stem}x");
    }
    match said.strip_suffix('s').filter(|s| !s.ends_with('s')) {
        Some(stem) => stem.to_owned(),
        None => said,
    }
}

/// Whether `seen` is a `label`: its class, or its kind.
fn is(seen: &Seen, label: &str) -> bool {
    let label = thing(label);
    thing(&seen.label) == label || seen.kind == label
}

/// The period's bounds at `now`, as the assistant's instructions define them (written here
/// again, as the evaluation's own reading).
fn bounds(period: &str, now: DateTime<Local>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let at = |day: NaiveDate, hour: u32| {
        Some(
            day.and_hms_opt(hour, 0, 0)
                .unwrap()
                .and_local_timezone(Local)
                .earliest()
                .unwrap()
                .with_timezone(&Utc),
        )
    };
    let (today, utc_now) = (now.date_naive(), now.with_timezone(&Utc));
    let yesterday = today.pred_opt().unwrap();
    match period {
        "last_hour" => (Some(utc_now - TimeDelta::hours(1)), None),
        "today" => (at(today, 0), None),
        "this_morning" => (at(today, 0), at(today, 12)),
        "this_afternoon" => (at(today, 12), at(today, 18)),
        "last_night" => (at(yesterday, 18), at(today, 6)),
        "yesterday" => (at(yesterday, 0), at(today, 0)),
        "last_24_hours" => (Some(utc_now - TimeDelta::hours(24)), None),
        "last_7_days" => (Some(utc_now - TimeDelta::days(7)), None),
        _ => (None, None),
    }
}

impl World {
    /// The fixture's events on `camera` (or any, for `all`) within `period`.
    fn within<'a>(&'a self, camera: &'a str, period: &str) -> impl Iterator<Item = &'a Seen> + 'a {
        let (since, until) = bounds(period, Local::now());
        let camera = camera_name(camera);
        self.seen.iter().filter(move |s| {
            (camera == "all" || camera_name(&s.camera) == camera)
                && since.is_none_or(|since| s.at >= since)
                && until.is_none_or(|until| s.at < until)
        })
    }
}

/// Grades `asked`: the call, the facts, grounding.
async fn grade(
    app: &TestApp,
    world: &World,
    asked: &mut Asked,
    results: &[Value],
    rules_before: &[(String, String, Option<String>, bool)],
) {
    let expect = asked.question.expect.clone();
    let answer = asked.answer.clone();
    let mut notes = Vec::new();
    asked.right_tool = match (expect.tool.as_str(), asked.calls.as_slice()) {
        ("none", []) => true,
        (tool, [(name, _)]) => tool == name,
        _ => false,
    };
    // The arguments as the tool read them (its result says), else as the model wrote them.
    let arguments = asked.calls.first().map(|(_, a)| a.clone()).unwrap_or(Value::Null);
    let read = results.first().cloned().unwrap_or(Value::Null);
    let argument = |key: &str| read[key].as_str().or(arguments[key].as_str()).unwrap_or("").to_owned();
    let mut right_arguments = true;
    if let Some(camera) = &expect.camera
        && camera_name(&argument("camera")) != camera_name(camera)
    {
        notes.push(format!("camera {:?}, expected {camera:?}", argument("camera")));
        right_arguments = false;
    }
    if let Some(label) = &expect.label
        && thing(&argument("label")) != thing(label)
    {
        notes.push(format!("label {:?}, expected {label:?}", argument("label")));
        right_arguments = false;
    }
    if let Some(period) = &expect.period
        && argument("period") != *period
    {
        notes.push(format!("period {:?}, expected {period:?}", argument("period")));
        right_arguments = false;
    }
    if let Some(paused) = expect.paused
        && arguments["paused"].as_bool() != Some(paused)
    {
        notes.push(format!("paused {}, expected {paused}", arguments["paused"]));
        right_arguments = false;
    }
    asked.right_call = asked.right_tool && right_arguments;
    if !asked.right_tool {
        let made: Vec<&str> = asked.calls.iter().map(|(name, _)| name.as_str()).collect();
        notes.push(format!("called {made:?}, expected {}", expect.tool));
    }

    let said = grounding::facts(&answer, &world.cameras, &world.labels);
    let states = |n: usize| said.contains(&format!("n:{n}"));
    let lower = answer.to_lowercase();
    let camera = expect.camera.clone().unwrap_or_else(|| "all".into());
    let period = expect.period.clone().unwrap_or_else(|| "all_time".into());
    asked.facts = match expect.tool.as_str() {
        "count_events" => {
            let label = expect.label.clone().unwrap_or_default();
            let count = world.within(&camera, &period).filter(|s| is(s, &label)).count();
            let known =
                camera == "all" || world.cameras.iter().any(|c| camera_name(c) == camera_name(&camera));
            match (known, count) {
                (false, _) => lower.contains("no camera called"),
                (true, 0) => lower.contains(" no ") || lower.starts_with("none"),
                (true, count) => states(count),
            }
        }
        "last_seen" => {
            let label = expect.label.clone().unwrap_or_default();
            match world.within(&camera, "all_time").filter(|s| is(s, &label)).max_by_key(|s| s.at) {
                Some(last) => lower.contains(&last.at.with_timezone(&Local).format("%H:%M").to_string()),
                None => lower.contains("not seen") || lower.contains("has not"),
            }
        }
        "list_cameras" => {
            states(world.cameras.len()) && world.cameras.iter().all(|c| lower.contains(c.as_str()))
        }
        "what_was_seen" => {
            let mut counts: Vec<(String, usize)> = Vec::new();
            for seen in world.within(&camera, &period) {
                match counts.iter_mut().find(|(label, _)| *label == seen.label) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((seen.label.clone(), 1)),
                }
            }
            counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
            match counts.as_slice() {
                [] => lower.contains("nothing"),
                counts => counts.iter().take(8).all(|(label, n)| {
                    lower.contains(&label.to_lowercase())
                        && (states(*n) || (*n == 1 && lower.contains("once")))
                }),
            }
        }
        "recent_alerts" => {
            let latest = world.fixture.alerts.iter().min_by_key(|a| a.minutes_ago).map(|a| a.rule.as_str());
            latest.is_some_and(|rule| answer.contains(rule))
        }
        "tell_me_when_seen" => {
            let after = rules(app, world).await;
            let created: Vec<_> = after.iter().filter(|r| !rules_before.contains(r)).collect();
            match expect.approve.unwrap_or(false) {
                false => created.is_empty() && lower.contains("did not"),
                true => created.iter().any(|(_, labels, stream, _)| {
                    thing(labels) == thing(expect.label.as_deref().unwrap_or(""))
                        && camera_name(stream.as_deref().unwrap_or("all")) == camera_name(&camera)
                }),
            }
        }
        "pause_rule" => {
            let after = rules(app, world).await;
            let rule = expect.rule.clone().unwrap_or_default();
            let paused = after.iter().find(|r| r.0 == rule).map(|r| r.3);
            match expect.approve.unwrap_or(false) {
                false => after == rules_before,
                true => paused == expect.paused && answer.contains(&rule),
            }
        }
        _ => !answer.trim().is_empty(),
    };
    if !asked.facts {
        notes.push("the answer misses facts the data holds".into());
    }
    // What the tools returned, without the sentences they wrote: the answer's facts must be
    // among these data.
    let ground: String = results
        .iter()
        .map(|result| {
            let mut data = result.clone();
            if let Some(fields) = data.as_object_mut() {
                fields.remove("answer");
            }
            data.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n");
    let missing = grounding::ungrounded(&answer, &ground, &world.cameras, &world.labels);
    asked.grounded = missing.is_empty() && !answer.trim().is_empty();
    if !asked.grounded {
        notes.push(format!("not from the tools: {missing:?}"));
    }
    asked.notes = notes;
}

/// A share as a percentage.
fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 }
}

/// The median of some durations, in seconds.
fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times.get(times.len() / 2).map_or(0.0, Duration::as_secs_f64)
}

/// The figures of one part with one model.
#[derive(Clone, Debug)]
pub struct Score {
    pub questions: usize,
    pub right_tool: f64,
    pub right_call: f64,
    pub facts: f64,
    pub grounded: f64,
    pub first_word_p50: f64,
    pub whole_p50: f64,
}

/// Scores a part's answers.
pub fn score(asked: &[Asked]) -> Score {
    let share = |pass: fn(&Asked) -> bool| percent(asked.iter().filter(|a| pass(a)).count(), asked.len());
    Score {
        questions: asked.len(),
        right_tool: share(|a| a.right_tool),
        right_call: share(|a| a.right_call),
        facts: share(|a| a.facts),
        grounded: share(|a| a.grounded),
        first_word_p50: median(asked.iter().map(|a| a.first_word).collect()),
        whole_p50: median(asked.iter().map(|a| a.whole).collect()),
    }
}

/// A table row of `score`: `| name | questions | tool | call | facts | grounded | first | whole |`.
pub fn row(name: &str, score: &Score) -> String {
    format!(
        "| {name} | {} | {:.0} % | {:.0} % | {:.0} % | {:.0} % | {:.2} s | {:.2} s |",
        score.questions,
        score.right_tool,
        score.right_call,
        score.facts,
        score.grounded,
        score.first_word_p50,
        score.whole_p50
    )
}

/// The table's heading.
pub const HEADING: &str = "| part | questions | right tool | right tool and arguments | facts stated | grounded | first word p50 | whole answer p50 |\n|---|---|---|---|---|---|---|---|";

/// Per expected tool: questions, and the share with the right tool and arguments.
pub fn per_tool(asked: &[Asked]) -> String {
    let mut tools: Vec<&str> = asked.iter().map(|a| a.question.expect.tool.as_str()).collect();
    tools.sort();
    tools.dedup();
    let mut table =
        String::from("| tool | questions | right tool and arguments | grounded |\n|---|---|---|---|\n");
    for tool in tools {
        let of: Vec<&Asked> = asked.iter().filter(|a| a.question.expect.tool == tool).collect();
        let right = of.iter().filter(|a| a.right_call).count();
        let grounded = of.iter().filter(|a| a.grounded).count();
        table.push_str(&format!("| {tool} | {} | {right} | {grounded} |\n", of.len()));
    }
    table
}

/// The questions that went wrong, with what was wrong.
pub fn failures(asked: &[Asked]) -> String {
    asked
        .iter()
        .filter(|a| !(a.right_call && a.facts && a.grounded))
        .map(|a| format!("- {:?}: {:?} → {:?}; {}\n", a.question.q, a.calls, a.answer, a.notes.join("; ")))
        .collect()
}
