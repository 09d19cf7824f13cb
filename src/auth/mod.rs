//! Users, roles, passwords (argon2id), session and API tokens, the login rate limit, the audit log.
//! Knows nothing of HTTP; routes.rs and http::extract turn these into endpoints and extractors.

pub mod routes;
pub mod store;

use crate::limits::{Backoff, Budget};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub extension: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub locale: String,
    pub active: bool,
    pub created_at: i64,
}

impl User {
    /// Supervisors and admins see every queue and agent.
    pub fn is_supervisor(&self) -> bool {
        self.role >= Role::Supervisor
    }
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new random token (shown once to its owner) and the hash that is stored.
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A readable random password for the first admin.
pub fn generate_password() -> String {
    let bytes: [u8; 15] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Sign-in throttling. An unknown device is throttled per (login name, address) pair with
/// growing delays (`PAIR_FREE_FAILURES` free, then 1 s, 2 s, 4 s … at most `PAIR_MAX_DELAY`),
/// per address across all names (`per_address_per_minute` failures: spraying many names) and
/// per name across all addresses (`PER_LOGIN_FAILURES` per `PER_LOGIN_WINDOW`: many addresses
/// against one name). A device that signed in as this login before (a valid `hl_device`
/// cookie) is throttled only by its own (device, login) delays: a stranger hammering a name
/// or a colleague mistyping behind the same NAT locks nobody out of their usual machine.
/// Only failures count; throttled attempts are refused before the password is checked.
pub struct LoginThrottle {
    pairs: Backoff<(String, IpAddr)>,
    devices: Backoff<(String, String)>,
    per_address: Budget<IpAddr>,
    per_login: Budget<String>,
}

pub const PAIR_FREE_FAILURES: u32 = 5;
pub const PAIR_MAX_DELAY: Duration = Duration::from_secs(15 * 60);
pub const PER_LOGIN_FAILURES: u32 = 20;
pub const PER_LOGIN_WINDOW: Duration = Duration::from_secs(20 * 60);

/// One sign-in attempt as the throttle sees it.
pub struct Attempt {
    /// The login name as typed, trimmed and lower-cased (at most 100 characters).
    pub login: String,
    /// The client address as budgets count it (`limits::client_key`: IPv6 by its /64).
    pub addr: IpAddr,
    /// The device id of a valid `hl_device` cookie naming this login.
    pub device: Option<String>,
}

impl Attempt {
    pub fn new(login: &str, addr: IpAddr, device: Option<String>) -> Attempt {
        Attempt {
            login: login.trim().to_lowercase().chars().take(100).collect(),
            addr: crate::limits::client_key(addr),
            device,
        }
    }
}

impl LoginThrottle {
    pub fn new(per_address_per_minute: u32) -> Self {
        LoginThrottle {
            pairs: Backoff::new(PAIR_FREE_FAILURES, PAIR_MAX_DELAY),
            devices: Backoff::new(PAIR_FREE_FAILURES, PAIR_MAX_DELAY),
            per_address: Budget::new(per_address_per_minute, Duration::from_secs(60)),
            per_login: Budget::new(PER_LOGIN_FAILURES, PER_LOGIN_WINDOW),
        }
    }

    /// `Err(wait)` when this attempt must not be tried now.
    pub fn check(&self, a: &Attempt) -> Result<(), Duration> {
        let wait = match &a.device {
            Some(device) => self.devices.wait(&(a.login.clone(), device.clone())),
            None => [
                self.pairs.wait(&(a.login.clone(), a.addr)),
                self.per_address.wait(&a.addr),
                self.per_login.wait(&a.login),
            ]
            .into_iter()
            .flatten()
            .max(),
        };
        wait.map_or(Ok(()), Err)
    }

    pub fn failed(&self, a: &Attempt) {
        match &a.device {
            Some(device) => {
                self.devices.failed(&(a.login.clone(), device.clone()));
            }
            None => {
                self.pairs.failed(&(a.login.clone(), a.addr));
                let _ = self.per_address.take(&a.addr);
                let _ = self.per_login.take(&a.login);
            }
        }
    }

    pub fn succeeded(&self, a: &Attempt) {
        self.pairs.forget(&(a.login.clone(), a.addr));
        if let Some(device) = &a.device {
            self.devices.forget(&(a.login.clone(), device.clone()));
        }
    }

    pub fn sweep(&self) {
        self.pairs.sweep();
        self.devices.sweep();
        self.per_address.sweep();
        self.per_login.sweep();
    }
}

/// The known-device cookie: set at sign-in, sent only to /api/auth, for a year.
pub const DEVICE_COOKIE: &str = "hl_device";
pub const DEVICE_COOKIE_DAYS: u64 = 365;
/// Row of `portal_secrets` holding the device cookies' signing key.
pub const DEVICE_SECRET_ID: i64 = 2;

fn device_signature(secret: &[u8], login: &str, device: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(format!("hl-device:{device}:{login}").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `v1.<login, base64url>.<device id>.<HMAC-SHA256 hex>`: names the (lower-cased) login.
pub fn device_cookie_value(secret: &[u8], login: &str, device: Option<&str>) -> String {
    let login = login.trim().to_lowercase();
    let device = device
        .map(str::to_string)
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    let sig = hex::encode(device_signature(secret, &login, &device));
    let name = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(login.as_bytes());
    format!("v1.{name}.{device}.{sig}")
}

/// The device id when `value` is a genuine device cookie for `login`.
pub fn check_device_cookie(secret: &[u8], value: &str, login: &str) -> Option<String> {
    let mut parts = value.trim().split('.');
    let (Some("v1"), Some(name), Some(device), Some(sig), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let named = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(name)
        .ok()?;
    let login = login.trim().to_lowercase();
    if named != login.as_bytes() || device.len() != 32 {
        return None;
    }
    let sig = hex::decode(sig).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(format!("hl-device:{device}:{login}").as_bytes());
    mac.verify_slice(&sig).ok()?;
    Some(device.to_string())
}

/// The value of cookie `name` in a request's Cookie headers.
pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_roundtrip() {
        let h = hash_password("s3cret!").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret!", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("s3cret!", "not a hash"));
    }

    #[test]
    fn throttle_spares_other_logins_and_known_devices() {
        let t = LoginThrottle::new(100);
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        let a = Attempt::new(" Alice ", addr, None);
        for _ in 0..PAIR_FREE_FAILURES {
            assert!(t.check(&a).is_ok());
            t.failed(&a);
        }
        assert!(t.check(&a).is_ok(), "the free tries cost nothing");
        t.failed(&a);
        let wait = t.check(&a).unwrap_err();
        assert!(wait <= Duration::from_secs(1));
        assert!(t.check(&Attempt::new("bob", addr, None)).is_ok());
        let device = Some("d".repeat(32));
        assert!(t.check(&Attempt::new("alice", addr, device)).is_ok());
        t.succeeded(&Attempt::new("alice", addr, None));
        assert!(t.check(&a).is_ok());
    }

    #[test]
    fn device_cookies() {
        let key = b"k".repeat(32);
        let v = device_cookie_value(&key, "Alice", None);
        let device = check_device_cookie(&key, &v, "alice ").unwrap();
        assert_eq!(device.len(), 32);
        assert_eq!(device_cookie_value(&key, "alice", Some(&device)), v);
        assert_eq!(check_device_cookie(&key, &v, "bob"), None);
        assert_eq!(check_device_cookie(b"other", &v, "alice"), None);
        let forged = v.replacen("v1.YWxpY2U", "v1.Ym9i", 1);
        assert_eq!(check_device_cookie(&key, &forged, "bob"), None);
        assert_eq!(check_device_cookie(&key, "garbage", "alice"), None);
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "cookie",
            format!("a=b; {DEVICE_COOKIE}={v}").parse().unwrap(),
        );
        assert_eq!(cookie_value(&h, DEVICE_COOKIE), Some(v));
    }
}
