//! Two replicas on one database and one Redis (a throw-away `redis-server` on loopback, from
//! Debian): what a camera sends to one is seen live on a page of the other; without Redis each
//! degrades and still serves its own pages, and recovers when Redis is back. Behind Debian's
//! nginx, with the deployment example's configuration, pages on both see a camera on either.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::events::event;
use crate::helpers::{TestApp, TestUser, repo_root, spawn_app_with};
use crate::sockets::{Socket, connect_as, connect_through, next_json, next_of_type, send};

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

/// Debian's nginx in front of replicas, with the deployment example (`deploy/nginx.conf`) on a
/// free loopback port; stopped when dropped.
struct Nginx {
    child: Child,
    address: String,
    dir: TempDir,
}

impl Nginx {
    /// Starts one in front of `replicas`, returning once it accepts connections.
    async fn start(replicas: &[&TestApp]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let example = std::fs::read_to_string(repo_root().join("deploy/nginx.conf")).unwrap();
        let servers: String = replicas
            .iter()
            .map(|app| format!("    server {};\n", app.address.trim_start_matches("http://")))
            .collect();
        let site = example
            .replace("    server 127.0.0.1:3001;\n    server 127.0.0.1:3002;\n", &servers)
            .replace("listen 8080;", &format!("listen 127.0.0.1:{port};"));
        assert!(site.contains(&servers) && site.contains(&port.to_string()), "the example has changed");
        std::fs::write(dir.path().join("site.conf"), site).unwrap();
        let main = format!(
            "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log warn;
             events {{}}
             http {{
                 access_log off;
                 client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
                 uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
                 include {d}/site.conf;
             }}"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .spawn()
            .expect("nginx runs (make test installs it)");
        let nginx = Self { child, address: format!("http://127.0.0.1:{port}"), dir };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            let log = std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default();
            assert!(tokio::time::Instant::now() < deadline, "nginx did not start: {log}");
            tokio::task::yield_now().await;
        }
        nginx
    }

    /// The front, as an app the helpers can reach.
    fn front(&self, database_url: String) -> TestApp {
        TestApp {
            address: self.address.clone(),
            client: reqwest::Client::new(),
            _data_dir: tempfile::tempdir().unwrap(),
            database_url,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two replicas sharing one database and `redis`, each ready (its relay subscribed).
async fn two_replicas(redis: &Redis) -> (TestApp, TestApp) {
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
    (a, b)
}

/// Saves a rule of `user`'s for tabbies, firing at `min_score` at most once per `cooldown_secs`.
async fn tabby_rule(user: &TestUser, name: &str, min_score: &str, cooldown_secs: &str) {
    let fields = [
        ("rule[name]", name),
        ("rule[labels]", "tabby"),
        ("rule[min_score]", min_score),
        ("rule[cooldown_secs]", cooldown_secs),
    ];
    user.call_ok("rules/save", &fields).await;
}

/// `user`'s websocket at `path` on `app`, past its greeting.
async fn opened(app: &TestApp, path: &str, user: &TestUser) -> Socket {
    let mut socket = connect_as(app, path, user).await;
    next_json(&mut socket).await;
    socket
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

/// Sends events `seqs` from a camera, each once the one before is acknowledged.
async fn camera_events(camera: &mut Socket, seqs: std::ops::RangeInclusive<u64>) {
    for seq in seqs {
        camera_event(camera, seq).await;
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
    let (a, b) = two_replicas(&redis).await;

    let alice = a.sign_up("alice").await;
    let mut page_on_b = connect_as(&b, "/ws/live", &alice).await;
    assert_eq!(next_json(&mut page_on_b).await["type"], "connection_established");
    let mut page_on_a = opened(&a, "/ws/live", &alice).await;
    let mut camera_on_a = opened(&a, "/ws/events/cam0", &alice).await;

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
    let notice = next_of_type(&mut page_on_a, "replicas").await;
    assert!(
        notice["degraded"].as_str().is_some_and(|why| why.contains("Redis")),
        "the open page is told: {notice}"
    );
    let mut new_page_on_a = connect_as(&a, "/ws/live", &alice).await;
    let hello = next_json(&mut new_page_on_a).await;
    assert!(hello["degraded"].is_string(), "a page opened meanwhile is told at once: {hello}");
    camera_event(&mut camera_on_a, 2).await;
    assert_eq!(
        next_of_type(&mut page_on_a, "event").await["type"],
        "event",
        "a replica without Redis serves its own pages"
    );

    let redis = Redis::start_on(url.rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap());
    let recovered = readiness_when(&a, true).await;
    assert_eq!(recovered["degraded"], false);
    assert_eq!(
        next_of_type(&mut page_on_a, "replicas").await["degraded"],
        Value::Null,
        "and told of the recovery"
    );
    readiness_when(&b, true).await;
    camera_event(&mut camera_on_a, 3).await;
    let seen = next_of_type(&mut page_on_b, "event").await;
    assert_eq!(seen["stream"], "cam0", "fan-out resumes without a restart");
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_pages_on_both_replicas_see_a_camera_on_either() {
    let redis = Redis::start();
    let (a, b) = two_replicas(&redis).await;
    let nginx = Nginx::start(&[&a, &b]).await;
    let front = nginx.front(a.database_url());
    let alice = front.sign_up("alice").await;

    // Taken in turn: two pages opened one after the other land on different replicas.
    let (mut first, first_on) = connect_through(&front, "/ws/live", &alice).await;
    let (mut second, second_on) = connect_through(&front, "/ws/live", &alice).await;
    let replicas = [a.address.trim_start_matches("http://"), b.address.trim_start_matches("http://")];
    assert!(replicas.contains(&first_on.as_str()) && replicas.contains(&second_on.as_str()), "{first_on}");
    assert_ne!(first_on, second_on, "round robin");
    assert_eq!(next_json(&mut first).await["type"], "connection_established");
    assert_eq!(next_json(&mut second).await["type"], "connection_established");

    let (mut camera, _) = connect_through(&front, "/ws/events/cam0", &alice).await;
    next_json(&mut camera).await;
    camera_event(&mut camera, 1).await;
    let (on_first, on_second) =
        (next_of_type(&mut first, "event").await, next_of_type(&mut second, "event").await);
    assert_eq!(on_first["id"], on_second["id"]);
    assert_eq!(on_first["stream"], "cam0");
    let listed = alice.call_ok("events", &[]).await;
    assert_eq!(listed["events"].as_array().map(Vec::len), Some(1), "stored once: {listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_fires_once_per_cooldown_when_its_stream_reaches_both_replicas() {
    let redis = Redis::start();
    let (a, b) = two_replicas(&redis).await;
    let alice = a.sign_up("alice").await;
    tabby_rule(&alice, "Cat", "0.6", "3600").await;
    // A rule that fires on every event once its window is full, evaluated after the cat's: its
    // alert shows the engine has been through the cat rule for that event.
    tabby_rule(&alice, "probe", "0", "0").await;
    let mut page = opened(&a, "/ws/live", &alice).await;

    let mut camera_on_a = opened(&a, "/ws/events/cam0", &alice).await;
    camera_events(&mut camera_on_a, 1..=3).await;
    assert_eq!(next_of_type(&mut page, "alert").await["rule_name"], "Cat");

    // The same stream's events now reach replica B, whose engine has not seen the cat rule fire.
    let mut camera_on_b = opened(&b, "/ws/events/cam0", &alice).await;
    camera_events(&mut camera_on_b, 11..=13).await;
    loop {
        let alert = next_of_type(&mut page, "alert").await;
        assert_eq!(alert["rule_name"], "probe", "the cat rule is cooling down on every replica");
        if alert["event_id"].as_i64() > Some(3) {
            break;
        }
    }
    let alerts = alice.call_ok("alerts", &[]).await;
    let cats = alerts.as_array().unwrap().iter().filter(|alert| alert["rule_name"] == "Cat").count();
    assert_eq!(cats, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_on_one_replica_throttle_the_other() {
    let redis = Redis::start();
    let (a, b) = two_replicas(&redis).await;
    a.sign_up("alice").await;
    let wrong = [("username", "alice"), ("password", "not the password")];
    for _ in 0..5 {
        assert_eq!(a.browser().call("log_in", &wrong).await.status(), 401);
    }
    let on_b =
        b.browser().call("log_in", &[("username", "alice"), ("password", crate::helpers::PASSWORD)]).await;
    assert_eq!(on_b.status(), 429, "the failures are counted together");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_saved_through_one_replica_is_applied_by_the_other_at_once() {
    let redis = Redis::start();
    let (a, b) = two_replicas(&redis).await;
    let alice = a.sign_up("alice").await;
    tabby_rule(&alice, "probe", "0", "0").await;
    let mut page = opened(&a, "/ws/live", &alice).await;
    let mut camera = opened(&a, "/ws/events/cam0", &alice).await;
    camera_events(&mut camera, 1..=3).await;
    // The probe fired: replica A holds alice's rules.
    assert_eq!(next_of_type(&mut page, "alert").await["rule_name"], "probe");

    let alice_on_b = b.browser();
    alice_on_b.call_ok("log_in", &[("username", "alice"), ("password", crate::helpers::PASSWORD)]).await;
    tabby_rule(&alice_on_b, "Cat", "0.6", "0").await;
    next_of_type(&mut page, "rules_changed").await;
    // The new rule's median needs three scores.
    camera_events(&mut camera, 4..=6).await;
    let mut names = Vec::new();
    for _ in 0..4 {
        names.push(next_of_type(&mut page, "alert").await["rule_name"].as_str().unwrap().to_owned());
    }
    assert_eq!(names, ["probe", "probe", "probe", "Cat"], "A's engine has the new rule");
}
