//! Two replicas on one database and one Redis (a throw-away `redis-server` on loopback, from
//! Debian): what a camera sends to one is seen live on a page of the other; without Redis each
//! degrades and still serves its own pages, and recovers when Redis is back. Behind Debian's
//! nginx, with the deployment example's configuration, pages on both see a camera on either.
//! A chat reply one replica writes is resumed, followed and stopped through the other, and when
//! its replica is killed mid-reply the other marks it interrupted with every chunk sent.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use server::Config;
use tempfile::TempDir;

use crate::chat::{ask, fake_provider, new_session, open_session, read_reply, stored};
use crate::events::event;
use crate::fake_upstream;
use crate::helpers::{TestApp, TestUser, repo_root, spawn_app_with, test_config};
use crate::sockets::{
    Socket, connect, connect_as, connect_through, next_json, next_of_type, send, status_of,
};

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

/// Returns once something accepts connections on loopback `port`; fails with `why()` after 30 s.
async fn listening(port: u16, why: impl Fn() -> String) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "{}", why());
        tokio::task::yield_now().await;
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
    /// Starts one in front of `replicas` (with `scripts/nginx-front.sh`), returning once it
    /// accepts connections.
    async fn start(replicas: &[&TestApp]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(repo_root().join("scripts/nginx-front.sh"))
            .arg(dir.path())
            .arg(port.to_string())
            .args(replicas.iter().map(|app| app.address.rsplit(':').next().unwrap().to_owned()))
            .spawn()
            .expect("nginx runs (make test installs it)");
        let nginx = Self { child, address: format!("http://127.0.0.1:{port}"), dir };
        let log = nginx.dir.path().join("error.log");
        listening(port, || {
            format!("nginx did not start: {}", std::fs::read_to_string(&log).unwrap_or_default())
        })
        .await;
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
    two_replicas_with(redis, |_| {}).await
}

/// Two replicas sharing one database and `redis`, configured by `adjust` besides.
async fn two_replicas_with(redis: &Redis, adjust: impl Fn(&mut Config)) -> (TestApp, TestApp) {
    let url = redis.url();
    let a = spawn_app_with(|config| {
        config.redis_url = Some(url.clone());
        adjust(config);
    })
    .await;
    let database = a.database_url();
    let b = spawn_app_with(|config| {
        config.redis_url = Some(url.clone());
        config.database_url = database;
        adjust(config);
    })
    .await;
    readiness_when(&a, true).await;
    readiness_when(&b, true).await;
    (a, b)
}

/// A replica in a process of its own (the `ai-channels` binary), so that it can be killed;
/// killed when dropped.
struct Process {
    child: Child,
    app: TestApp,
}

impl Process {
    /// Starts one with `config` (on a free port), returning once it is ready.
    async fn start(mut config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        config.listen = ([127, 0, 0, 1], port).into();
        let file = dir.path().join("ai-channels.toml");
        std::fs::write(&file, toml::to_string(&config).unwrap()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ai-channels"))
            .arg("--config")
            .arg(&file)
            .stdout(Stdio::null())
            .spawn()
            .expect("the server binary runs");
        let app = TestApp {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            _data_dir: dir,
            database_url: config.database_url.clone(),
        };
        listening(port, || "the replica did not start".to_owned()).await;
        readiness_when(&app, true).await;
        Self { child, app }
    }

    /// Kills it at once (SIGKILL): nothing of it runs after this returns.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads chunks `first..=last` of `reply`; returns their text.
async fn chunks(socket: &mut Socket, reply: i64, seqs: std::ops::RangeInclusive<u64>) -> String {
    let mut text = String::new();
    for seq in seqs {
        let chunk = next_json(socket).await;
        assert_eq!((chunk["type"].as_str(), &chunk["message_id"]), (Some("ai_message_chunk"), &json!(reply)));
        assert_eq!(chunk["seq"], seq, "in order, none missing: {chunk}");
        text.push_str(chunk["content"].as_str().unwrap());
    }
    text
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_written_by_one_replica_is_followed_resumed_and_stopped_through_the_other() {
    let redis = Redis::start();
    let fake = fake_upstream::start().await;
    let (a, b) = two_replicas_with(&redis, |config| config.chat.providers = vec![fake_provider(&fake)]).await;
    let alice = a.sign_up("alice").await;
    let session = new_session(&alice).await;
    let mut on_a = open_session(&a, &alice, session).await;
    let mut live_on_b = open_session(&b, &alice, session).await;
    let reply = ask(&mut on_a, "[slow] count", "c1").await;
    let start_on_a = chunks(&mut on_a, reply, 1..=3).await;
    assert_eq!(next_json(&mut live_on_b).await["message"]["content"], "[slow] count", "B sees the message");
    assert_eq!(next_json(&mut live_on_b).await["message"]["id"], reply, "and the reply starting");
    assert_eq!(chunks(&mut live_on_b, reply, 1..=3).await, start_on_a, "and following live");
    send(&mut on_a, r#"{"type": "typing"}"#).await;
    assert_eq!(next_of_type(&mut live_on_b, "typing").await["active"], true, "and the user typing on A");
    let busy = json!({"type": "send_message", "message": "meanwhile", "client_id": "c2"});
    send(&mut live_on_b, &busy.to_string()).await;
    let refused = next_of_type(&mut live_on_b, "error").await;
    assert_eq!(refused["code"], "conflict", "one reply at a time across replicas: {refused}");

    let path = format!("/ws/ai-chat/session/{session}/");
    let mut on_b = connect_as(&b, &path, &alice).await;
    let hello = next_json(&mut on_b).await;
    assert_eq!(hello["streaming_message_id"], reply, "B learns A is writing a reply");
    send(&mut on_b, &json!({"type": "resume", "message_id": reply, "after_seq": 1}).to_string()).await;
    let replayed = chunks(&mut on_b, reply, 2..=4).await;
    assert!(replayed.starts_with(start_on_a.trim_start_matches("w1 ")), "{replayed} replays {start_on_a}");

    // A program re-sending the message through B (the same client id) gets the reply once it
    // ends, as A writes it.
    let resent = tokio::spawn({
        let (client, url) =
            (alice.client.clone(), format!("{}/ai-chat/api/sessions/{session}/send_message/", b.address));
        async move {
            let body = json!({"message": "[slow] count", "client_id": "c1"});
            client.post(url).json(&body).send().await.unwrap().json::<Value>().await.unwrap()
        }
    });
    send(&mut on_b, r#"{"type": "stop"}"#).await;
    let stopped_on_b = next_of_type(&mut on_b, "ai_message_complete").await["message"].clone();
    assert_eq!(stopped_on_b["status"], "stopped", "stop through B reaches A");
    let (_, stopped_on_a) = read_reply(&mut on_a, reply, 4).await;
    assert_eq!(stopped_on_a, stopped_on_b, "both pages end with the stored reply");
    fake.seen.cancellations(1).await;
    let answered = tokio::time::timeout(std::time::Duration::from_secs(10), resent).await;
    assert_eq!(answered.expect("the re-sent message is answered").unwrap()["reply"], stopped_on_a);
    let content = stopped_on_a["content"].as_str().unwrap().to_owned();
    assert_eq!(stored(&a, reply).await, (content.clone(), "stopped".to_owned(), None));

    next_of_type(&mut live_on_b, "ai_message_complete").await;
    let next = ask(&mut live_on_b, "Hello", "c3").await;
    let (_, answered) = read_reply(&mut live_on_b, next, 1).await;
    assert_eq!(answered["status"], "complete", "B writes the next reply once A's has ended");
    let body = fake.seen.last_body.lock().unwrap().clone();
    let said: Vec<&str> =
        body["messages"].as_array().unwrap().iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(said, ["[slow] count", &content, "Hello"], "B's turn starts from what A wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_replica_writing_a_reply_leaves_it_interrupted_with_every_chunk_sent() {
    let redis = Redis::start();
    let fake = fake_upstream::start().await;
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.redis_url = Some(redis.url());
    config.chat.providers = vec![fake_provider(&fake)];
    let mut a = Process::start(config.clone()).await;
    let b =
        spawn_app_with(|b| *b = Config { listen: b.listen, files_dir: b.files_dir.clone(), ..config }).await;
    readiness_when(&b, true).await;

    let alice = a.app.sign_up("alice").await;
    let mut camera = opened(&a.app, "/ws/events/cam0", &alice).await;
    camera_event(&mut camera, 1).await;
    let session = new_session(&alice).await;
    let mut on_a = open_session(&a.app, &alice, session).await;
    let reply = ask(&mut on_a, "[slow] count", "c1").await;
    let sent = chunks(&mut on_a, reply, 1..=5).await;
    let mut on_b = open_session(&b, &alice, session).await;

    a.kill();
    let killed = std::time::Instant::now();
    send(&mut on_b, &json!({"type": "resume", "message_id": reply, "after_seq": 0}).to_string()).await;
    let (text, message) = read_reply(&mut on_b, reply, 1).await;
    let noticed = killed.elapsed();
    assert_eq!(message["status"], "interrupted", "{message}");
    assert!(text.starts_with(&sent), "every chunk the page had is kept: {text} / {sent}");
    assert_eq!(message["content"], text, "the stored reply is what was streamed");
    assert!(noticed < std::time::Duration::from_secs(8), "noticed within the lease and a sweep: {noticed:?}");
    assert_eq!(stored(&b, reply).await.1, "interrupted");

    let mut db = b.database().await;
    let (events,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM classification_events").fetch_one(&mut db).await.unwrap();
    assert_eq!(events, 1, "the acknowledged camera event is kept");
    let mut again = open_session(&b, &alice, session).await;
    let next = ask(&mut again, "Hello", "c2").await;
    assert_eq!(read_reply(&mut again, next, 1).await.1["status"], "complete", "the session goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_websocket_cap_counts_the_sockets_on_both_replicas() {
    let redis = Redis::start();
    let (a, b) = two_replicas_with(&redis, |config| config.websocket.connections_per_user = 2).await;
    let alice = a.sign_up("alice").await;
    let on_a = opened(&a, "/ws/live", &alice).await;
    let _on_b = opened(&b, "/ws/live", &alice).await;
    let browser = |app: &TestApp| [("cookie", alice.cookies()), ("origin", app.address.clone())];
    let third = connect(&a, "/ws/live", &browser(&a)).await;
    assert_eq!(status_of(third), 429, "two open, one on each replica: the cap is reached");
    let bob = b.sign_up("bob").await;
    opened(&a, "/ws/live", &bob).await;

    drop(on_a);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match connect(&b, "/ws/live", &browser(&b)).await {
            Ok(_) => break,
            Err(refused) => assert_eq!(status_of(Err(refused)), 429),
        }
        assert!(tokio::time::Instant::now() < deadline, "A never counted its closed socket out");
        tokio::task::yield_now().await;
    }
}
