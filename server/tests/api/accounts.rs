use serde_json::Value;

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with, token_headers};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_up_signs_in_and_the_first_account_administers() {
    let app = spawn_app().await;
    let alice = app.sign_up("Alice").await;
    let session = alice.call_ok("session", &[]).await;
    assert_eq!(session["user"]["username"], "alice");
    assert_eq!(session["user"]["is_admin"], true);

    let bob = app.sign_up("bob").await;
    assert_eq!(bob.call_ok("session", &[]).await["user"]["is_admin"], false);
    assert_eq!(app.browser().call_ok("session", &[]).await["user"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sign_ups_get_clear_errors() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let visitor = app.browser();
    for (fields, status, needle) in [
        ([("username", "alice"), ("password", PASSWORD), ("confirm", PASSWORD)], 409, "taken"),
        ([("username", "a!"), ("password", PASSWORD), ("confirm", PASSWORD)], 400, "username"),
        ([("username", "carol"), ("password", "short"), ("confirm", "short")], 400, "at least 8"),
        ([("username", "carol"), ("password", PASSWORD), ("confirm", "other password")], 400, "differ"),
    ] {
        let response = visitor.call("sign_up", &fields).await;
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains(needle), "{body}");
    }
    let missing = visitor.call("sign_up", &[("username", "carol")]).await;
    assert_eq!(missing.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_ends_the_session_for_good() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let cookie = alice.cookies();
    alice.call_ok("log_out", &[]).await;
    assert_eq!(alice.call_ok("session", &[]).await["user"], Value::Null);

    let replay = app.client.post(app.url("/api/session")).header("cookie", cookie).send().await.unwrap();
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["user"], Value::Null, "the old cookie still works");

    let again = app.browser();
    again.call_ok("log_in", &[("username", "ALICE"), ("password", PASSWORD)]).await;
    assert_eq!(again.call_ok("session", &[]).await["user"]["username"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_refused_and_then_throttled() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let visitor = app.browser();
    let wrong = [("username", "alice"), ("password", "not the password")];
    for _ in 0..5 {
        let response = visitor.call("log_in", &wrong).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "wrong username or password");
    }
    let throttled = visitor.call("log_in", &[("username", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");

    let unknown = visitor.call("log_in", &[("username", "nobody"), ("password", PASSWORD)]).await;
    assert_eq!(unknown.status(), 401, "another username is throttled separately");
}

/// Signs in as alice with `password`, the request saying it was forwarded for `client`; its status.
async fn log_in_forwarded(app: &crate::helpers::TestApp, client: &str, password: &str) -> u16 {
    let fields = [("username", "alice"), ("password", password)];
    let request = app.client.post(app.url("/api/log_in")).header("origin", &app.address);
    let response = request.header("x-forwarded-for", client).form(&fields).send().await.unwrap();
    response.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_sign_in_throttling_counts_each_client_and_nobody_else_is_believed() {
    let behind = spawn_app_with(|config| {
        config.trusted_proxies = serde_json::from_value(serde_json::json!(["127.0.0.0/8"])).unwrap()
    })
    .await;
    behind.sign_up("alice").await;
    for _ in 0..5 {
        assert_eq!(log_in_forwarded(&behind, "203.0.113.5", "wrong").await, 401);
    }
    assert_eq!(log_in_forwarded(&behind, "203.0.113.5", PASSWORD).await, 429);
    let other = log_in_forwarded(&behind, "198.51.100.7, 127.0.0.1", PASSWORD).await;
    assert_eq!(other, 200, "another client behind the proxy is not throttled");

    let direct = spawn_app().await;
    direct.sign_up("alice").await;
    for n in 0..5 {
        assert_eq!(log_in_forwarded(&direct, &format!("203.0.113.{n}"), "wrong").await, 401);
    }
    let claimed = log_in_forwarded(&direct, "198.51.100.7", PASSWORD).await;
    assert_eq!(claimed, 429, "without a trusted proxy, a forwarded address is not believed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_checks_the_old_one_and_signs_out_other_browsers() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let laptop = app.browser();
    laptop.call_ok("log_in", &[("username", "alice"), ("password", PASSWORD)]).await;

    let new = "a much better password";
    let refused =
        alice.call("change_password", &[("current", "wrong"), ("new", new), ("confirm", new)]).await;
    assert_eq!(refused.status(), 401);
    alice.call_ok("change_password", &[("current", PASSWORD), ("new", new), ("confirm", new)]).await;

    assert_eq!(alice.call_ok("session", &[]).await["user"]["username"], "alice", "this browser stays in");
    assert_eq!(laptop.call_ok("session", &[]).await["user"], Value::Null, "the other browser is out");
    let old = app.browser().call("log_in", &[("username", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(old.status(), 401);
    app.browser().call_ok("log_in", &[("username", "alice"), ("password", new)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_authenticate_until_revoked_and_are_shown_once() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let (id, secret) = alice.create_token("script").await;
    assert!(secret.starts_with("aic_"));

    let me = app.client.get(app.url("/api/me")).headers(token_headers(&secret)).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "alice");

    let listed = alice.call_ok("tokens", &[]).await;
    assert_eq!(listed[0]["name"], "script");
    assert!(listed[0]["last_used_at"].is_string(), "use is recorded");
    assert!(!listed.to_string().contains(&secret), "the list shows the secret");

    alice.call_ok("revoke_token", &[("id", &id.to_string())]).await;
    let me = app.client.get(app.url("/api/me")).headers(token_headers(&secret)).send().await.unwrap();
    assert_eq!(me.status(), 401);
    assert_eq!(app.get("/api/me").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_can_touch_another_users_tokens_or_sessions() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let (alice_token, secret) = alice.create_token("alice's").await;
    let alice_session = alice.call_ok("sessions", &[]).await[0]["id"].as_i64().unwrap();

    let response = bob.call("revoke_token", &[("id", &alice_token.to_string())]).await;
    assert_eq!(response.status(), 404);
    let response = bob.call("revoke_session", &[("id", &alice_session.to_string())]).await;
    assert_eq!(response.status(), 404);
    assert_eq!(bob.call_ok("tokens", &[]).await, Value::Array(vec![]));
    assert_eq!(bob.call_ok("sessions", &[]).await.as_array().unwrap().len(), 1);

    let me = app.client.get(app.url("/api/me")).headers(token_headers(&secret)).send().await.unwrap();
    assert_eq!(me.status(), 200, "alice's token survived");
    assert_eq!(alice.call_ok("session", &[]).await["user"]["username"], "alice");

    let anonymous = app.browser().call("tokens", &[]).await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_list_and_disable_users_and_nobody_else_can() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let (_, bob_token) = bob.create_token("bob's").await;

    assert_eq!(bob.call("admin/users", &[]).await.status(), 404);
    let users = alice.call_ok("admin/users", &[]).await;
    let names: Vec<_> = users.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob"]);
    let bob_id = users[1]["id"].to_string();
    let alice_id = users[0]["id"].to_string();

    assert_eq!(
        bob.call("admin/set_disabled", &[("id", &alice_id), ("disabled", "true")]).await.status(),
        404
    );
    assert_eq!(
        alice.call("admin/set_disabled", &[("id", &alice_id), ("disabled", "true")]).await.status(),
        400
    );
    alice.call_ok("admin/set_disabled", &[("id", &bob_id), ("disabled", "true")]).await;

    assert_eq!(bob.call_ok("session", &[]).await["user"], Value::Null);
    let me = app.client.get(app.url("/api/me")).headers(token_headers(&bob_token)).send().await.unwrap();
    assert_eq!(me.status(), 401);
    let login = app.browser().call("log_in", &[("username", "bob"), ("password", PASSWORD)]).await;
    assert_eq!(login.status(), 403);

    alice.call_ok("admin/set_disabled", &[("id", &bob_id), ("disabled", "false")]).await;
    let me = app.client.get(app.url("/api/me")).headers(token_headers(&bob_token)).send().await.unwrap();
    assert_eq!(me.status(), 200, "re-enabled, the token works again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_mode_is_off_unless_configured() {
    let app = spawn_app().await;
    assert_eq!(app.browser().call("continue_as_guest", &[]).await.status(), 404);

    let app = spawn_app_with(|config| config.guest_mode = true).await;
    let guest = app.browser();
    guest.call_ok("continue_as_guest", &[]).await;
    let session = guest.call_ok("session", &[]).await;
    assert_eq!(session["guest_mode"], true);
    assert_eq!(session["user"]["is_guest"], true);
    assert!(session["user"]["username"].as_str().unwrap().starts_with("guest-"));

    let other = app.browser();
    other.call_ok("continue_as_guest", &[]).await;
    guest.create_token("guest's").await;
    assert_eq!(other.call_ok("tokens", &[]).await, Value::Array(vec![]), "guests own separate records");
}
