//! Agents: the registry, typed contexts saved across turns, replies written by code, the tool
//! loop with injected context (against the scripted model server), approvals, widgets replayed
//! on resume, the camera assistant's tools over the user's own events — and the camera assistant
//! answering with the real embedded model.

use reqwest::Method;
use serde_json::{Value, json};

use crate::camera_eval::grounding::ungrounded;
use crate::camera_eval::{DEV, HEADING, HELD_OUT, failures, part, per_tool, row, run, score, seed};
use crate::chat::{chat_app, open_session, rest};
use crate::events::event;
use crate::helpers::{TestApp, TestUser, spawn_app};
use crate::sockets::{Socket, connect_as, next_json, next_json_within, send};

/// Starts a session of `agent` with start arguments `context`; returns its id.
async fn start(user: &TestUser, agent: &str, context: Value) -> i64 {
    let (status, session) =
        rest(user, Method::POST, "sessions/", Some(json!({"agent": agent, "context": context}))).await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["agent"], agent);
    session["id"].as_i64().unwrap()
}

/// Sends `message` over REST and returns the finished reply.
async fn answer(user: &TestUser, session: i64, message: &str) -> Value {
    let path = format!("sessions/{session}/send_message/");
    let (status, answer) = rest(user, Method::POST, &path, Some(json!({"message": message}))).await;
    assert_eq!(status, 200, "{answer}");
    answer["reply"].clone()
}

/// Sends `message` on the socket and returns the reply's id (after its `ai_typing`).
async fn ask(socket: &mut Socket, message: &str) -> i64 {
    send(socket, &json!({"type": "send_message", "message": message}).to_string()).await;
    assert_eq!(next_json(socket).await["type"], "user_message");
    let typing = next_json(socket).await;
    assert_eq!(typing["type"], "ai_typing", "{typing}");
    typing["message"]["id"].as_i64().unwrap()
}

/// Reads a reply's frames up to its `ai_message_complete`, checking their sequence numbers run
/// on from `first`; returns them and the stored reply.
async fn read_frames(socket: &mut Socket, first: u64) -> (Vec<Value>, Value) {
    let (mut seen, mut expected) = (Vec::new(), first);
    loop {
        let frame = next_json(socket).await;
        match frame["type"].as_str() {
            Some("ai_message_complete") => return (seen, frame["message"].clone()),
            Some("error") => {}
            _ => {
                assert_eq!(frame["seq"], expected, "{frame}");
                expected += 1;
                seen.push(frame);
            }
        }
    }
}

fn of_type<'a>(frames: &'a [Value], kind: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == kind).collect()
}

async fn user_id(user: &TestUser) -> i64 {
    let me: Value =
        user.client.get(format!("{}/api/me", user.address)).send().await.unwrap().json().await.unwrap();
    me["id"].as_i64().unwrap()
}

async fn stored_context(app: &TestApp, session: i64) -> Value {
    let mut db = app.database().await;
    let (context,): (String,) = sqlx::query_as("SELECT context FROM chat_sessions WHERE id = $1")
        .bind(session)
        .fetch_one(&mut db)
        .await
        .unwrap();
    serde_json::from_str(&context).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_listed_and_sessions_start_with_a_checked_context() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let (status, list) = rest(&alice, Method::GET, "agents/", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["default_agent"], "chat");
    let paths: Vec<&str> =
        list["agents"].as_array().unwrap().iter().map(|a| a["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["cameras", "chat", "echo", "sales", "support"]);
    let support = list["agents"].as_array().unwrap().iter().find(|a| a["path"] == "support").unwrap();
    assert_eq!(support["start_schema"]["properties"]["tier"]["type"], "string", "{support}");

    let plain = start(&alice, "chat", Value::Null).await;
    let (_, session) = rest(&alice, Method::GET, &format!("sessions/{plain}/"), None).await;
    assert_eq!(session["agent"], "chat");
    for (body, reason) in [
        (json!({"agent": "nobody"}), "there is no agent"),
        (json!({"agent": "support", "context": {"tier": "gold"}}), "basic"),
        (json!({"agent": "support", "context": {"colour": "red"}}), "unknown field"),
        (json!({"agent": "Bad Path"}), "agent path"),
    ] {
        let (status, error) = rest(&alice, Method::POST, "sessions/", Some(body)).await;
        assert!(status == 400 || status == 422, "{status} {error}");
        assert!(error["message"].as_str().unwrap().contains(reason), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_is_built_once_saved_after_each_turn_and_a_whole_string_is_a_reply() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let id = user_id(&alice).await;
    let session = start(&alice, "support", json!({"tier": "premium"})).await;
    assert_eq!(
        stored_context(&app, session).await,
        json!({"user_id": id, "support_tier": "premium", "conversation_count": 0})
    );
    let first = answer(&alice, session, "My invoice is wrong").await;
    assert_eq!(
        first["content"],
        format!("Let me check that for you. Message #1 for user {id} (premium support).")
    );
    assert_eq!(first["status"], "complete");
    let second = answer(&alice, session, "Still wrong").await;
    assert!(second["content"].as_str().unwrap().contains("Message #2"), "{second}");
    assert_eq!(stored_context(&app, session).await["conversation_count"], 2, "saved after each turn");
    let hello = answer(&alice, session, "hello").await;
    assert_eq!(hello["content"], "Hello! How can I help you today?");

    let echo = start(&alice, "echo", json!({})).await;
    let said = answer(&alice, echo, "ping").await;
    assert_eq!(
        (said["content"].as_str(), said["finish_reason"].as_str()),
        (Some("You said: ping"), Some("stop"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_gets_its_context_parameters_injected_and_the_model_never_sees_them() {
    let (app, fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let id = user_id(&alice).await;
    let session = start(&alice, "sales", json!({"tier": "premium"})).await;
    let mut socket = open_session(&app, &alice, session).await;
    // The model tries to forge another user's id: the context's wins.
    let reply = ask(
        &mut socket,
        r#"Can I use pro? [call check_eligibility {"product_id": "pro-features", "user_id": 999}]"#,
    )
    .await;
    let (frames, message) = read_frames(&mut socket, 1).await;
    let calls = of_type(&frames, "tool_call");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0]["message_id"].as_i64(), calls[0]["name"].as_str()),
        (Some(reply), Some("check_eligibility"))
    );
    let results = of_type(&frames, "tool_result");
    assert_eq!(results[0]["call_id"], calls[0]["call_id"]);
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["result"], format!("User {id} can access pro-features"));
    assert_eq!(message["content"], format!("The tool said: \"User {id} can access pro-features\""));
    assert_eq!(
        message["parts"].as_array().unwrap().len(),
        2,
        "the call and its result are stored with the reply"
    );

    let body = fake.seen.last_body.lock().unwrap().clone();
    let parameters = &body["tools"][0]["function"]["parameters"];
    let offered: Vec<&String> = parameters["properties"].as_object().unwrap().keys().collect();
    assert_eq!(offered, ["product_id"], "injected parameters are not offered: {parameters}");
    let sent = body["messages"].as_array().unwrap();
    assert_eq!(sent[sent.len() - 2]["tool_calls"][0]["function"]["name"], "check_eligibility");
    assert_eq!(sent[sent.len() - 1]["role"], "tool");

    // The next turn's prompt carries the call and its result from the stored reply.
    let next = ask(&mut socket, "Thanks").await;
    read_frames(&mut socket, 1).await;
    let body = fake.seen.last_body.lock().unwrap().clone();
    let roles: Vec<&str> =
        body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "assistant", "user"], "{body}");
    assert!(next > reply);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_failures_go_back_to_the_model_and_the_step_limit_ends_a_loop() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = start(&alice, "sales", json!({})).await;
    let mut socket = open_session(&app, &alice, session).await;
    ask(&mut socket, "[call no_such_tool {}]").await;
    let (frames, message) = read_frames(&mut socket, 1).await;
    let result = of_type(&frames, "tool_result")[0];
    assert_eq!(result["ok"], false);
    assert!(result["result"]["error"].as_str().unwrap().contains("no tool"), "{result}");
    assert_eq!(message["status"], "complete");
    assert!(message["content"].as_str().unwrap().starts_with("The tool said:"));

    ask(&mut socket, "[call check_eligibility {\"product\": 1}]").await;
    let (frames, _) = read_frames(&mut socket, 1).await;
    assert!(
        of_type(&frames, "tool_result")[0]["result"]["error"].as_str().unwrap().contains("invalid arguments")
    );

    ask(&mut socket, "Again and again [loop]").await;
    let (frames, message) = read_frames(&mut socket, 1).await;
    assert_eq!(of_type(&frames, "tool_call").len(), 3, "the last step is offered no tools");
    assert_eq!(message["status"], "complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_changes_data_waits_for_approval_and_a_denial_changes_nothing() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = start(&alice, "cameras", json!({})).await;
    let mut socket = open_session(&app, &alice, session).await;
    let rule_call =
        r#"Tell me when a dog shows up on cam1 [call alert_me_when {"label": "dog", "camera": "cam1"}]"#;

    ask(&mut socket, rule_call).await;
    assert_eq!(next_json(&mut socket).await["type"], "tool_call");
    let request = next_json(&mut socket).await;
    assert_eq!(request["type"], "approval_request", "{request}");
    assert_eq!(request["summary"], "Create a rule: alert when cam1 sees a dog");
    let bob = app.sign_up("bob").await;
    let path = format!("sessions/{session}/approve/");
    let approval = json!({"call_id": request["call_id"], "approved": true});
    assert_eq!(rest(&bob, Method::POST, &path, Some(approval.clone())).await.0, 404, "not bob's");
    let wrong = json!({"type": "approve", "call_id": "other", "approved": true});
    send(&mut socket, &wrong.to_string()).await;
    assert_eq!(next_json(&mut socket).await["code"], "conflict");
    assert_eq!(rest(&alice, Method::POST, &path, Some(approval)).await.0, 204);
    let (frames, message) = read_frames(&mut socket, 3).await;
    assert_eq!(of_type(&frames, "tool_result")[0]["ok"], true, "{frames:?}");
    assert_eq!(message["status"], "complete");
    assert_eq!(
        message["content"], "Done: you will be alerted when cam1 sees a dog (rule “dog on cam1”).",
        "the answer is the tool's sentence"
    );
    let rules = alice.call_ok("rules", &[]).await;
    assert_eq!(rules[0]["name"], "dog on cam1");
    assert_eq!((rules[0]["labels"].as_str(), rules[0]["stream"].as_str()), (Some("dog"), Some("cam1")));

    ask(&mut socket, &rule_call.replace("cam1", "cam2")).await;
    next_json(&mut socket).await;
    let request = next_json(&mut socket).await;
    let deny = json!({"type": "approve", "call_id": request["call_id"], "approved": false});
    send(&mut socket, &deny.to_string()).await;
    let (frames, message) = read_frames(&mut socket, 3).await;
    let result = of_type(&frames, "tool_result")[0];
    assert_eq!(
        (result["ok"].as_bool(), result["result"]["error"].as_str()),
        (Some(false), Some("the user did not allow this"))
    );
    assert_eq!(message["content"], "OK, I did not create the rule.");
    assert_eq!(alice.call_ok("rules", &[]).await.as_array().unwrap().len(), 1, "nothing was created");

    // Stop while a call waits: the reply ends stopped and the session takes the next message.
    ask(&mut socket, rule_call).await;
    next_json(&mut socket).await;
    assert_eq!(next_json(&mut socket).await["type"], "approval_request");
    send(&mut socket, &json!({"type": "stop"}).to_string()).await;
    let (_, message) = read_frames(&mut socket, 3).await;
    assert_eq!(message["status"], "stopped");
    ask(&mut socket, "hello").await;
    assert_eq!(read_frames(&mut socket, 1).await.1["status"], "complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widgets_are_stored_with_the_reply_and_replayed_on_resume() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = start(&alice, "support", json!({})).await;
    let mut socket = open_session(&app, &alice, session).await;
    let reply = ask(&mut socket, "My invoice is wrong").await;
    let (live, message) = read_frames(&mut socket, 1).await;
    let widget = of_type(&live, "widget")[0];
    assert_eq!(widget["kind"], "choices");
    assert_eq!(widget["data"]["options"][0], "Book an appointment");
    assert_eq!(message["parts"][0]["part"]["type"], "widget");
    assert_eq!(message["parts"][0]["at"], message["content"].as_str().unwrap().len(), "after the text");

    // A page that reloads gets the stored reply with its widget.
    let (_, page) = rest(&alice, Method::GET, &format!("sessions/{session}/messages/"), None).await;
    assert_eq!(page["messages"][1]["parts"], message["parts"]);
    let mut other = open_session(&app, &alice, session).await;
    send(&mut other, &json!({"type": "resume", "message_id": reply, "after_seq": 0}).to_string()).await;
    assert_eq!(next_json(&mut other).await["type"], "ai_message_complete", "a finished reply comes whole");

    // A form's values reach the agent as a structured message.
    let book = answer(&alice, session, "I want to book").await;
    assert_eq!(book["parts"][0]["part"]["kind"], "form");
    let path = format!("sessions/{session}/send_message/");
    let form = json!({"message": "Book: 14:00", "values": {"slot": "2026-12-01 14:00", "name": "Ada"}});
    let (_, booked) = rest(&alice, Method::POST, &path, Some(form)).await;
    assert_eq!(booked["user_message"]["values"]["name"], "Ada");
    assert_eq!(booked["reply"]["content"], "Booked 2026-12-01 14:00 for Ada.");
    let (status, _) = rest(&alice, Method::POST, &path, Some(json!({"message": "x", "values": [1]}))).await;
    assert_eq!(status, 400, "values are an object");
}

/// Sends `count` tabby-cat events on `stream` as `user` (one with a thumbnail).
async fn send_cats(app: &TestApp, user: &TestUser, stream: &str, count: u64) {
    let mut camera = connect_as(app, &format!("/ws/events/{stream}"), user).await;
    next_json(&mut camera).await;
    for seq in 1..=count {
        let mut cat = event(seq, 0.9);
        if seq == count {
            cat["thumbnail"] = json!("/9j/4AAQSkZJRg==");
        }
        send(&mut camera, &cat.to_string()).await;
        assert_eq!(next_json(&mut camera).await["type"], "ack");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_assistant_s_tools_see_only_the_owner_s_events() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    send_cats(&app, &alice, "cam0", 3).await;
    send_cats(&app, &bob, "cam0", 5).await;
    let session = start(&alice, "cameras", json!({})).await;
    let mut socket = open_session(&app, &alice, session).await;
    ask(
        &mut socket,
        r#"How many cats? [call how_many {"label": "cats", "camera": "cam0", "when": "today"}]"#,
    )
    .await;
    let (frames, message) = read_frames(&mut socket, 1).await;
    let result = &of_type(&frames, "tool_result")[0]["result"];
    assert_eq!(result["count"], 3, "tabby is a cat; bob's are not counted");
    assert_eq!(result["summary"], "Counted “cat” on cam0 today: 3", "the card's line");
    assert_eq!(message["content"], "cam0 saw a cat 3 times today (tabby 3).", "the tool's sentence");

    ask(&mut socket, r#"On cam9? [call how_many {"label": "cat", "camera": "cam9", "when": "today"}]"#).await;
    let (_, message) = read_frames(&mut socket, 1).await;
    assert_eq!(
        message["content"], "You have no camera called “cam9”. Your cameras are cam0.",
        "a camera that is not the user's is not guessed at"
    );

    ask(&mut socket, r#"When? [call last_seen {"label": "cat", "camera": "all"}]"#).await;
    let (frames, _) = read_frames(&mut socket, 1).await;
    let image = of_type(&frames, "widget")[0];
    assert_eq!(image["kind"], "image");
    let url = image["data"]["url"].as_str().unwrap();
    assert_eq!(alice.client.get(format!("{}{url}", app.address)).send().await.unwrap().status(), 200);
    assert_eq!(bob.client.get(format!("{}{url}", app.address)).send().await.unwrap().status(), 404);
    assert_eq!(of_type(&frames, "tool_result")[0]["result"]["sightings"].as_array().unwrap().len(), 3);

    ask(&mut socket, r#"[call what_happened {"camera": "all", "when": "today"}]"#).await;
    let (frames, message) = read_frames(&mut socket, 1).await;
    let chart = of_type(&frames, "widget")[0];
    assert_eq!(chart["kind"], "chart");
    assert_eq!(chart["data"]["activity"]["series"][0]["label"], "tabby");
    assert_eq!(message["content"], "Today your cameras saw: tabby 3 times (cam0 3).");

    ask(&mut socket, "[call which_cameras {}]").await;
    let (frames, _) = read_frames(&mut socket, 1).await;
    let cameras = &of_type(&frames, "tool_result")[0]["result"]["cameras"];
    assert_eq!(
        (cameras[0]["camera"].as_str(), cameras[0]["events"].as_i64()),
        (Some("cam0"), Some(3)),
        "{cameras}"
    );
    assert_eq!(cameras.as_array().map(Vec::len), Some(1));

    let (status, _) = rest(
        &bob,
        Method::POST,
        &format!("sessions/{session}/send_message/"),
        Some(json!({"message": "hi"})),
    )
    .await;
    assert_eq!(status, 404, "another user's session is unreachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_assistant_answers_from_the_events_with_the_embedded_model() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    send_cats(&app, &alice, "cam0", 4).await;
    let greedy = json!({"model": "local/qwen2.5-coder-0.5b", "temperature": 0.0, "max_tokens": 256, "system_prompt": ""});
    let body = json!({"agent": "cameras", "settings": greedy});
    let (status, session) = rest(&alice, Method::POST, "sessions/", Some(body)).await;
    assert_eq!(status, 201, "{session}");
    let session = session["id"].as_i64().unwrap();
    let reply = answer(&alice, session, "How many cats did cam0 see today?").await;
    assert_eq!(reply["status"], "complete", "{reply}");
    let parts = reply["parts"].as_array().unwrap_or_else(|| panic!("no parts: {reply}"));
    let call = &parts[0]["part"];
    assert_eq!(
        (call["type"].as_str(), call["name"].as_str()),
        (Some("tool_call"), Some("how_many")),
        "{reply}"
    );
    assert_eq!(parts[1]["part"]["result"]["count"], 4, "{reply}");
    assert!(reply["content"].as_str().unwrap().contains('4'), "the answer gives the number: {reply}");

    let reply = answer(&alice, session, "When did cam0 last see a cat?").await;
    let kinds: Vec<(&str, &str)> = reply["parts"]
        .as_array()
        .unwrap_or_else(|| panic!("no parts: {reply}"))
        .iter()
        .map(|p| {
            (
                p["part"]["type"].as_str().unwrap(),
                p["part"]["name"].as_str().or(p["part"]["kind"].as_str()).unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(kinds[0], ("tool_call", "last_seen"), "{reply}");
    assert!(kinds.contains(&("widget", "image")), "the thumbnail is shown: {reply}");
    assert_eq!(reply["status"], "complete");

    let body = json!({"agent": "cameras", "settings": greedy});
    let (_, fresh) = rest(&alice, Method::POST, "sessions/", Some(body)).await;
    let mut socket = open_session(&app, &alice, fresh["id"].as_i64().unwrap()).await;
    let slow = std::time::Duration::from_secs(120);
    ask(&mut socket, "Tell me when a dog shows up on cam1").await;
    let call = next_json_within(&mut socket, slow).await;
    assert_eq!(
        (call["type"].as_str(), call["name"].as_str()),
        (Some("tool_call"), Some("alert_me_when")),
        "{call}"
    );
    let request = next_json(&mut socket).await;
    assert_eq!(request["type"], "approval_request", "{request}");
    send(
        &mut socket,
        &json!({"type": "approve", "call_id": request["call_id"], "approved": true}).to_string(),
    )
    .await;
    let message = loop {
        let frame = next_json_within(&mut socket, slow).await;
        if frame["type"] == "ai_message_complete" {
            break frame["message"].clone();
        }
    };
    assert_eq!(message["status"], "complete", "{message}");
    let rules = alice.call_ok("rules", &[]).await;
    assert_eq!(
        (rules[0]["labels"].as_str(), rules[0]["stream"].as_str()),
        (Some("dog"), Some("cam1")),
        "{rules}"
    );
}

/// The evaluation set (`tests/camera_eval/`) with the default model at the session's default
/// settings: on the held-out part, the right tool with the right arguments for 90 % of the
/// questions, and 95 % of the answers grounded; the development part is scored and printed beside
/// it. (Speed is the `assistant` benchmark's.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_assistant_answers_questions_it_was_not_tuned_on_from_the_data() {
    let app = spawn_app().await;
    let world = seed(&app).await;
    let dev = run(&app, &world, None, &part(DEV)).await;
    let held_out = run(&app, &world, None, &part(HELD_OUT)).await;
    let (dev_score, held_score) = (score(&dev), score(&held_out));
    println!("{HEADING}\n{}\n{}", row("development", &dev_score), row("held-out", &held_score));
    println!("development, wrong:\n{}", failures(&dev));
    println!("held-out per tool:\n{}", per_tool(&held_out));
    // Only the held-out figures are told, never its questions: it is not tuned on.
    assert!(held_score.right_call >= 90.0, "right tool and arguments: {held_score:?}");
    assert!(held_score.grounded >= 95.0, "grounded: {held_score:?}");
}

/// The evaluation's grounding checker.
#[test]
fn a_fact_the_tools_did_not_return_is_caught() {
    let cameras = vec!["cam0".to_owned(), "door".to_owned(), "garden-2".to_owned()];
    let labels = vec!["cat".to_owned(), "tabby".to_owned(), "dog".to_owned(), "person".to_owned()];
    let ground = r#"{"camera":"cam0","label":"cat","count":7,"when":"today at 14:05 (20 min ago)"}"#;
    let fine = "cam0 saw a cat 7 times today; the last at 14:05, 20 min ago.";
    assert!(ungrounded(fine, ground, &cameras, &labels).is_empty());
    assert_eq!(ungrounded("cam0 saw 12 cats today.", ground, &cameras, &labels), ["n:12"]);
    assert_eq!(ungrounded("cam2 saw a cat 7 times.", ground, &cameras, &labels), ["c:cam2"]);
    assert_eq!(ungrounded("door saw a cat once.", ground, &cameras, &labels), ["c:door", "n:1"]);
    assert_eq!(ungrounded("A dog showed up at 3:00 PM.", ground, &cameras, &labels), ["l:dog", "t:3:00"]);
    assert_eq!(
        ungrounded("Two people came by.", ground, &cameras, &labels),
        ["l:person", "n:2"].map(String::from)
    );
    assert_eq!(ungrounded(r#"{"name": "count_events"}"#, ground, &cameras, &labels).len(), 3);
    assert!(ungrounded("Hello! How can I help?", "", &cameras, &labels).is_empty());
}
