//! Two replicas on one database and one Redis (a throw-away `redis-server` on loopback, from
//! Debian): what a camera sends to one is seen live on a page of the other; without Redis each
//! degrades and still serves its own pages, and recovers when Redis is back.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::events::event;
use crate::helpers::{TestApp, spawn_app_with};
use crate::sockets::{Socket, connect_as, next_json, next_of_type, send};

/// A `redis-server` on a loopback port, stopped when dropped.
struct Redis {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Redis {
    /// Starts one on a free port.
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::start_on(port)
    }

    /// Starts one on `port`, returning once it accepts connections (it says so on its output).
    fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-server runs (make test installs it)");
        let output = BufReader::new(child.stdout.take().unwrap());
        let ready =
            output.lines().map_while(Result::ok).any(|line| line.contains("Ready to accept connections"));
        assert!(ready, "redis-server did not start");
        Self { child, port, _dir: dir }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The replica's readiness, once its Redis check says `connected`.
async fn readiness_when(app: &TestApp, connected: bool) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let readiness: Value = app.get("/readyz").await.json().await.unwrap();
        let redis = readiness["checks"].as_array().unwrap().iter().find(|c| c["name"] == "redis").cloned();
        if redis.is_some_and(|check| check["ok"] == connected) {
            return readiness;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Redis connected = {connected} never came: {readiness}"
        );
        tokio::task::yield_now().await;
    }
}

/// Sends event `seq` from a camera on `app` and waits for its acknowledgement.
async fn camera_event(camera: &mut Socket, seq: u64) {
    send(camera, &event(seq, 0.8).to_string()).await;
    assert_eq!(next_json(camera).await["type"], "ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_on_one_replica_is_seen_live_on_the_other_and_each_degrades_without_redis() {
    let redis = Redis::start();
    let url = redis.url();
    let a = spawn_app_with(|config| config.redis_url = Some(url.clone())).await;
    let database = a.database_url();
    let b = spawn_app_with(|config| {
        config.redis_url = Some(url.clone());
        config.database_url = database;
    })
    .await;
    readiness_when(&a, true).await;
    readiness_when(&b, true).await;

    let alice = a.sign_up("alice").await;
    let mut page_on_b = connect_as(&b, "/ws/live", &alice).await;
    assert_eq!(next_json(&mut page_on_b).await["type"], "connection_established");
    let mut page_on_a = connect_as(&a, "/ws/live", &alice).await;
    next_json(&mut page_on_a).await;
    let mut camera_on_a = connect_as(&a, "/ws/events/cam0", &alice).await;
    next_json(&mut camera_on_a).await;

    camera_event(&mut camera_on_a, 1).await;
    let seen = next_of_type(&mut page_on_b, "event").await;
    assert_eq!((seen["stream"].as_str(), seen["top_label"].as_str()), (Some("cam0"), Some("tabby")));
    assert_eq!(
        next_of_type(&mut page_on_a, "event").await["id"],
        seen["id"],
        "once on the camera's own replica too"
    );

    drop(redis);
    let degraded = readiness_when(&a, false).await;
    assert_eq!((degraded["ready"].as_bool(), degraded["degraded"].as_bool()), (Some(true), Some(true)));
    camera_event(&mut camera_on_a, 2).await;
    assert_eq!(
        next_of_type(&mut page_on_a, "event").await["type"],
        "event",
        "a replica without Redis serves its own pages"
    );

    let redis = Redis::start_on(url.rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap());
    let recovered = readiness_when(&a, true).await;
    assert_eq!(recovered["degraded"], false);
    readiness_when(&b, true).await;
    camera_event(&mut camera_on_a, 3).await;
    let seen = next_of_type(&mut page_on_b, "event").await;
    assert_eq!(seen["stream"], "cam0", "fan-out resumes without a restart");
    drop(redis);
}
