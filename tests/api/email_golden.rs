//! Golden files: every `tests/fixtures/email/*.eml` parses to its `*.json` (UPDATE_GOLDEN=1
//! rewrites the JSON after a deliberate change; review the diff).

use hotline::channels::email::mime;
use std::path::Path;

#[test]
fn every_fixture_parses_to_its_golden_json() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/email");
    let mut emls: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    emls.sort();
    assert!(emls.len() >= 8, "fixtures missing in {}", dir.display());
    let update = std::env::var("UPDATE_GOLDEN").is_ok();
    let mut failures = Vec::new();
    for eml in &emls {
        let raw = std::fs::read(eml).unwrap();
        let got = serde_json::to_value(mime::parse(&raw)).unwrap();
        let golden = eml.with_extension("json");
        if update {
            std::fs::write(&golden, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let want: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&golden)
                .unwrap_or_else(|_| panic!("{} has no golden JSON", eml.display())),
        )
        .unwrap();
        if got != want {
            failures.push(format!(
                "{}:\n got  {}\n want {}",
                eml.display(),
                serde_json::to_string_pretty(&got).unwrap(),
                serde_json::to_string_pretty(&want).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn chinese_charsets_decode_to_the_right_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/email");
    let parse = |name: &str| mime::parse(&std::fs::read(dir.join(name)).unwrap());
    let gb = parse("02_gb2312_base64.eml");
    assert_eq!(gb.subject, "投诉：宽带无法连接");
    assert_eq!(gb.from_name.as_deref(), Some("张伟"));
    assert!(gb.text.contains("宽带从昨天开始无法连接"));
    assert!(parse("03_gbk_8bit.eml").text.contains("朱镕基与王喆"));
    assert!(parse("04_big5.eml").text.contains("帳戶被鎖定"));
    assert!(
        parse("12_mislabelled_ascii_gbk.eml")
            .text
            .contains("快递丢了")
    );
    let nested = parse("08_nested_multipart.eml");
    assert_eq!(nested.attachments.len(), 2);
    assert!(
        nested
            .attachments
            .iter()
            .any(|a| a.filename == "发票.pdf" && !a.inline)
    );
    assert!(
        nested
            .attachments
            .iter()
            .any(|a| a.inline && a.content_id.as_deref() == Some("shot1@example.com"))
    );
    let html = nested.html.unwrap();
    assert!(
        !html.contains("<script") && !html.contains("javascript:") && !html.contains("onclick")
    );
    let missing = parse("09_missing_message_id.eml");
    assert!(missing.message_id.is_none() && missing.dedup_key.starts_with("sha256:"));
    let reply = parse("11_reply_quoted_zh.eml");
    assert_eq!(reply.new_text, "好的，我明天在家等师傅。");
    assert_eq!(reply.in_reply_to, vec!["hotline.1.1@localhost"]);
}
