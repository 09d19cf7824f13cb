//! Twilio signatures against Twilio's own Python package (`pip install twilio`): requests it
//! signs are accepted, signatures we compute are ones it validates.

use crate::twilio_fake::{AUTH_TOKEN, PUBLIC_URL, count, spawn_with_twilio};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs the script off the runtime thread: the server under test shares that thread.
async fn python(args: &[&str], stdin: &Value) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.clone();
    tokio::task::spawn_blocking(move || python_blocking(&args, &stdin))
        .await
        .unwrap()
}

fn python_blocking(args: &[String], stdin: &Value) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/twilio_sign.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "twilio_sign.py failed (is `pip install twilio` done?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn sms_signed_by_twilios_python_package_is_accepted() {
    let (app, _fake) = spawn_with_twilio().await;
    let params = json!({
        "MessageSid": "SMpy0001", "AccountSid": "AC0123456789abcdef",
        "From": "+8613911112222", "To": "+14155550100",
        "Body": "你好，我的订单还没到 (order 42)", "NumMedia": "0",
    });
    let path = "/webhooks/twilio/sms";
    let app_url = app.url(path);
    let signed = format!("{PUBLIC_URL}{path}");
    let args = ["post", signed.as_str(), app_url.as_str(), AUTH_TOKEN];
    let out: Value = serde_json::from_str(&python(&args, &params).await).unwrap();
    assert_eq!(out["status"], 200, "{out}");
    assert!(out["body"].as_str().unwrap().contains("<Response>"));
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM interactions WHERE external_id = 'SMpy0001' AND body LIKE '%订单%'").await,
        1
    );

    // The same request signed with another token is refused and stores nothing.
    let mut other = params.clone();
    other["MessageSid"] = json!("SMpy0002");
    let args = ["post", signed.as_str(), app_url.as_str(), "not-the-token"];
    let out: Value = serde_json::from_str(&python(&args, &other).await).unwrap();
    assert_eq!(out["status"], 403, "{out}");
    assert!(out["body"].as_str().unwrap().contains("bad_signature"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM interactions WHERE external_id = 'SMpy0002'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn our_signatures_validate_in_twilios_python_package() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
        ("Body", "退订 STOP ünïcode"),
    ];
    let form: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sig = hotline::channels::twilio::signature("12345", url, &form);
    let obj: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    assert_eq!(
        python(
            &["validate", url, "12345", &sig],
            &Value::Object(obj.clone())
        )
        .await,
        "true"
    );
    assert_eq!(
        python(&["validate", url, "54321", &sig], &Value::Object(obj)).await,
        "false"
    );

    // The JSON-body variant: bodySHA256 in the URL, the signature over the URL alone.
    let body = r#"{"event":"call.ended","CallSid":"CA1"}"#;
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(body.as_bytes()))
    };
    let json_url = format!("https://mycompany.com/hook?bodySHA256={hash}");
    let sig = hotline::channels::twilio::signature("12345", &json_url, &[]);
    assert!(hotline::channels::twilio::verify_json(
        "12345",
        &json_url,
        body.as_bytes(),
        &sig
    ));
    assert_eq!(
        python(&["validate", &json_url, "12345", &sig], &json!(body)).await,
        "true"
    );
    assert_eq!(
        python(
            &["validate", &json_url, "12345", &sig],
            &json!(format!("{body} "))
        )
        .await,
        "false"
    );
}
