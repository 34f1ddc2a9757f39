//! The chat: replies streamed from a (fake) OpenAI-compatible server over the session websocket,
//! stop, resume, idempotent sends, failures and retries, and the REST API.

use app::backend::chat::providers::UpstreamConfig;
use serde_json::{Value, json};

use crate::fake_upstream::{self, FakeUpstream, JSON_REPLY, REPLY, TOOL_ARGUMENTS};
use crate::helpers::{TestApp, TestUser, spawn_app_with};
use crate::sockets::{Socket, connect_as, next_json, send};

/// The provider `fake/fake-model` served by `fake`.
pub fn fake_provider(fake: &FakeUpstream) -> UpstreamConfig {
    let mut upstream = UpstreamConfig::new("fake", &fake.base_url);
    upstream.models = vec!["fake-model".into()];
    upstream.retry_base_ms = 10;
    upstream
}

pub async fn chat_app(adjust: impl FnOnce(&mut UpstreamConfig)) -> (TestApp, FakeUpstream) {
    let fake = fake_upstream::start().await;
    let mut upstream = fake_provider(&fake);
    adjust(&mut upstream);
    let app = spawn_app_with(|config| {
        config.chat.providers = vec![upstream];
        config.agent_examples = true;
    })
    .await;
    (app, fake)
}

pub async fn rest(user: &TestUser, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = user.client.request(method, format!("{}/ai-chat/api/{path}", user.address));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn new_session(user: &TestUser) -> i64 {
    let (status, session) = rest(user, reqwest::Method::POST, "sessions/", Some(json!({}))).await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["model"], "fake/fake-model", "the first configured model is the default");
    session["id"].as_i64().unwrap()
}

pub async fn open_session(app: &TestApp, user: &TestUser, session: i64) -> Socket {
    let mut socket = connect_as(app, &format!("/ws/ai-chat/session/{session}/"), user).await;
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["type"], "connection_established");
    assert_eq!(hello["session_id"], session);
    socket
}

/// Sends a message and reads up to the reply's start; returns the reply's id.
pub async fn ask(socket: &mut Socket, message: &str, client_id: &str) -> i64 {
    let frame = json!({"type": "send_message", "message": message, "client_id": client_id});
    send(socket, &frame.to_string()).await;
    let user = next_json(socket).await;
    assert_eq!(user["type"], "user_message", "{user}");
    assert_eq!(user["message"]["content"], message);
    let typing = next_json(socket).await;
    assert_eq!(typing["type"], "ai_typing", "{typing}");
    assert_eq!(typing["message"]["status"], "streaming");
    typing["message"]["id"].as_i64().unwrap()
}

/// Reads chunks until the reply ends; checks their sequence numbers run 1, 2, 3, … from `first`.
pub async fn read_reply(socket: &mut Socket, reply: i64, first: u64) -> (String, Value) {
    let mut text = String::new();
    let mut expected = first;
    loop {
        let frame = next_json(socket).await;
        match frame["type"].as_str() {
            Some("ai_message_chunk") => {
                assert_eq!(frame["message_id"], reply);
                assert_eq!(frame["seq"], expected, "chunks arrive in order, none missing");
                expected += 1;
                text.push_str(frame["content"].as_str().unwrap());
            }
            Some("ai_message_complete") => return (text, frame["message"].clone()),
            Some("error") => assert_eq!(frame["code"], "upstream", "{frame}"),
            _ => panic!("unexpected {frame}"),
        }
    }
}

pub async fn stored(app: &TestApp, message: i64) -> (String, String, Option<String>) {
    let mut db = app.database().await;
    sqlx::query_as("SELECT content, status, error FROM chat_messages WHERE id = $1")
        .bind(message)
        .fetch_one(&mut db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_streams_as_ordered_deltas_and_is_stored_with_its_usage() {
    let (app, fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = new_session(&alice).await;
    let mut socket = open_session(&app, &alice, session).await;
    let reply = ask(&mut socket, "Hi there\nsecond line", "c1").await;
    let (text, message) = read_reply(&mut socket, reply, 1).await;
    assert_eq!(text, REPLY);
    assert_eq!(message["content"], REPLY);
    assert_eq!(message["status"], "complete");
    assert_eq!(message["finish_reason"], "stop");
    assert_eq!(message["usage"]["prompt_tokens"], 12);
    assert_eq!(stored(&app, reply).await, (REPLY.to_owned(), "complete".to_owned(), None));
    let body = fake.seen.last_body.lock().unwrap().clone();
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "fake-model", "the provider prefix is not sent upstream");
    let (_, session) = rest(&alice, reqwest::Method::GET, &format!("sessions/{session}/"), None).await;
    assert_eq!(session["title"], "Hi there", "the title comes from the first message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_client_id_is_answered_from_the_store_not_duplicated() {
    let (app, fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = new_session(&alice).await;
    let mut socket = open_session(&app, &alice, session).await;
    let reply = ask(&mut socket, "Once only", "same-id").await;
    read_reply(&mut socket, reply, 1).await;
    send(
        &mut socket,
        &json!({"type": "send_message", "message": "Once only", "client_id": "same-id"}).to_string(),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["type"], "user_message");
    let again = next_json(&mut socket).await;
    assert_eq!(again["type"], "ai_message_complete");
    assert_eq!(again["message"]["id"], reply);
    assert_eq!(fake.seen.requests_for("Once only"), 1);
    let (_, page) = rest(&alice, reqwest::Method::GET, &format!("sessions/{session}/messages/"), None).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_turn_starts_from_the_session_as_it_is_now() {
    // A session's next turn is read ahead when its socket opens and after each reply; every
    // change between turns must still reach the next one.
    let (app, fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = new_session(&alice).await;
    let mut socket = open_session(&app, &alice, session).await;
    let reply = ask(&mut socket, "First question", "t1").await;
    read_reply(&mut socket, reply, 1).await;
    let settings = json!({"model": "fake/fake-model", "temperature": 0.25, "max_tokens": 77, "system_prompt": "Be brief."});
    let (status, _) = rest(
        &alice,
        reqwest::Method::PATCH,
        &format!("sessions/{session}/"),
        Some(json!({"settings": settings})),
    )
    .await;
    assert_eq!(status, 200);
    let reply = ask(&mut socket, "Second question", "t2").await;
    read_reply(&mut socket, reply, 1).await;
    let body = fake.seen.last_body.lock().unwrap().clone();
    assert_eq!(body["temperature"], 0.25, "{body}");
    assert_eq!(body["max_tokens"], 77);
    let said: Vec<&str> =
        body["messages"].as_array().unwrap().iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(said, ["Be brief.", "First question", REPLY, "Second question"]);
    // Archived between turns: refused, though the socket was open all along.
    rest(&alice, reqwest::Method::PATCH, &format!("sessions/{session}/"), Some(json!({"archived": true})))
        .await;
    send(&mut socket, &json!({"type": "send_message", "message": "Third", "client_id": "t3"}).to_string())
        .await;
    let refused = next_json(&mut socket).await;
    assert_eq!(refused["code"], "conflict", "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_given_in_part_take_the_rest_from_the_defaults_or_the_session() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let (_, defaults) = rest(&alice, reqwest::Method::POST, "sessions/", Some(json!({}))).await;
    let new = json!({"settings": {"model": "fake/fake-model"}});
    let (status, session) = rest(&alice, reqwest::Method::POST, "sessions/", Some(new)).await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["model"], "fake/fake-model");
    assert_eq!(session["temperature"], defaults["temperature"]);
    assert_eq!(session["max_tokens"], defaults["max_tokens"]);
    let path = format!("sessions/{}/", session["id"]);
    let change = json!({"settings": {"temperature": 0.2, "system_prompt": "Be brief."}});
    let (status, changed) = rest(&alice, reqwest::Method::PATCH, &path, Some(change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["model"], "fake/fake-model", "what was not given stays");
    assert_eq!(changed["system_prompt"], "Be brief.");
    assert!((changed["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    let out_of_range = json!({"settings": {"max_tokens": 0}});
    let (status, error) = rest(&alice, reqwest::Method::PATCH, &path, Some(out_of_range)).await;
    assert_eq!(status, 400, "{error}");
    let unknown = json!({"settings": {"model": "nobody/nothing"}});
    let (status, _) = rest(&alice, reqwest::Method::POST, "sessions/", Some(unknown)).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_model_is_listed_while_its_server_is_down() {
    // Nothing listens on the discard port: the server is down from start-up on.
    let mut down = UpstreamConfig::new("down", "http://127.0.0.1:9/v1");
    down.models = vec!["m1".into()];
    let app = spawn_app_with(|config| {
        config.chat.providers = vec![down];
        config.chat.default_model = Some("down/m2".into());
    })
    .await;
    let alice = app.sign_up("alice").await;
    let (status, models) = rest(&alice, reqwest::Method::GET, "models/", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> =
        models["models"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(models["default_model"], "down/m2");
    for id in ["down/m1", "down/m2", "local/qwen2.5-coder-0.5b"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let (_, synced) = rest(&alice, reqwest::Method::POST, "models/sync_models/", None).await;
    assert_eq!(synced["failed"][0]["provider"], "down", "{synced}");
    let (_, after) = rest(&alice, reqwest::Method::GET, "models/", None).await;
    assert_eq!(after["models"], models["models"], "a failed sync takes nothing away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_keeps_the_partial_text_and_cancels_the_upstream_request() {
    let (app, fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = new_session(&alice).await;
    let mut socket = open_session(&app, &alice, session).await;
    let reply = ask(&mut socket, "[slow] count", "c1").await;
    for seq in 1..=3 {
        assert_eq!(next_json(&mut socket).await["seq"], seq);
    }
    send(&mut socket, r#"{"type": "stop"}"#).await;
    let (rest_of_text, message) = read_reply(&mut socket, reply, 4).await;
    assert_eq!(message["status"], "stopped");
    let content = message["content"].as_str().unwrap();
    assert!(content.starts_with("w1 w2 w3 ") && content.ends_with(&rest_of_text), "{content}");
    assert!(!content.contains("w100"), "stopped before the end");
    fake.seen.cancellations(1).await;
    assert_eq!(stored(&app, reply).await.1, "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_outlives_its_page_and_a_new_page_resumes_it_exactly() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = new_session(&alice).await;
    let mut first = open_session(&app, &alice, session).await;
    let reply = ask(&mut first, "[slow] keep going", "c1").await;
    assert_eq!(next_json(&mut first).await["seq"], 1);
    drop(first);

    let mut second = connect_as(&app, &format!("/ws/ai-chat/session/{session}/"), &alice).await;
    let hello = next_json(&mut second).await;
    assert_eq!(hello["streaming_message_id"], reply, "the new page learns a reply is being written");
    send(&mut second, &json!({"type": "resume", "message_id": reply, "after_seq": 0}).to_string()).await;
    let (text, message) = read_reply(&mut second, reply, 1).await;
    let expected: String = (1..=100).map(|i| format!("w{i} ")).collect();
    assert_eq!(text, expected, "the replay plus the live part is the whole reply");
    assert_eq!(message["status"], "complete");
    assert_eq!(stored(&app, reply).await.0, expected);

    let mut third = open_session(&app, &alice, session).await;
    send(&mut third, &json!({"type": "resume", "message_id": reply, "after_seq": 5}).to_string()).await;
    let done = next_json(&mut third).await;
    assert_eq!(done["type"], "ai_message_complete", "a finished reply is sent whole");
    assert_eq!(done["message"]["content"], expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_end_the_reply_with_an_error_after_retrying_what_can_be_retried() {
    let (app, fake) = chat_app(|upstream| upstream.first_token_timeout_secs = 1).await;
    let alice = app.sign_up("alice").await;
    let session = new_session(&alice).await;
    let mut socket = open_session(&app, &alice, session).await;

    let reply = ask(&mut socket, "[429] once", "a").await;
    let (text, message) = read_reply(&mut socket, reply, 1).await;
    assert_eq!((text.as_str(), &message["status"]), (REPLY, &json!("complete")));
    assert_eq!(fake.seen.requests_for("[429] once"), 2, "a 429 before the first token is retried");

    let reply = ask(&mut socket, "[fail] always", "b").await;
    let error = next_json(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "upstream");
    assert!(error["message"].as_str().unwrap().contains("500"), "{error}");
    let complete = next_json(&mut socket).await;
    assert_eq!(complete["message"]["status"], "error");
    assert_eq!(fake.seen.requests_for("[fail] always"), 4, "three retries with back-off");
    assert_eq!(stored(&app, reply).await.1, "error");

    let reply = ask(&mut socket, "[drop] midway", "c").await;
    let (text, message) = read_reply(&mut socket, reply, 1).await;
    assert_eq!(text, "Hello from ", "the text before the cut is kept");
    assert_eq!(message["status"], "error");
    assert_eq!(fake.seen.requests_for("[drop] midway"), 1, "no retry once tokens were sent");

    let reply = ask(&mut socket, "[silent] please", "d").await;
    let (_, message) = read_reply(&mut socket, reply, 1).await;
    assert_eq!(message["status"], "error");
    assert!(message["error"].as_str().unwrap().contains("first token"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_typed_errors_and_the_session_stays_usable() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = new_session(&alice).await;
    let mut socket = open_session(&app, &alice, session).await;
    for (frame, code) in [
        ("{not json", "bad_request"),
        (r#"{"type": "send_message"}"#, "bad_request"),
        (r#"{"type": "send_message", "message": "   "}"#, "bad_request"),
        (r#"{"type": "send_message", "message": "hi", "client_id": "has space"}"#, "bad_request"),
        (r#"{"type": "resume", "message_id": 999, "after_seq": 0}"#, "not_found"),
        (r#"{"type": "stop"}"#, "conflict"),
        (r#"{"type": "regenerate"}"#, "conflict"),
    ] {
        send(&mut socket, frame).await;
        let reply = next_json(&mut socket).await;
        assert_eq!((reply["type"].as_str(), reply["code"].as_str()), (Some("error"), Some(code)), "{frame}");
    }
    send(&mut socket, r#"{"type": "ping"}"#).await;
    assert_eq!(next_json(&mut socket).await["type"], "pong");
    let reply = ask(&mut socket, "Still here?", "ok").await;
    assert_eq!(read_reply(&mut socket, reply, 1).await.1["status"], "complete");

    let bob = app.sign_up("bob").await;
    let refused = crate::sockets::connect(
        &app,
        &format!("/ws/ai-chat/session/{session}/"),
        &[("cookie", bob.cookies()), ("origin", app.address.clone())],
    )
    .await;
    assert_eq!(crate::sockets::status_of(refused), 404, "another user's session does not exist for bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_manages_sessions_messages_presets_and_models() {
    use reqwest::Method;
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = new_session(&alice).await;

    let (status, answer) = rest(
        &alice,
        Method::POST,
        &format!("sessions/{session}/send_message/"),
        Some(json!({"message": "REST hi"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["reply"]["content"], REPLY);
    assert_eq!(answer["reply"]["status"], "complete");

    let (status, renamed) =
        rest(&alice, Method::PATCH, &format!("sessions/{session}/"), Some(json!({"title": "Renamed"}))).await;
    assert_eq!((status, renamed["title"].as_str()), (200, Some("Renamed")));
    let (status, error) =
        rest(&alice, Method::PATCH, &format!("sessions/{session}/"), Some(json!({"title": 5}))).await;
    assert_eq!((status, error["code"].as_str()), (422, Some("unprocessable")));
    let settings =
        json!({"model": "fake/fake-model", "temperature": 9.0, "max_tokens": 10, "system_prompt": ""});
    let (status, error) =
        rest(&alice, Method::PATCH, &format!("sessions/{session}/"), Some(json!({"settings": settings})))
            .await;
    assert_eq!(status, 400, "{error}");
    assert!(error["message"].as_str().unwrap().contains("temperature"));

    let (_, found) = rest(&alice, Method::GET, "sessions/?search=renam", None).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(rest(&alice, Method::DELETE, &format!("sessions/{session}/"), None).await.0, 204);
    let (_, listed) = rest(&alice, Method::GET, "sessions/", None).await;
    assert!(listed.as_array().unwrap().is_empty(), "an archived session leaves the list");
    let (_, archived) = rest(&alice, Method::GET, "sessions/?archived=true", None).await;
    assert_eq!(archived[0]["id"], session);
    rest(&alice, Method::PATCH, &format!("sessions/{session}/"), Some(json!({"archived": false}))).await;
    let (_, page) = rest(&alice, Method::GET, &format!("sessions/{session}/messages/"), None).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 2, "a restored session keeps its messages");

    let bob = app.sign_up("bob").await;
    assert_eq!(rest(&bob, Method::GET, &format!("sessions/{session}/"), None).await.0, 404);
    assert_eq!(rest(&bob, Method::DELETE, &format!("sessions/{session}/?permanent=true"), None).await.0, 404);
    assert_eq!(rest(&app.browser(), Method::GET, "sessions/", None).await.0, 401);

    let preset = json!({"name": "Terse", "model": "fake/fake-model", "temperature": 0.2, "max_tokens": 64,
                        "system_prompt": "Answer in one line.", "public": true});
    let (status, preset) = rest(&alice, Method::POST, "presets/", Some(preset)).await;
    assert_eq!(status, 201, "{preset}");
    let preset_id = preset["id"].as_i64().unwrap();
    let (_, bobs) = rest(&bob, Method::GET, "presets/", None).await;
    assert_eq!((bobs[0]["name"].as_str(), bobs[0]["mine"].as_bool()), (Some("Terse"), Some(false)));
    let (status, from_preset) =
        rest(&bob, Method::POST, &format!("presets/{preset_id}/create_session_from_preset/"), None).await;
    assert_eq!(status, 201);
    assert_eq!(from_preset["system_prompt"], "Answer in one line.");
    assert_eq!(rest(&bob, Method::DELETE, &format!("presets/{preset_id}/"), None).await.0, 404);
    assert_eq!(rest(&alice, Method::DELETE, &format!("presets/{preset_id}/"), None).await.0, 204);

    let (_, models) = rest(&alice, Method::GET, "models/", None).await;
    let ids: Vec<&str> =
        models["models"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert!(ids.contains(&"fake/fake-model") && ids.contains(&"local/gemma-3-270m"), "{ids:?}");
    let (status, synced) = rest(&alice, Method::POST, "models/sync_models/", None).await;
    assert_eq!((status, synced["failed"].as_array().map(Vec::len)), (200, Some(0)));
    let (_, health) = rest(&alice, Method::GET, "health/llm_server/", None).await;
    assert_eq!(health["ok"], true, "{health}");
    let (_, stats) = rest(&alice, Method::GET, "health/stats/", None).await;
    assert_eq!((stats["user_messages"].as_i64(), stats["replies"].as_i64()), (Some(1), Some(1)));

    assert_eq!(
        rest(&alice, Method::DELETE, &format!("sessions/{session}/?permanent=true"), None).await.0,
        204
    );
    assert_eq!(rest(&alice, Method::GET, &format!("sessions/{session}/"), None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_schema_reply_is_asked_upstream_stored_and_returned_as_json() {
    use reqwest::Method;
    let (app, fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = new_session(&alice).await;
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                        "required": ["city", "country"]});
    let format =
        json!({"type": "json_schema", "json_schema": {"name": "place", "schema": schema, "strict": true}});

    // REST: the format goes upstream as given; the answer carries the document parsed.
    let path = format!("sessions/{session}/send_message/");
    let ask = json!({"message": "Where is the Eiffel Tower? [json]", "response_format": format});
    let (status, answer) = rest(&alice, Method::POST, &path, Some(ask)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(fake.seen.last_body.lock().unwrap()["response_format"], format);
    assert_eq!(answer["data"], json!({"city": "Paris", "country": "France"}));
    assert_eq!(answer["reply"]["content"], JSON_REPLY);
    assert_eq!(answer["reply"]["response_format"], format, "the reply says what it follows");
    assert_eq!(answer["user_message"]["response_format"], format);

    // The websocket: the reply streams as it does for text, and says its format from the start.
    let mut socket = open_session(&app, &alice, session).await;
    let frame = json!({"type": "send_message", "message": "Again [json]", "client_id": "j1",
                       "response_format": {"type": "json_object"}});
    send(&mut socket, &frame.to_string()).await;
    assert_eq!(next_json(&mut socket).await["message"]["response_format"]["type"], "json_object");
    let typing = next_json(&mut socket).await;
    assert_eq!(typing["message"]["response_format"], json!({"type": "json_object"}), "{typing}");
    let reply = typing["message"]["id"].as_i64().unwrap();
    let (text, _) = read_reply(&mut socket, reply, 1).await;
    assert_eq!(text, JSON_REPLY);
    assert_eq!(fake.seen.last_body.lock().unwrap()["response_format"], json!({"type": "json_object"}));

    // Regenerating answers in the format the message asked for.
    send(&mut socket, &json!({"type": "regenerate"}).to_string()).await;
    let typing = next_json(&mut socket).await;
    assert_eq!(typing["message"]["response_format"], json!({"type": "json_object"}), "{typing}");
    read_reply(&mut socket, typing["message"]["id"].as_i64().unwrap(), 1).await;
    assert_eq!(fake.seen.last_body.lock().unwrap()["response_format"], json!({"type": "json_object"}));

    // A format the server does not know is refused.
    let unknown = json!({"type": "send_message", "message": "x", "response_format": {"type": "yaml"}});
    send(&mut socket, &unknown.to_string()).await;
    let refused = next_json(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    drop(socket);

    // A plain message asks for no format.
    let (_, plain) = rest(&alice, Method::POST, &path, Some(json!({"message": "Plain"}))).await;
    assert!(plain.get("data").is_none() && plain["reply"].get("response_format").is_none(), "{plain}");
    assert!(fake.seen.last_body.lock().unwrap().get("response_format").is_none());

    // A bad format is refused before anything is stored.
    let bad = json!({"message": "x", "response_format": {"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}}});
    let (status, error) = rest(&alice, Method::POST, &path, Some(bad)).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("bad_request")), "{error}");
    let (_, page) = rest(&alice, Method::GET, &format!("sessions/{session}/messages/"), None).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 6, "three exchanges, nothing of the refused ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_compatible_server_s_tool_calls_stream_in_parts_and_come_together() {
    use app::backend::chat::providers::{
        ModelProvider, OpenAiCompatible, Prompt, ReplyEvent, ToolCalls, ToolDefinition, Turn,
    };
    let fake = fake_upstream::start().await;
    let provider = OpenAiCompatible::new(UpstreamConfig::new("fake", &fake.base_url)).unwrap();
    let tool = ToolDefinition {
        name: "count_events".into(),
        description: "How many times the cameras saw a label".into(),
        parameters: json!({"type": "object", "properties": {"label": {"type": "string"}}}),
    };
    let prompt =
        Prompt { tools: vec![tool], ..Prompt::new(vec![Turn::User("Cats? [tools]".into())], 0.0, 64) };
    let mut replies = provider.stream("fake-model", prompt);
    let answering = replies.recv().await.expect("an event").expect("no error");
    assert!(matches!(answering, ReplyEvent::Answering), "the server's answer is told first: {answering:?}");
    let (mut parts, mut calls) = (0, ToolCalls::default());
    let finish_reason = loop {
        match replies.recv().await.expect("the reply ends with Done").expect("no error") {
            ReplyEvent::ToolCall(part) => {
                parts += 1;
                calls.push(*part);
            }
            ReplyEvent::Delta(text) => panic!("no text expected: {text}"),
            ReplyEvent::Answering => panic!("the answer is told once"),
            ReplyEvent::Done { finish_reason, .. } => break finish_reason,
        }
    };
    assert_eq!(parts, 3, "the call streamed as it formed");
    assert_eq!(finish_reason.map(String::from).as_deref(), Some("tool_calls"));
    let calls = calls.finish().unwrap();
    assert!(calls[0].id.starts_with("call_fake_") && calls[0].name == "count_events", "{calls:?}");
    assert_eq!(calls[0].arguments, serde_json::from_str::<Value>(TOOL_ARGUMENTS).unwrap());
    let body = fake.seen.last_body.lock().unwrap().clone();
    assert_eq!(
        body["tools"][0],
        json!({"type": "function", "function": {
        "name": "count_events", "description": "How many times the cameras saw a label",
        "parameters": {"type": "object", "properties": {"label": {"type": "string"}}}}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_left_streaming_by_a_crash_are_marked_interrupted_at_start_up() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = new_session(&alice).await;
    let mut db = app.database().await;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO chat_messages (session_id, role, content, status, created_at, updated_at)
         VALUES ($1, 'assistant', 'half a rep', 'streaming', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id",
    )
    .bind(session)
    .fetch_one(&mut db)
    .await
    .unwrap();
    let database_url = app.database_url();
    let _restarted = spawn_app_with(|config| config.database_url = database_url).await;
    let (content, status, _) = stored(&app, id).await;
    assert_eq!((content.as_str(), status.as_str()), ("half a rep", "interrupted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_list_socket_pushes_each_change_to_the_owners_list() {
    use reqwest::Method;
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let mut list = connect_as(&app, "/ws/ai-chat/sessions/", &alice).await;
    assert_eq!(next_json(&mut list).await["type"], "connection_established");
    let session = new_session(&alice).await;
    let created = next_json(&mut list).await;
    assert_eq!(
        (created["type"].as_str(), &created["session"]["id"]),
        (Some("session_updated"), &json!(session))
    );
    rest(&alice, Method::PATCH, &format!("sessions/{session}/"), Some(json!({"title": "Named"}))).await;
    assert_eq!(next_json(&mut list).await["session"]["title"], "Named");
    rest(&alice, Method::DELETE, &format!("sessions/{session}/?permanent=true"), None).await;
    assert_eq!(next_json(&mut list).await, json!({"type": "session_deleted", "session_id": session}));
    send(&mut list, r#"{"type": "ping"}"#).await;
    assert_eq!(next_json(&mut list).await["type"], "pong");
}

/// Every `$ref` in `value`, e.g. `#/components/schemas/ChatSession`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_openapi_document_names_every_route_with_its_schemas() {
    let (app, _fake) = chat_app(|_| {}).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort_unstable();
    let mut expected = vec![
        "/ai-chat/api/agents/",
        "/ai-chat/api/files/{id}/",
        "/ai-chat/api/health/llm_server/",
        "/ai-chat/api/health/stats/",
        "/ai-chat/api/models/",
        "/ai-chat/api/models/sync_models/",
        "/ai-chat/api/presets/",
        "/ai-chat/api/presets/{id}/",
        "/ai-chat/api/presets/{id}/create_session_from_preset/",
        "/ai-chat/api/sessions/",
        "/ai-chat/api/sessions/{id}/",
        "/ai-chat/api/sessions/{id}/approve/",
        "/ai-chat/api/sessions/{id}/files/",
        "/ai-chat/api/sessions/{id}/messages/",
        "/ai-chat/api/sessions/{id}/send_message/",
        "/ai-chat/api/sessions/{id}/stop/",
        "/api/classify",
        "/api/events/{id}/thumbnail",
        "/api/me",
        "/healthz",
        "/readyz",
    ];
    expected.sort_unstable();
    assert_eq!(listed, expected, "every REST route, and nothing else");

    // Every schema an operation names is defined, and every JSON body has one.
    let mut targets = Vec::new();
    references(&doc["paths"], &mut targets);
    references(&doc["components"], &mut targets);
    assert!(targets.len() > 30, "operations refer to their types");
    for target in &targets {
        let name = target.strip_prefix("#/components/schemas/").expect("a schema reference");
        assert!(doc["components"]["schemas"][name].is_object(), "{target} is defined");
    }
    for name in
        ["ChatSession", "ChatMessage", "Preset", "ApiError", "MessagePage", "Classification", "AgentList"]
    {
        assert!(
            doc["components"]["schemas"][name]["properties"].is_object()
                || doc["components"]["schemas"][name]["allOf"].is_array(),
            "{name}"
        );
    }
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status != "204" {
                    assert!(
                        response["content"].as_object().is_some_and(|c| !c.is_empty()),
                        "{method} {path} {status} has a body schema"
                    );
                }
            }
            if let Some(body) = operation.get("requestBody") {
                assert!(
                    body["content"].as_object().is_some_and(|c| !c.is_empty()),
                    "{method} {path} request body"
                );
            }
            // Every operation that names the token scheme refuses a caller without credentials.
            if operation.get("security").is_some() {
                let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let url = app.url(&path.replace("{id}", "1"));
                let status =
                    app.client.request(method.clone(), url).json(&json!({})).send().await.unwrap().status();
                assert_eq!(status, 401, "{method} {path}");
            }
        }
    }
    assert_eq!(doc["components"]["securitySchemes"]["token"]["name"], "Authorization");
}
