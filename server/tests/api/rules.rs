use std::sync::{Arc, Mutex};

use app::backend::events::{EventHandler, NewEvent, SCORE_WINDOW};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::events::event;
use crate::helpers::{TestApp, TestUser, spawn_app, spawn_app_extended, spawn_app_with};
use crate::sockets::{Socket, connect_as, next_json, next_of_type, send};
use server::Extensions;

/// Form fields of a rule on stream `cam0` for cats.
fn cat_rule<'a>(cooldown: &'a str, webhook: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("rule[name]", "Cat at the door"),
        ("rule[labels]", "tabby, tiger cat"),
        ("rule[min_score]", "0.6"),
        ("rule[stream]", "cam0"),
        ("rule[cooldown_secs]", cooldown),
        ("rule[webhook_url]", webhook),
    ]
}

async fn camera(app: &TestApp, user: &TestUser) -> Socket {
    let mut socket = connect_as(app, "/ws/events/cam0", user).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    socket
}

/// Sends events `seqs` with `score` each and waits for their acknowledgements.
async fn send_events(socket: &mut Socket, seqs: std::ops::RangeInclusive<u64>, score: f64) {
    for seq in seqs {
        send(socket, &event(seq, score).to_string()).await;
        assert_eq!(next_json(socket).await["type"], "ack");
    }
}

async fn alerts(user: &TestUser) -> Vec<Value> {
    user.call_ok("alerts", &[]).await.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_fires_on_the_median_once_per_cooldown_and_reaches_open_pages() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let rule = alice.call_ok("rules/save", &cat_rule("3600", "")).await;
    assert_eq!(rule["name"], "Cat at the door");
    let mut page = connect_as(&app, "/ws/live", &alice).await;
    let mut socket = camera(&app, &alice).await;

    // One confident frame among weak ones does not fire: the median stays low.
    send_events(&mut socket, 1..=1, 0.9).await;
    send_events(&mut socket, 2..=3, 0.2).await;
    send_events(&mut socket, 4..=(3 + SCORE_WINDOW as u64), 0.8).await;
    let alert = next_of_type(&mut page, "alert").await;
    assert_eq!(
        (alert["rule_name"].as_str(), alert["label"].as_str()),
        (Some("Cat at the door"), Some("tabby"))
    );
    assert_eq!(alert["rule_id"], rule["id"]);

    // Within the cooldown the cat stays, but no second alert is recorded. A probe rule that fires
    // on every event, evaluated after the first, shows when the engine has seen them all.
    let probe = [
        ("rule[name]", "probe"),
        ("rule[labels]", "tabby"),
        ("rule[min_score]", "0"),
        ("rule[cooldown_secs]", "0"),
    ];
    alice.call_ok("rules/save", &probe).await;
    send_events(&mut socket, 10..=20, 0.9).await;
    let mut probed = 0;
    while probed < 11 - (SCORE_WINDOW - 1) {
        let alert = next_of_type(&mut page, "alert").await;
        assert_eq!(alert["rule_name"], "probe", "the cat rule is cooling down");
        probed += 1;
    }
    let listed = alerts(&alice).await;
    let cats: Vec<_> = listed.iter().filter(|a| a["rule_name"] == "Cat at the door").collect();
    assert_eq!(cats.len(), 1, "{listed:?}");
    assert!((cats[0]["score"].as_f64().unwrap() - 0.8).abs() < 1e-6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_rules_do_not_fire_and_rules_are_edited_and_deleted_by_their_owner_only() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let rule = alice.call_ok("rules/save", &cat_rule("0", "")).await;
    let id = rule["id"].to_string();
    alice.call_ok("rules/pause", &[("id", &id), ("paused", "true")]).await;
    let mut socket = camera(&app, &alice).await;
    send_events(&mut socket, 1..=5, 0.9).await;
    assert!(alerts(&alice).await.is_empty());

    for (name, fields) in [
        ("rules/pause", vec![("id", id.as_str()), ("paused", "false")]),
        ("rules/delete", vec![("id", id.as_str())]),
    ] {
        assert_eq!(bob.call(name, &fields).await.status(), StatusCode::NOT_FOUND, "{name}");
    }
    let mut edit = cat_rule("0", "");
    edit.push(("id", &id));
    edit[0] = ("rule[name]", "Renamed");
    assert_eq!(bob.call("rules/save", &edit).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(alice.call_ok("rules/save", &edit).await["name"], "Renamed");
    assert!(bob.call_ok("rules", &[]).await.as_array().unwrap().is_empty());

    alice.call_ok("rules/delete", &[("id", &id)]).await;
    assert!(alice.call_ok("rules", &[]).await.as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rules_are_refused_with_the_reason() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let mut fields = cat_rule("60", "ftp://example.com");
    let response = alice.call("rules/save", &fields).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("webhook"));
    fields[2] = ("rule[min_score]", "2");
    fields[5] = ("rule[webhook_url]", "");
    assert_eq!(alice.call("rules/save", &fields).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_is_retried_until_it_accepts_the_alert() {
    // A webhook receiver that fails the first request and accepts the next.
    let (received, mut bodies) = mpsc::unbounded_channel::<Value>();
    let calls = Arc::new(Mutex::new(0));
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let (received, calls) = (received.clone(), Arc::clone(&calls));
            async move {
                let _ = received.send(body);
                let mut calls = calls.lock().unwrap();
                *calls += 1;
                if *calls == 1 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::NO_CONTENT }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let app = spawn_app_with(allow_loopback).await;
    let alice = app.sign_up("alice").await;
    alice.call_ok("rules/save", &cat_rule("0", &hook)).await;
    let mut socket = camera(&app, &alice).await;
    send_events(&mut socket, 1..=SCORE_WINDOW as u64, 0.9).await;

    let first = bodies.recv().await.unwrap();
    let second = bodies.recv().await.unwrap();
    assert_eq!(first, second, "the retry sends the same alert");
    assert_eq!(first["label"], "tabby");
    loop {
        let listed = alerts(&alice).await;
        if listed[0]["webhook_status"] == "delivered" {
            break;
        }
        assert_eq!(listed[0]["webhook_status"], "pending");
        tokio::task::yield_now().await;
    }
}

/// An intranet deployment's setting: webhooks may reach 127.0.0.0/8.
fn allow_loopback(config: &mut server::Config) {
    config.webhook_allow = vec!["127.0.0.0/8".to_owned()].try_into().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_to_internal_addresses_are_refused_with_the_reason() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    for hook in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/",
    ] {
        let response = alice.call("rules/save", &cat_rule("0", hook)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{hook}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "bad_request");
        assert!(error["message"].as_str().unwrap().contains("private, loopback or link-local"), "{error}");
    }
    assert!(alice.call_ok("rules", &[]).await.as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_redirected_to_an_internal_address_is_not_followed() {
    // The allowed receiver (127.0.0.2) redirects to one the policy does not allow (127.0.0.1).
    let (hit, mut hits) = mpsc::unbounded_channel::<()>();
    let internal = axum::Router::new().route(
        "/secret",
        axum::routing::post(move || {
            let _ = hit.send(());
            async { StatusCode::OK }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let secret = format!("http://{}/secret", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, internal).await });
    let redirector = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let secret = secret.clone();
            async move { axum::response::Redirect::temporary(&secret) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirector).await });

    let app =
        spawn_app_with(|config| config.webhook_allow = vec!["127.0.0.2".to_owned()].try_into().unwrap())
            .await;
    let alice = app.sign_up("alice").await;
    alice.call_ok("rules/save", &cat_rule("0", &hook)).await;
    let mut socket = camera(&app, &alice).await;
    send_events(&mut socket, 1..=SCORE_WINDOW as u64, 0.9).await;
    loop {
        let listed = alerts(&alice).await;
        if let Some(status) = listed.first().and_then(|alert| alert["webhook_status"].as_str())
            && status != "pending"
        {
            assert!(status.starts_with("refused"), "{status}");
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(hits.try_recv().is_err(), "the internal address was never reached");
}

/// An application's own handler: counts what it sees.
struct Recorder(mpsc::UnboundedSender<NewEvent>);

impl EventHandler for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn handle(&self, event: &NewEvent) {
        let _ = self.0.send(event.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_handlers_see_each_stored_event_once() {
    let (seen, mut events) = mpsc::unbounded_channel();
    let app = spawn_app_extended(
        |_| {},
        Extensions { handlers: vec![Arc::new(Recorder(seen))], ..Extensions::default() },
    )
    .await;
    let alice = app.sign_up("alice").await;
    let mut socket = camera(&app, &alice).await;
    send_events(&mut socket, 1..=2, 0.7).await;
    send(&mut socket, &event(2, 0.7).to_string()).await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "ack", "producer": "page-1", "seq": 2, "duplicate": true})
    );

    let first = events.recv().await.unwrap();
    let second = events.recv().await.unwrap();
    assert_eq!((first.event.stream.as_str(), first.event.top_label.as_str()), ("cam0", "tabby"));
    assert_eq!(first.classifications[0].categories.len(), 2);
    assert!(second.event.id > first.event.id);
    assert!(events.try_recv().is_err(), "the re-sent event is not handled again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_says_when_what_it_saw_left_and_a_rule_can_wait_for_a_label_to_stay() {
    let app = spawn_app_with(|config| config.sightings.absent_secs = 1).await;
    let alice = app.sign_up("alice").await;
    let mut staying = cat_rule("0", "");
    staying.extend([("rule[name]", "Cat stays"), ("rule[stays_secs]", "600")]);
    staying.remove(0);
    let rule = alice.call_ok("rules/save", &staying).await;
    assert_eq!((rule["name"].as_str(), rule["stays_secs"].as_u64()), (Some("Cat stays"), Some(600)));
    let mut too_long = cat_rule("0", "");
    too_long.push(("rule[stays_secs]", "3601"));
    assert_eq!(alice.call("rules/save", &too_long).await.status(), StatusCode::BAD_REQUEST);
    alice.call_ok("rules/save", &cat_rule("3600", "")).await;

    let mut page = connect_as(&app, "/ws/live", &alice).await;
    let mut socket = camera(&app, &alice).await;
    send_events(&mut socket, 1..=(SCORE_WINDOW as u64), 0.9).await;
    let alert = next_of_type(&mut page, "alert").await;
    assert_eq!(alert["rule_name"], "Cat at the door", "the cat did not stay ten minutes");
    assert_eq!(alert["left_at"], Value::Null);
    let sighting_id = alert["sighting_id"].clone();
    assert!(sighting_id.is_i64(), "{alert}");
    assert_eq!(alerts(&alice).await[0]["sighting_id"], sighting_id);

    let left = loop {
        let sighting = next_of_type(&mut page, "sighting").await;
        if !sighting["ended_at"].is_null() {
            break sighting;
        }
    };
    assert_eq!(left["id"], sighting_id);
    let listed = alerts(&alice).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["left_at"], left["ended_at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_for_a_kind_fires_on_its_breeds() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let mut kind = cat_rule("3600", "");
    kind[0] = ("rule[name]", "cat on cam0");
    kind[1] = ("rule[labels]", "cats");
    alice.call_ok("rules/save", &kind).await;
    let mut page = connect_as(&app, "/ws/live", &alice).await;
    let mut socket = camera(&app, &alice).await;
    // The camera names the breed ("tabby"); the rule, as the camera assistant writes it, the kind.
    send_events(&mut socket, 1..=(SCORE_WINDOW as u64), 0.8).await;
    let alert = next_of_type(&mut page, "alert").await;
    assert_eq!((alert["rule_name"].as_str(), alert["label"].as_str()), (Some("cat on cam0"), Some("tabby")));
}
