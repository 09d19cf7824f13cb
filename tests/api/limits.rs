//! Sign-in throttling (issue #14, hole 5): one typist behind the call center's NAT does not
//! lock out the floor, a stranger hammering a name does not lock its owner out of their usual
//! machine (the `hl_device` cookie), and the stranger is throttled (429 with Retry-After).
//! Clients come from different loopback addresses (127.0.0.x) to stand for different networks.

use crate::support::{TestApp, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::IpAddr;

/// A password any strength rule accepts (the tests do not depend on support's defaults).
const PASSWORD: &str = "Kettle-Orbit-Lantern-42";

/// As admin: an agent `login` with `PASSWORD`.
async fn agent(t: &TestApp, login: &str) {
    let (s, b) = t
        .post(
            "/api/users",
            &t.admin_token,
            json!({"login": login, "display_name": login, "role": "agent", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

/// A client whose connections come from `ip` (any 127.0.0.x reaches the server on Linux).
fn client_from(ip: &str) -> reqwest::Client {
    let ip: IpAddr = ip.parse().unwrap();
    reqwest::Client::builder()
        .local_address(ip)
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
    /// The `hl_device` Set-Cookie header, whole.
    device_cookie: Option<String>,
    session_cookie: bool,
}

async fn sign_in(
    t: &TestApp,
    client: &reqwest::Client,
    login: &str,
    password: &str,
    cookie: Option<&str>,
) -> Answer {
    let mut req = client
        .post(t.url("/api/auth/login"))
        .json(&json!({"login": login, "password": password}));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.unwrap();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let device_cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("hl_device="));
    let session_cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| !v.to_str().unwrap().starts_with("hl_device="));
    Answer {
        status: res.status(),
        body: res.json().await.unwrap_or(Value::Null),
        retry_after,
        device_cookie,
        session_cookie,
    }
}

/// Wrong passwords from `client` for `login` until one is throttled; returns that answer.
async fn hammer(
    t: &TestApp,
    client: &reqwest::Client,
    login: &str,
    cookie: Option<&str>,
) -> Answer {
    for _ in 0..50 {
        let a = sign_in(t, client, login, "wrong-guess", cookie).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            return a;
        }
        assert_error(a.status, &a.body, 401, "bad_credentials");
    }
    panic!("50 wrong passwords for {login} were never throttled");
}

#[tokio::test]
async fn one_typist_does_not_lock_out_the_floor() {
    let t = TestApp::spawn().await;
    agent(&t, "alice").await;
    agent(&t, "bob").await;
    let floor = client_from("127.0.0.1");
    let mut throttled = 0;
    for _ in 0..20 {
        let a = sign_in(&t, &floor, "alice", "typo", None).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            assert_error(a.status, &a.body, 429, "rate_limited");
            assert!(a.retry_after.is_some_and(|s| s >= 1), "Retry-After missing");
            throttled += 1;
        } else {
            assert_error(a.status, &a.body, 401, "bad_credentials");
        }
    }
    assert!(
        throttled > 0,
        "20 quick failures for one name are throttled"
    );
    // Bob behind the same address signs in at once.
    let b = sign_in(&t, &floor, "bob", PASSWORD, None).await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
}

#[tokio::test]
async fn a_known_device_signs_in_while_its_name_is_hammered() {
    let t = TestApp::spawn().await;
    agent(&t, "alice").await;
    let desk = client_from("127.0.0.1");
    // Alice's usual machine: signing in sets the long-lived device cookie.
    let first = sign_in(&t, &desk, "alice", PASSWORD, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let set = first.device_cookie.expect("hl_device is set at sign-in");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/auth", "Max-Age="] {
        assert!(set.contains(attr), "{set}");
    }
    let device = set.split(';').next().unwrap().to_string();
    // The session cookie comes too.
    assert!(first.session_cookie, "the session cookie is set as well");

    // A stranger hammers "alice" from several networks until the name itself is throttled.
    for n in 2..=5 {
        let a = hammer(&t, &client_from(&format!("127.0.0.{n}")), "alice", None).await;
        assert!(a.retry_after.is_some_and(|s| s >= 1), "Retry-After missing");
    }
    let a = sign_in(&t, &client_from("127.0.0.9"), "alice", PASSWORD, None).await;
    assert_error(a.status, &a.body, 429, "rate_limited");
    assert!(
        a.retry_after.is_some_and(|s| s >= 30),
        "{:?}",
        a.retry_after
    );

    // Alice at her desk with her device cookie is not locked out.
    let mine = sign_in(&t, &desk, "alice", PASSWORD, Some(&device)).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert!(mine.body["token"].is_string());
    // A forged cookie opens nothing, and alice's cookie does not count for another name.
    agent(&t, "dave").await;
    for (login, cookie) in [
        ("alice", "hl_device=v1.YWxpY2U.0.0"),
        ("dave", device.as_str()),
    ] {
        hammer(&t, &client_from("127.0.0.11"), login, None).await;
        let a = sign_in(&t, &client_from("127.0.0.11"), login, "x", Some(cookie)).await;
        assert_error(a.status, &a.body, 429, "rate_limited");
    }
    // A copied cookie has its own budget: wrong passwords with it are throttled too.
    let thief = hammer(&t, &client_from("127.0.0.10"), "alice", Some(&device)).await;
    assert!(thief.retry_after.is_some());
}

#[tokio::test]
async fn spraying_many_names_from_one_address_is_throttled() {
    let t = TestApp::spawn_with(|c| c.login_attempts_per_minute = 5).await;
    agent(&t, "carol").await;
    let carol_desk = client_from("127.0.0.3");
    let c = sign_in(&t, &carol_desk, "carol", PASSWORD, None).await;
    let device = c.device_cookie.unwrap();
    let device = device.split(';').next().unwrap();
    let sprayer = client_from("127.0.0.3");
    let mut last = None;
    for n in 0..8 {
        let a = sign_in(&t, &sprayer, &format!("user{n}"), "123456", None).await;
        last = Some(a.status);
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(a.retry_after.is_some());
            break;
        }
    }
    assert_eq!(last, Some(StatusCode::TOO_MANY_REQUESTS));
    // Other names from that address wait; carol's known device does not.
    let a = sign_in(&t, &sprayer, "carol", PASSWORD, None).await;
    assert_error(a.status, &a.body, 429, "rate_limited");
    let a = sign_in(&t, &carol_desk, "carol", PASSWORD, Some(device)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}
