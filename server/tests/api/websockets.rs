use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{spawn_app, spawn_app_with};
use crate::sockets::{close_code, connect, connect_as, next_json, send, status_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_page_connects_and_gets_pongs() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let mut socket = connect_as(&app, "/ws/live", &alice).await;
    assert_eq!(next_json(&mut socket).await, json!({"type": "connection_established", "username": "alice"}));
    send(&mut socket, r#"{"type":"ping"}"#).await;
    assert_eq!(next_json(&mut socket).await, json!({"type": "pong"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_requires_credentials_and_the_sites_own_origin() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    assert_eq!(status_of(connect(&app, "/ws/live", &[("origin", app.address.clone())]).await), 401);
    let hijack =
        connect(&app, "/ws/live", &[("cookie", alice.cookies()), ("origin", "https://evil.example".into())])
            .await;
    assert_eq!(status_of(hijack), 403, "cross-site websocket hijacking");
    assert_eq!(status_of(connect(&app, "/ws/live", &[("cookie", alice.cookies())]).await), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programs_connect_with_a_token_in_the_header_or_the_query_until_it_is_revoked() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let (id, secret) = alice.create_token("bot").await;
    let mut by_header =
        connect(&app, "/ws/live", &[("authorization", format!("Token {secret}"))]).await.unwrap();
    assert_eq!(next_json(&mut by_header).await["username"], "alice");
    let mut by_query = connect(&app, &format!("/ws/live?token={secret}"), &[]).await.unwrap();
    assert_eq!(next_json(&mut by_query).await["username"], "alice");

    alice.call_ok("revoke_token", &[("id", &id.to_string())]).await;
    assert_eq!(status_of(connect(&app, &format!("/ws/live?token={secret}"), &[]).await), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_get_typed_errors_and_the_connection_survives() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let mut socket = connect_as(&app, "/ws/live", &alice).await;
    next_json(&mut socket).await;
    for bad in ["not json", r#"{"type":"launch_missiles"}"#, r#"{"kind":"ping"}"#, "[1,2,3]", r#"{"type":7}"#]
    {
        send(&mut socket, bad).await;
        let error = next_json(&mut socket).await;
        assert_eq!(error["type"], "error", "{bad}");
        assert_eq!(error["code"], "bad_request", "{bad}");
        assert!(error["message"].as_str().unwrap().starts_with("invalid message"), "{error}");
    }
    send(&mut socket, r#"{"type":"ping"}"#).await;
    assert_eq!(next_json(&mut socket).await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_closes_the_connection_with_1009_however_large() {
    let app = spawn_app_with(|config| {
        config.websocket.endpoint_max_message_bytes.insert(server::WsEndpoint::Live, 1024);
    })
    .await;
    let alice = app.sign_up("alice").await;
    // Just over the limit, and far over it (where the protocol layer stops reading).
    for pad in [2048, 64 * 1024] {
        let mut socket = connect_as(&app, "/ws/live", &alice).await;
        next_json(&mut socket).await;
        send(&mut socket, &format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(pad))).await;
        assert_eq!(close_code(&mut socket).await, CloseCode::Size, "{pad} bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_message_gets_a_typed_error_and_the_connection_survives() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let mut socket = connect_as(&app, "/ws/live", &alice).await;
    next_json(&mut socket).await;
    socket.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    let error = next_json(&mut socket).await;
    assert_eq!((error["type"].as_str(), error["code"].as_str()), (Some("error"), Some("bad_request")));
    assert!(error["message"].as_str().unwrap().contains("JSON text"), "{error}");
    send(&mut socket, r#"{"type":"ping"}"#).await;
    assert_eq!(next_json(&mut socket).await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_answered_with_rate_limited_and_then_closed_with_1008() {
    let app = spawn_app_with(|config| {
        config.websocket.messages_per_second = 1;
        config.websocket.burst = 2;
    })
    .await;
    let alice = app.sign_up("alice").await;
    let mut socket = connect_as(&app, "/ws/live", &alice).await;
    next_json(&mut socket).await;
    for _ in 0..10 {
        send(&mut socket, r#"{"type":"ping"}"#).await;
    }
    let mut replies = Vec::new();
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => replies.push(serde_json::from_str::<Value>(&text).unwrap()),
            Some(Ok(Message::Close(Some(frame)))) => break frame.code,
            Some(Ok(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    let pongs = replies.iter().filter(|r| r["type"] == "pong").count();
    let limited = replies.iter().filter(|r| r["code"] == "rate_limited").count();
    assert_eq!(pongs, 3, "the burst is served: {replies:?}");
    assert!(limited >= 1, "{replies:?}");
    assert_eq!(code, CloseCode::Policy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_has_a_connection_cap() {
    let app = spawn_app_with(|config| config.websocket.connections_per_user = 2).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let first = connect_as(&app, "/ws/live", &alice).await;
    let _second = connect_as(&app, "/ws/live", &alice).await;
    let third =
        connect(&app, "/ws/live", &[("cookie", alice.cookies()), ("origin", app.address.clone())]).await;
    assert_eq!(status_of(third), 429);
    let _bobs = connect_as(&app, "/ws/live", &bob).await;

    drop(first);
    let mut retried = None;
    for _ in 0..50 {
        match connect(&app, "/ws/live", &[("cookie", alice.cookies()), ("origin", app.address.clone())]).await
        {
            Ok(socket) => {
                retried = Some(socket);
                break;
            }
            Err(_) => tokio::task::yield_now().await,
        }
    }
    assert!(retried.is_some(), "a closed connection frees its slot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_closes_the_users_open_sockets() {
    let app = spawn_app_with(|config| config.websocket.credential_check_secs = 1).await;
    let alice = app.sign_up("alice").await;
    let mut socket = connect_as(&app, "/ws/live", &alice).await;
    next_json(&mut socket).await;
    alice.call_ok("log_out", &[]).await;
    assert_eq!(close_code(&mut socket).await, CloseCode::Policy);
}
