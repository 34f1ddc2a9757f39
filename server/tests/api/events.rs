use std::collections::BTreeMap;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::sockets::{Socket, connect, connect_as, next_json, next_of_type, send, status_of};

/// A valid event: `seq` from producer `page-1`, top class tabby cat (281) at `score`.
pub fn event(seq: u64, score: f64) -> Value {
    json!({
        "type": "classification",
        "producer": "page-1",
        "seq": seq,
        "model": "efficientnet_lite0",
        "client_time": "2026-11-21T12:00:00Z",
        "classifications": [{
            "categories": [
                {"index": 281, "score": score, "categoryName": "tabby", "displayName": ""},
                {"index": 282, "score": 0.1, "categoryName": "tiger cat", "displayName": ""}
            ],
            "headIndex": 0,
            "headName": "probability"
        }]
    })
}

/// Signs up `name` and opens its stream `cam0`.
pub async fn open_stream(app: &TestApp, name: &str) -> Socket {
    let user = app.sign_up(name).await;
    let mut socket = connect_as(app, "/ws/events/cam0", &user).await;
    assert_eq!(next_json(&mut socket).await, json!({"type": "connection_established", "stream": "cam0"}));
    socket
}

async fn stored_events(app: &TestApp) -> Vec<(String, String, String, f64, i64)> {
    let mut db = app.database().await;
    sqlx::query_as(
        "SELECT u.username, e.stream, e.top_label, e.top_score, e.seq FROM classification_events e
         JOIN users u ON u.id = e.owner_id ORDER BY e.id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_event_is_stored_for_its_owner_and_acknowledged() {
    let app = spawn_app().await;
    let mut socket = open_stream(&app, "alice").await;
    send(&mut socket, &event(1, 0.8).to_string()).await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "ack", "producer": "page-1", "seq": 1, "duplicate": false})
    );
    let rows = stored_events(&app).await;
    assert_eq!(rows.len(), 1);
    let (owner, stream, label, score, seq) = &rows[0];
    assert_eq!((owner.as_str(), stream.as_str(), label.as_str(), *seq), ("alice", "cam0", "tabby", 1));
    assert!((score - 0.8).abs() < 1e-6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_sent_event_is_acknowledged_but_stored_once() {
    let app = spawn_app().await;
    let mut socket = open_stream(&app, "alice").await;
    for _ in 0..2 {
        send(&mut socket, &event(7, 0.8).to_string()).await;
    }
    let first = next_json(&mut socket).await;
    let second = next_json(&mut socket).await;
    let mut duplicates = [first["duplicate"].as_bool().unwrap(), second["duplicate"].as_bool().unwrap()];
    duplicates.sort();
    assert_eq!(duplicates, [false, true]);
    assert_eq!(stored_events(&app).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_flight_are_each_acknowledged_once_and_none_is_lost_when_the_page_closes() {
    let app = spawn_app_with(|config| config.websocket.burst = 200).await;
    let mut socket = open_stream(&app, "alice").await;
    // A hundred events sent without waiting, the 50th twice.
    for seq in (1..=100).chain([50]) {
        socket.feed(Message::Text(event(seq, 0.8).to_string().into())).await.unwrap();
    }
    socket.flush().await.unwrap();
    let mut heard: BTreeMap<u64, Vec<bool>> = BTreeMap::new();
    for _ in 0..101 {
        let ack = next_json(&mut socket).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        heard.entry(ack["seq"].as_u64().unwrap()).or_default().push(ack["duplicate"].as_bool().unwrap());
    }
    assert_eq!(heard.keys().copied().collect::<Vec<_>>(), (1..=100).collect::<Vec<_>>());
    for (seq, duplicates) in &mut heard {
        duplicates.sort();
        let expected: &[bool] = if *seq == 50 { &[false, true] } else { &[false] };
        assert_eq!(duplicates, expected, "the acknowledgements of event {seq}");
    }

    // Fifty more, and the page closes without waiting for their acknowledgements; the server
    // answers the close once it has read what came before it.
    for seq in 101..=150 {
        socket.feed(Message::Text(event(seq, 0.8).to_string().into())).await.unwrap();
    }
    socket.close(None).await.unwrap();
    while let Some(Ok(message)) = socket.next().await {
        if matches!(message, Message::Close(_)) {
            break;
        }
    }
    // An event sent afterwards is written after them.
    let mut again = open_stream(&app, "bob").await;
    send(&mut again, &event(1, 0.8).to_string()).await;
    assert_eq!(next_json(&mut again).await["type"], "ack");
    assert_eq!(stored_events(&app).await.len(), 151, "every event sent is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_get_typed_errors_and_the_connection_survives() {
    let app = spawn_app().await;
    let mut socket = open_stream(&app, "alice").await;
    let mut out_of_range = event(2, 1.5);
    let mut unknown_class = event(3, 0.5);
    unknown_class["classifications"][0]["categories"][0]["index"] = json!(5000);
    let mut not_a_jpeg = event(4, 0.5);
    not_a_jpeg["thumbnail"] = json!("aGVsbG8=");
    let mut wrong_type = event(5, 0.5);
    wrong_type["seq"] = json!("five");
    out_of_range["producer"] = json!("page-1");
    for (bad, seq, needle) in [
        (out_of_range.to_string(), Some(2), "not in [0, 1]"),
        (unknown_class.to_string(), Some(3), "not one of the 1000 classes"),
        (not_a_jpeg.to_string(), Some(4), "not a JPEG"),
        (wrong_type.to_string(), None, "invalid message"),
        ("{not json".to_owned(), None, "invalid message"),
    ] {
        send(&mut socket, &bad).await;
        let error = next_json(&mut socket).await;
        assert_eq!(error["type"], "error");
        assert_eq!(error["code"], "bad_request");
        assert_eq!(error["seq"].as_u64(), seq, "{error}");
        assert!(error["message"].as_str().unwrap().contains(needle), "{error}");
    }
    send(&mut socket, &event(6, 0.9).to_string()).await;
    assert_eq!(next_json(&mut socket).await["type"], "ack");
    assert_eq!(stored_events(&app).await.len(), 1, "only the valid event is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_name_is_checked_and_credentials_are_required() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let origin = ("origin", app.address.clone());
    let bad_name =
        connect(&app, "/ws/events/bad%20name", &[("cookie", alice.cookies()), origin.clone()]).await;
    assert_eq!(status_of(bad_name), 400);
    assert_eq!(status_of(connect(&app, "/ws/events/cam0", &[origin]).await), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_list_their_events_newest_first_with_filters_and_thumbnails() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let mut socket = connect_as(&app, "/ws/events/cam0", &alice).await;
    next_json(&mut socket).await;
    let mut with_thumbnail = event(1, 0.9);
    with_thumbnail["thumbnail"] = json!("/9j/4AAQSkZJRg==");
    send(&mut socket, &with_thumbnail.to_string()).await;
    next_json(&mut socket).await;
    let mut dog = event(2, 0.4);
    dog["classifications"][0]["categories"][0] =
        json!({"index": 207, "score": 0.4, "categoryName": "golden retriever", "displayName": ""});
    send(&mut socket, &dog.to_string()).await;
    next_json(&mut socket).await;

    let all = alice.call_ok("events", &[]).await;
    let labels: Vec<_> =
        all["events"].as_array().unwrap().iter().map(|e| e["top_label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["golden retriever", "tabby"]);
    assert_eq!(all["next_before_id"], Value::Null);
    let confident = alice.call_ok("events", &[("min_score", "0.5")]).await;
    assert_eq!(confident["events"].as_array().unwrap().len(), 1);
    let dogs = alice.call_ok("events", &[("label", "golden retriever")]).await;
    assert_eq!(dogs["events"][0]["has_thumbnail"], false);
    assert_eq!(alice.call("events", &[("min_score", "2")]).await.status(), 400);

    let tabby = &all["events"][1];
    assert_eq!(tabby["has_thumbnail"], true);
    let url = app.url(&format!("/api/events/{}/thumbnail", tabby["id"]));
    let image = alice.client.get(&url).send().await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/jpeg");
    assert!(image.bytes().await.unwrap().starts_with(&[0xFF, 0xD8, 0xFF]));

    let bob = app.sign_up("bob").await;
    assert_eq!(bob.call_ok("events", &[]).await["events"], json!([]));
    assert_eq!(bob.call_ok("events/activity", &[]).await["series"], json!([]));
    assert_eq!(bob.client.get(&url).send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_event_is_pushed_live_to_its_owners_pages_only() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let mut alice_page = connect_as(&app, "/ws/live", &alice).await;
    let mut bob_page = connect_as(&app, "/ws/live", &bob).await;
    next_json(&mut alice_page).await;
    next_json(&mut bob_page).await;

    let mut camera = connect_as(&app, "/ws/events/cam0", &alice).await;
    next_json(&mut camera).await;
    send(&mut camera, &event(1, 0.75).to_string()).await;
    assert_eq!(next_json(&mut camera).await["type"], "ack");

    let pushed = next_json(&mut alice_page).await;
    assert_eq!(pushed["type"], "event");
    assert_eq!(pushed["top_label"], "tabby");
    assert_eq!(pushed["stream"], "cam0");
    send(&mut bob_page, r#"{"type":"ping"}"#).await;
    assert_eq!(next_json(&mut bob_page).await["type"], "pong", "bob got alice's event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_make_sightings_that_are_stored_pushed_live_and_end_when_the_label_is_gone() {
    let app = spawn_app_with(|config| config.sightings.absent_secs = 1).await;
    let alice = app.sign_up("alice").await;
    let mut page = connect_as(&app, "/ws/live", &alice).await;
    next_json(&mut page).await;
    let mut camera = connect_as(&app, "/ws/events/cam0", &alice).await;
    next_json(&mut camera).await;
    for (seq, score) in [(1, 0.6), (2, 0.9), (3, 0.7)] {
        send(&mut camera, &event(seq, score).to_string()).await;
        assert_eq!(next_json(&mut camera).await["type"], "ack");
    }

    let began = next_of_type(&mut page, "sighting").await;
    assert_eq!((began["label"].as_str(), began["stream"].as_str()), (Some("tabby"), Some("cam0")));
    assert_eq!(began["ended_at"], Value::Null, "it is still there");
    let ended = loop {
        let update = next_of_type(&mut page, "sighting").await;
        assert_eq!(update["id"], began["id"], "one sighting: tiger cat never reached the threshold");
        if !update["ended_at"].is_null() {
            break update;
        }
    };
    assert_eq!(ended["ended_at"], ended["last_seen_at"], "it left when last seen");
    assert!((ended["peak_score"].as_f64().unwrap() - 0.9).abs() < 1e-6);

    let listed = alice.call_ok("sightings", &[]).await;
    assert_eq!(listed["sightings"].as_array().unwrap().len(), 1);
    let mut pushed = ended.clone();
    pushed.as_object_mut().unwrap().remove("type");
    assert_eq!(listed["sightings"][0], pushed, "stored as pushed");
    let id = began["id"].to_string();
    let events = alice.call_ok("sightings/events", &[("id", &id)]).await;
    let seqs: Vec<_> = events.as_array().unwrap().iter().map(|e| e["top_score"].as_f64().unwrap()).collect();
    assert_eq!(seqs.len(), 3, "{events}");
    let activity = alice.call_ok("events/activity", &[]).await;
    assert_eq!(activity["series"][0]["label"], "tabby");
    let counts = activity["series"][0]["counts"].as_array().unwrap();
    assert_eq!(counts.len(), 24);
    assert_eq!(counts[23], 1, "the newest hour holds one sighting (of three events)");

    let bob = app.sign_up("bob").await;
    assert_eq!(bob.call_ok("sightings", &[]).await["sightings"], json!([]));
    assert_eq!(bob.call("sightings/events", &[("id", &id)]).await.status(), 404);
}
