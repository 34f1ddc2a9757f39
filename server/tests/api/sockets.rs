//! A real websocket client (tungstenite) for the tests.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::helpers::{TestApp, TestUser};

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the websocket at `path` (with any query) with the given headers.
pub async fn connect(app: &TestApp, path: &str, headers: &[(&'static str, String)]) -> Result<Socket, Error> {
    open(app, path, headers).await.map(|(socket, _)| socket)
}

/// Opens the websocket at `path` with the given headers; also the server's answer to the upgrade.
async fn open(
    app: &TestApp,
    path: &str,
    headers: &[(&'static str, String)],
) -> Result<(Socket, Response), Error> {
    let mut request = app.ws_url(path).into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, HeaderValue::from_str(value).unwrap());
    }
    connect_async(request).await
}

/// A browser-like connection: the user's cookie and the app's own origin.
pub async fn connect_as(app: &TestApp, path: &str, user: &TestUser) -> Socket {
    connect_through(app, path, user).await.0
}

/// A browser-like connection, and which replica served it when `app` is a proxy that says so
/// (`X-Served-By`; empty otherwise).
pub async fn connect_through(app: &TestApp, path: &str, user: &TestUser) -> (Socket, String) {
    let headers = [("cookie", user.cookies()), ("origin", app.address.clone())];
    let (socket, response) = open(app, path, &headers).await.expect("connects");
    let served_by = response.headers().get("x-served-by").and_then(|v| v.to_str().ok()).unwrap_or_default();
    (socket, served_by.to_owned())
}

/// The next JSON message, skipping pings.
pub async fn next_json(socket: &mut Socket) -> Value {
    next_json_within(socket, Duration::from_secs(10)).await
}

/// The next JSON message whose `type` is `kind` (e.g. `"event"`), skipping other updates.
pub async fn next_of_type(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let update = next_json(socket).await;
        if update["type"] == kind {
            return update;
        }
    }
}

/// The next JSON message within `wait` (for replies of the embedded model), skipping pings.
pub async fn next_json_within(socket: &mut Socket, wait: Duration) -> Value {
    loop {
        let message = tokio::time::timeout(wait, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a valid frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected JSON, got {other:?}"),
        }
    }
}

/// Waits for the server to close the connection and returns the close code.
pub async fn close_code(socket: &mut Socket) -> CloseCode {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

pub async fn send(socket: &mut Socket, text: &str) {
    socket.send(Message::Text(text.into())).await.unwrap();
}

pub fn status_of(result: Result<Socket, Error>) -> u16 {
    match result {
        Err(Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => 101,
    }
}
