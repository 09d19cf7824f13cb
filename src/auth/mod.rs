//! Users, roles, passwords (argon2id), session and API tokens, the login rate limit, the audit log.
//! Knows nothing of HTTP; routes.rs and http::extract turn these into endpoints and extractors.

pub mod routes;
pub mod store;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Counts failures per key (login name, client address) in a sliding minute. Per node: with N
/// nodes an attacker gets at most N× the budget, which still defeats online guessing.
pub struct LoginLimiter {
    per_minute: u32,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        LoginLimiter {
            per_minute,
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_blocked(&self, key: &str) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let window = Duration::from_secs(60);
        match map.get_mut(key) {
            Some(times) => {
                times.retain(|t| t.elapsed() < window);
                times.len() as u32 >= self.per_minute
            }
            None => false,
        }
    }

    pub fn record_failure(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.clear();
        }
        map.entry(key.to_string()).or_default().push(Instant::now());
    }

    pub fn clear(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key);
    }
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
    fn limiter_blocks_after_budget() {
        let l = LoginLimiter::new(3);
        for _ in 0..3 {
            assert!(!l.is_blocked("a"));
            l.record_failure("a");
        }
        assert!(l.is_blocked("a"));
        assert!(!l.is_blocked("b"));
        l.clear("a");
        assert!(!l.is_blocked("a"));
    }
}
