//! Twilio's wire, shared by SMS and voice: the `X-Twilio-Signature` check on webhooks and the
//! authenticated REST calls (Messages, Calls) against a configurable API base. No domain logic.

use crate::config::Config;
use crate::error::{AppError, AppResult};
use axum::http::{HeaderMap, Uri};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest;
use std::sync::OnceLock;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Twilio's signature: base64(HMAC-SHA1(auth_token, url + key1 + value1 + key2 + value2 …)) with
/// the POST parameters sorted by name (then value, for repeated names).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Compares in constant time, so the check leaks nothing about the expected signature.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], given: &str) -> bool {
    let expected = signature(auth_token, url, params);
    expected.as_bytes().ct_eq(given.trim().as_bytes()).into()
}

/// The JSON-body variant: the URL carries `bodySHA256` (hex SHA-256 of the raw body) and the
/// signature covers the URL alone.
pub fn verify_json(auth_token: &str, url: &str, body: &[u8], given: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let Some(claimed) = parsed
        .query_pairs()
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v.into_owned())
    else {
        return false;
    };
    let actual = hex::encode(sha2::Sha256::digest(body));
    let body_ok: bool = actual.as_bytes().ct_eq(claimed.as_bytes()).into();
    verify(auth_token, url, &[], given) && body_ok
}

/// The URL Twilio signed: the public base URL plus the path and query it requested.
pub fn signed_url(config: &Config, uri: &Uri) -> String {
    let path_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{}{}", config.public_url(), path_query)
}

/// Checks a webhook request. Twilio webhooks are disabled (403 `forbidden`) while no auth
/// token is configured, since nothing could be verified; a wrong or missing signature is 403
/// `bad_signature`.
pub fn verify_request(
    config: &Config,
    headers: &HeaderMap,
    uri: &Uri,
    form: &[(String, String)],
    body: &[u8],
) -> AppResult<()> {
    let token = config.twilio_auth_token.expose();
    if token.is_empty() {
        return Err(AppError::Forbidden);
    }
    let given = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(AppError::BadSignature)?;
    let url = signed_url(config, uri);
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let ok = if is_json || url.contains("bodySHA256=") {
        verify_json(token, &url, body, given)
    } else {
        verify(token, &url, form, given)
    };
    if ok {
        Ok(())
    } else {
        Err(AppError::BadSignature)
    }
}

/// Parses an `application/x-www-form-urlencoded` body, keeping repeated names.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The first value of `name`, if any.
pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A form field that must be present and non-blank, else a validation error naming it.
pub fn required<'a>(form: &'a [(String, String)], name: &str) -> AppResult<&'a str> {
    field(form, name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| AppError::validation(name, format!("{name} is required")))
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("reqwest client builds")
    })
}

/// How a REST call ended: Twilio's JSON answer, or a failure worth retrying or not.
#[derive(Debug)]
pub enum RestError {
    /// Network trouble, 429 or 5xx: try again later.
    Transient(String),
    /// Twilio refused the request (4xx): retrying cannot help.
    Permanent {
        status: u16,
        code: Option<i64>,
        message: String,
    },
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestError::Transient(m) => write!(f, "{m}"),
            RestError::Permanent {
                status,
                code,
                message,
            } => write!(f, "twilio answered {status} (code {code:?}): {message}"),
        }
    }
}

/// POSTs a form to `{twilio_api_base}/2010-04-01/Accounts/{sid}/{resource}` with basic auth.
pub async fn post(
    config: &Config,
    resource: &str,
    params: &[(&str, &str)],
) -> Result<serde_json::Value, RestError> {
    if config.twilio_account_sid.is_empty() || config.twilio_auth_token.is_empty() {
        return Err(RestError::Permanent {
            status: 0,
            code: None,
            message: "twilio_account_sid and twilio_auth_token are not configured".into(),
        });
    }
    let url = format!(
        "{}/2010-04-01/Accounts/{}/{}",
        config.twilio_api_base.trim_end_matches('/'),
        config.twilio_account_sid,
        resource
    );
    let res = client()
        .post(&url)
        .basic_auth(
            &config.twilio_account_sid,
            Some(config.twilio_auth_token.expose()),
        )
        .form(params)
        .send()
        .await
        .map_err(|e| RestError::Transient(format!("twilio unreachable: {e}")))?;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let message = body["message"].as_str().unwrap_or("no message").to_string();
    if status == 429 || status >= 500 {
        return Err(RestError::Transient(format!(
            "twilio answered {status}: {message}"
        )));
    }
    Err(RestError::Permanent {
        status,
        code: body["code"].as_i64(),
        message,
    })
}

/// Escapes text for a TwiML element or attribute.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The test vector Twilio publishes in its security documentation.
    #[test]
    fn published_test_vector() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = p(&[
            ("Digits", "1234"),
            ("To", "+18005551212"),
            ("From", "+12349013030"),
            ("Caller", "+12349013030"),
            ("CallSid", "CA1234567890ABCDE"),
        ]);
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(verify(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ"
        ));
        assert!(!verify(
            "54321",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        let mut tampered = params.clone();
        tampered[0].1 = "1235".into();
        assert!(!verify(
            "12345",
            url,
            &tampered,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn json_body_variant() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = hex::encode(sha2::Sha256::digest(body));
        let url = format!("https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={hash}");
        let sig = signature("12345", &url, &[]);
        assert!(verify_json("12345", &url, body, &sig));
        assert!(!verify_json(
            "12345",
            &url,
            b"{\"property\": \"other\"}",
            &sig
        ));
        let no_hash = "https://mycompany.com/myapp.php?foo=1";
        assert!(!verify_json(
            "12345",
            no_hash,
            body,
            &signature("12345", no_hash, &[])
        ));
    }

    #[test]
    fn twiml_escaping() {
        assert_eq!(xml_escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}

/// Property tests: a Twilio webhook body is outside input until its signature is checked, and
/// the check itself reads it. Any bytes parse as a form without panic in bounded time; encoded
/// pairs come back as sent (order and repeats kept); the signature verifies exactly the
/// parameters it was made for.
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    use crate::testing::bounded;

    /// Twilio's field names, and the characters that matter to the form encoding.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(vec![
                "From",
                "To",
                "Body",
                "MessageSid",
                "CallSid",
                "CallStatus",
                "Digits",
                "NumMedia",
                "OptOutType",
                "SpeechResult",
                "AccountSid",
            ])
            .prop_map(str::to_string),
            "[a-zA-Z0-9%+&= ]{0,12}",
            "\\PC{0,8}",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,40}",
            "\\PC{0,40}",
            "(%[0-9a-fA-F]{2}|%|\\+|&|=){0,10}"
        ]
    }

    fn raw_body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..1024),
            "([a-zA-Z]{1,8}=(%[0-9a-fA-FzZ]{0,2}|\\+|[^&=%]){0,16}&?){0,16}"
                .prop_map(String::into_bytes),
            // Many empty pairs and a long run of escapes.
            (0usize..20_000).prop_map(|n| "&".repeat(n).into_bytes()),
            (0usize..5_000).prop_map(|n| "a="
                .to_string()
                .into_bytes()
                .into_iter()
                .chain("%E4%BD%A0".repeat(n).into_bytes())
                .collect::<Vec<u8>>()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn any_body_parses_as_a_form(body in raw_body()) {
            let shown = format!("{:?}", String::from_utf8_lossy(&body));
            let form = bounded(shown, move || parse_form(&body));
            for (k, _) in &form {
                // What `field`/`required` see is what parse_form produced.
                prop_assert!(field(&form, k).is_some());
            }
            if let Some(from) = field(&form, "From") {
                prop_assert_eq!(required(&form, "From").is_ok(), !from.trim().is_empty());
            }
        }

        #[test]
        fn encoded_pairs_come_back_as_sent(pairs in proptest::collection::vec((name(), value()), 0..12)) {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            let parsed = parse_form(body.as_bytes());
            prop_assert_eq!(parsed, pairs);
        }

        #[test]
        fn a_signature_verifies_its_own_parameters_only(
            token in "[ -~]{0,40}",
            url in "https://[a-z.]{1,20}/[ -~]{0,40}",
            pairs in proptest::collection::vec((name(), value()), 0..8),
            other in "[ -~]{0,40}",
        ) {
            let sig = signature(&token, &url, &pairs);
            prop_assert!(verify(&token, &url, &pairs, &sig));
            let padded = format!(" {sig}\n");
            prop_assert!(verify(&token, &url, &pairs, &padded));
            if other.trim() != sig {
                prop_assert!(!verify(&token, &url, &pairs, &other));
            }
            let mut changed = pairs.clone();
            changed.push(("Body".into(), "x".into()));
            prop_assert!(!verify(&token, &url, &changed, &sig));
            let body = b"{}";
            prop_assert!(!verify_json(&token, &url, body, &sig) || url.contains("bodySHA256"));
        }
    }
}
