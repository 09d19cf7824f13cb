//! The knowledge base over HTTP: relevance of the starter articles in Chinese and English,
//! audience by role, the admin's edits with versions, import, suggestions, index rebuild and
//! searching while the index changes.

use crate::support::{TestApp, assert_error};
use hotline::knowledge::{self, Kb, SearchQuery};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn repo_kb() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge-base")
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.kb_dir = repo_kb()).await
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn slugs(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|h| h["slug"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn article_id(app: &TestApp, lang: &str, slug: &str) -> i64 {
    knowledge::store::list_articles(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.lang == lang && a.slug == slug)
        .unwrap_or_else(|| panic!("article {lang}/{slug}"))
        .id
}

#[tokio::test]
async fn customer_questions_find_their_article_in_the_top_three() {
    let app = spawn().await;
    let (_, agent) = app.user("kb-agent", "agent").await;
    let cases = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kb-relevance.tsv"),
    )
    .unwrap();
    let mut failures = Vec::new();
    let mut per_lang = std::collections::HashMap::new();
    for line in cases
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut parts = line.split('\t');
        let (lang, question, expected) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        *per_lang.entry(lang.to_string()).or_insert(0) += 1;
        let (status, body) = app
            .get(
                &format!("/api/kb/search?q={}&limit=3", enc(question)),
                &agent,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let found = slugs(&body);
        if !found.iter().any(|s| s == expected) {
            failures.push(format!(
                "{lang} {question:?}: want {expected}, got {found:?}"
            ));
        }
    }
    assert!(per_lang["zh"] >= 20 && per_lang["en"] >= 20, "{per_lang:?}");
    assert!(
        failures.is_empty(),
        "not in the top 3:\n{}",
        failures.join("\n")
    );
}

/// The relevance set (`tests/fixtures/kb-relevance-set.tsv`: 390 questions as customers
/// phrase them, none written with the articles' words) against the shipped articles. The
/// floors sit a little under the figures in BENCHMARKS.md (`hotline bench kb-relevance`), so
/// that a change which makes search find fewer answers fails here.
#[test]
fn relevance_set_stays_above_its_floor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = knowledge::relevance::evaluate_files(
        &repo_kb(),
        &root.join("tests/fixtures/kb-relevance-set.tsv"),
        false,
    )
    .unwrap();
    for (lang, n, (top1, top3, mrr)) in [("zh", 200, FLOOR_ZH), ("en", 190, FLOOR_EN)] {
        let f = &report.by_lang[lang];
        assert!(f.questions >= n, "{lang}: {f}");
        assert!(
            f.top1_share() >= top1 && f.top3_share() >= top3 && f.mrr() >= mrr,
            "{lang} fell under its floor (top-1 {top1}, top-3 {top3}, MRR {mrr}): {f}"
        );
    }
    // Homophone typos in Chinese find their answer (pinyin).
    let typos = &report.by_kind[&("zh".to_string(), "typo".to_string())];
    assert!(typos.top3_share() >= FLOOR_ZH_TYPO, "zh typos: {typos}");
}

/// Floors of the relevance set: (top-1, top-3, MRR).
/// Measured: zh 73.0% / 88.5% / 0.815, en 72.1% / 88.9% / 0.810; ties between equal scores
/// may fall either way from one index build to the next, so each floor leaves a question or two.
const FLOOR_ZH: (f64, f64, f64) = (0.70, 0.86, 0.79);
const FLOOR_EN: (f64, f64, f64) = (0.70, 0.86, 0.79);
/// Measured 97.3% (91.9% without the pinyin correction).
const FLOOR_ZH_TYPO: f64 = 0.94;

#[tokio::test]
async fn search_filters_highlights_and_audience_by_role() {
    let app = spawn().await;
    let (_, agent) = app.user("kb-agent2", "agent").await;

    // Agents find internal articles; the portal never does.
    let (s, body) = app
        .get(
            &format!("/api/kb/search?q={}", enc("escalate to supervisor")),
            &agent,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(slugs(&body)[0], "escalation-policy", "{body}");
    assert_eq!(body["hits"][0]["audience"], "internal");
    let (s, body) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/portal/kb/search?q={}", enc("escalate to supervisor")),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["audience"] == "public"),
        "{body}"
    );
    assert!(!slugs(&body).contains(&"escalation-policy".to_string()));
    let internal = article_id(&app, "en", "escalation-policy").await;
    let (s, body) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/portal/kb/articles/{internal}"),
            None,
            None,
        )
        .await;
    assert_error(s, &body, 404, "not_found");
    let public = article_id(&app, "zh", "refund-timelines").await;
    let (s, body) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/portal/kb/articles/{public}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["title"], "退款多久到账");

    // Without a token the agents' search refuses.
    let (s, body) = app
        .call(reqwest::Method::GET, "/api/kb/search?q=refund", None, None)
        .await;
    assert_error(s, &body, 401, "unauthenticated");

    // Language, category and tag filters.
    let (_, body) = app.get("/api/kb/search?q=refund&lang=zh", &agent).await;
    assert!(
        body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["lang"] == "zh"),
        "{body}"
    );
    let (_, body) = app
        .get(&format!("/api/kb/search?q={}&lang=zh", enc("退款")), &agent)
        .await;
    assert!(!slugs(&body).is_empty());
    let (_, body) = app
        .get(
            &format!("/api/kb/search?q={}&category=billing", enc("退款")),
            &agent,
        )
        .await;
    assert!(!slugs(&body).is_empty());
    assert!(
        body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["category"] == "billing"),
        "{body}"
    );
    let (_, body) = app
        .get(
            &format!("/api/kb/search?q={}&tag={}", enc("退款"), enc("重复扣款")),
            &agent,
        )
        .await;
    assert_eq!(slugs(&body), vec!["duplicate-charge"], "{body}");
    let (s, body) = app.get("/api/kb/search?q=refund&lang=fr", &agent).await;
    assert_error(s, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "lang");

    // Highlighted snippet in the original (traditional) characters of the query's match.
    let (_, body) = app
        .get(&format!("/api/kb/search?q={}", enc("快遞")), &agent)
        .await;
    let snippet = body["hits"][0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("<b>快递</b>"), "{snippet}");
    assert!(body["hits"][0]["score"].as_f64().unwrap() > 0.0);

    // Phrases: words in this order only.
    let (_, body) = app
        .get(
            &format!("/api/kb/search?q={}", enc("\"credit card\"")),
            &agent,
        )
        .await;
    assert!(
        slugs(&body).contains(&"refund-timelines".to_string()),
        "{body}"
    );
    let (_, body) = app
        .get(
            &format!("/api/kb/search?q={}", enc("\"card credit\"")),
            &agent,
        )
        .await;
    assert!(slugs(&body).is_empty(), "{body}");

    // Nothing to search for finds nothing (and is not an error).
    let (s, body) = app.get("/api/kb/search?q=", &agent).await;
    assert_eq!(s, 200);
    assert!(slugs(&body).is_empty());
}

#[tokio::test]
async fn admins_create_edit_and_retire_articles_with_versions() {
    let app = spawn().await;
    let (_, agent) = app.user("kb-agent3", "agent").await;
    let admin = app.admin_token.clone();
    let new = json!({"slug": "smart-watch-strap", "lang": "en", "category": "devices",
        "title": "Replacing a smart watch strap", "body": "Slide the quick-release pin to swap the strap.",
        "tags": ["watch", "strap"], "audience": "public"});

    let (s, body) = app.post("/api/kb/articles", &agent, new.clone()).await;
    assert_error(s, &body, 403, "forbidden");
    let mut bad = new.clone();
    bad["lang"] = json!("de");
    let (s, body) = app.post("/api/kb/articles", &admin, bad).await;
    assert_error(s, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "lang");
    let mut bad = new.clone();
    bad["slug"] = json!("Has Spaces");
    let (s, body) = app.post("/api/kb/articles", &admin, bad).await;
    assert_eq!(body["error"]["field"], "slug", "{s} {body}");

    let (s, created) = app.post("/api/kb/articles", &admin, new.clone()).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["version"], 1);
    let (s, body) = app.post("/api/kb/articles", &admin, new.clone()).await;
    assert_error(s, &body, 409, "conflict");

    // Searchable at once, by agents and on the portal.
    let (_, body) = app.get("/api/kb/search?q=quick-release", &agent).await;
    assert_eq!(slugs(&body)[0], "smart-watch-strap", "{body}");

    let (s, edited) = app
        .patch(
            &format!("/api/kb/articles/{id}"),
            &admin,
            json!({"body": "Press the spring bar with a fingernail to swap the band."}),
        )
        .await;
    assert_eq!(s, 200, "{edited}");
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["edited_in_app"], true);
    assert_eq!(edited["title"], "Replacing a smart watch strap");
    let (_, body) = app.get("/api/kb/search?q=quick-release", &agent).await;
    assert!(
        !slugs(&body).contains(&"smart-watch-strap".to_string()),
        "old words are gone: {body}"
    );
    let (_, body) = app.get("/api/kb/search?q=spring%20bar", &agent).await;
    assert_eq!(slugs(&body)[0], "smart-watch-strap");
    let (s, body) = app
        .patch(
            &format!("/api/kb/articles/{id}"),
            &admin,
            json!({"title": " "}),
        )
        .await;
    assert_error(s, &body, 400, "validation_failed");

    let (s, versions) = app
        .get(&format!("/api/kb/articles/{id}/versions"), &agent)
        .await;
    assert_eq!(s, 200);
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 2);
    assert!(
        versions[1]["body"]
            .as_str()
            .unwrap()
            .contains("quick-release")
    );

    let (s, body) = app
        .post(&format!("/api/kb/articles/{id}/retire"), &agent, json!({}))
        .await;
    assert_error(s, &body, 403, "forbidden");
    let (s, retired) = app
        .post(&format!("/api/kb/articles/{id}/retire"), &admin, json!({}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(retired["retired"], true);
    let (_, body) = app.get("/api/kb/search?q=spring%20bar", &agent).await;
    assert!(
        !slugs(&body).contains(&"smart-watch-strap".to_string()),
        "{body}"
    );
    let (s, body) = app.get("/api/kb/articles/999999", &agent).await;
    assert_error(s, &body, 404, "not_found");
    let (s, body) = app
        .patch("/api/kb/articles/999999", &admin, json!({"title": "x"}))
        .await;
    assert_error(s, &body, 404, "not_found");

    // Every change told the other nodes.
    let n: i64 = sqlx::Row::try_get(
        &sqlx::query(
            "SELECT COUNT(*) AS n FROM events WHERE kind = 'kb.changed' AND payload LIKE $1",
        )
        .bind(format!("%\"article_id\":{id}%"))
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap(),
        "n",
    )
    .unwrap();
    assert_eq!(n, 3);
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[tokio::test]
async fn import_is_idempotent_and_keeps_console_edits_unless_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "en/billing/gift-cards.md",
        "---\ntitle: Gift card balance\ntags: [gift card]\naudience: public\n---\nCheck the balance under Me > Wallet.\n",
    );
    write(
        dir.path(),
        "zh/billing/gift-cards.md",
        "---\ntitle: 礼品卡余额\naudience: public\ntranslation_of: en/gift-cards\n---\n在 我的 > 钱包 查看礼品卡余额。\n",
    );
    write(dir.path(), "en/broken/no-front-matter.md", "just text\n");
    let kb_dir = dir.path().to_path_buf();
    let app = TestApp::spawn_with(|c| c.kb_dir = kb_dir.clone()).await;
    let db = &app.state.db;
    let all = knowledge::store::list_articles(db).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(app.state.kb.len(), 2);

    let again = knowledge::import::import_dir(db, dir.path(), false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((again.added, again.updated, again.unchanged), (0, 0, 2));
    assert_eq!(again.failed.len(), 1, "{:?}", again.failed);
    assert_eq!(knowledge::store::list_articles(db).await.unwrap().len(), 2);

    // A changed file updates its article (a new version) when nobody edited it in the app.
    write(
        dir.path(),
        "zh/billing/gift-cards.md",
        "---\ntitle: 礼品卡余额查询\naudience: public\n---\n在 我的 > 钱包 查看礼品卡余额和有效期。\n",
    );
    let r = knowledge::import::import_dir(db, dir.path(), false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((r.added, r.updated, r.unchanged), (0, 1, 1));
    let zh = article_id(&app, "zh", "gift-cards").await;
    let a = knowledge::store::find_article(&db.pool, zh).await.unwrap();
    assert_eq!((a.title.as_str(), a.version), ("礼品卡余额查询", 2));

    // An admin's edit survives a changed file, until an import that overwrites.
    let en = article_id(&app, "en", "gift-cards").await;
    let (s, _) = app
        .patch(
            &format!("/api/kb/articles/{en}"),
            &app.admin_token,
            json!({"title": "Gift card balance and expiry"}),
        )
        .await;
    assert_eq!(s, 200);
    write(
        dir.path(),
        "en/billing/gift-cards.md",
        "---\ntitle: Gift card balance (file)\naudience: public\n---\nCheck the balance under Me > Wallet.\n",
    );
    let r = knowledge::import::import_dir(db, dir.path(), false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((r.updated, r.kept_edits), (0, 1));
    let a = knowledge::store::find_article(&db.pool, en).await.unwrap();
    assert_eq!(a.title, "Gift card balance and expiry");
    let r = knowledge::import::import_dir(db, dir.path(), false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((r.updated, r.kept_edits, r.unchanged), (0, 0, 2));
    let r = knowledge::import::import_dir(db, dir.path(), true, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(r.updated, 1);
    let a = knowledge::store::find_article(&db.pool, en).await.unwrap();
    assert_eq!(a.title, "Gift card balance (file)");
    assert!(!a.edited_in_app);
    let r = knowledge::import::import_dir(db, dir.path(), true, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((r.added, r.updated, r.unchanged), (0, 0, 2));
}

#[tokio::test]
async fn import_retires_articles_whose_file_was_deleted_and_restores_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = |slug: &str, title: &str, body: &str| {
        write(
            dir.path(),
            &format!("en/billing/{slug}.md"),
            &format!("---\ntitle: {title}\naudience: public\n---\n{body}\n"),
        )
    };
    file(
        "gift-cards",
        "Gift card balance",
        "Check the balance under Me > Wallet.",
    );
    file(
        "vouchers",
        "Voucher expiry",
        "Vouchers expire ninety days after they are issued.",
    );
    file(
        "store-credit",
        "Store credit",
        "Store credit pays for any order, shipping included.",
    );
    let kb_dir = dir.path().to_path_buf();
    let app = TestApp::spawn_with(|c| c.kb_dir = kb_dir.clone()).await;
    let (_, agent) = app.user("kb-agent5", "agent").await;
    let db = &app.state.db;
    let import =
        |overwrite: bool| knowledge::import::import_dir(db, dir.path(), overwrite, &|_, _| {});
    let found = |text: &str| {
        app.state
            .kb
            .search(&SearchQuery {
                text: text.into(),
                limit: 5,
                ..SearchQuery::default()
            })
            .unwrap()
            .into_iter()
            .map(|h| h.slug)
            .collect::<Vec<_>>()
    };
    let vouchers = article_id(&app, "en", "vouchers").await;
    let credit = article_id(&app, "en", "store-credit").await;
    assert_eq!(found("voucher expiry"), vec!["vouchers"]);

    // Idempotent: an unchanged folder changes nothing.
    let r = import(false).await.unwrap();
    assert_eq!((r.added, r.updated, r.unchanged, r.retired), (0, 0, 3, 0));

    // A deleted file retires its article: out of search, over HTTP too.
    std::fs::remove_file(dir.path().join("en/billing/vouchers.md")).unwrap();
    let r = import(false).await.unwrap();
    assert_eq!((r.unchanged, r.retired), (2, 1));
    assert_eq!(r.changed_ids, vec![vouchers]);
    knowledge::sync::reindex_articles(&app.state.kb, db, &r.changed_ids)
        .await
        .unwrap();
    assert!(
        knowledge::store::find_article(&db.pool, vouchers)
            .await
            .unwrap()
            .retired
    );
    assert!(found("voucher expiry").is_empty());
    let (s, body) = app.get("/api/kb/search?q=vouchers", &agent).await;
    assert_eq!(s, 200);
    assert!(slugs(&body).is_empty(), "{body}");
    assert_eq!(app.state.kb.len(), 2);
    let r = import(false).await.unwrap();
    assert_eq!((r.updated, r.unchanged, r.retired), (0, 2, 0));
    assert!(r.changed_ids.is_empty());

    // An article edited in the console outlives its file (reported once), until --overwrite.
    let (s, _) = app
        .patch(
            &format!("/api/kb/articles/{credit}"),
            &app.admin_token,
            json!({"title": "Store credit and refunds"}),
        )
        .await;
    assert_eq!(s, 200);
    std::fs::remove_file(dir.path().join("en/billing/store-credit.md")).unwrap();
    let r = import(false).await.unwrap();
    assert_eq!((r.retired, r.kept_edits), (0, 1));
    let r = import(false).await.unwrap();
    assert_eq!((r.retired, r.kept_edits, r.unchanged), (0, 0, 1));
    let a = knowledge::store::find_article(&db.pool, credit)
        .await
        .unwrap();
    assert!(!a.retired && a.title == "Store credit and refunds");
    assert_eq!(found("store credit")[0], "store-credit");
    let r = import(true).await.unwrap();
    assert_eq!((r.retired, r.changed_ids.clone()), (1, vec![credit]));
    knowledge::sync::reindex_articles(&app.state.kb, db, &r.changed_ids)
        .await
        .unwrap();
    assert!(found("store credit").is_empty());

    // A wrong (empty) folder retires nothing.
    let empty = tempfile::tempdir().unwrap();
    let r = knowledge::import::import_dir(db, empty.path(), false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((r.retired, r.changed_ids.len()), (0, 0));

    // The file coming back restores its article; one an admin retired stays retired.
    file(
        "vouchers",
        "Voucher expiry",
        "Vouchers expire ninety days after they are issued.",
    );
    let gift = article_id(&app, "en", "gift-cards").await;
    let (s, _) = app
        .post(
            &format!("/api/kb/articles/{gift}/retire"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let r = import(false).await.unwrap();
    assert_eq!((r.updated, r.unchanged, r.retired), (1, 1, 0));
    assert_eq!(r.changed_ids, vec![vouchers]);
    knowledge::sync::reindex_articles(&app.state.kb, db, &r.changed_ids)
        .await
        .unwrap();
    assert_eq!(found("voucher expiry"), vec!["vouchers"]);
    assert!(
        knowledge::store::find_article(&db.pool, gift)
            .await
            .unwrap()
            .retired
    );
    let r = import(false).await.unwrap();
    assert_eq!((r.updated, r.unchanged, r.retired), (0, 2, 0));
}

#[tokio::test]
async fn suggestions_for_a_ticket_and_usage_recorded() {
    let app = spawn().await;
    let (agent_id, agent) = app.user("kb-agent4", "agent").await;
    let outcome = hotline::intake::receive(&app.state.db, {
        let mut m = hotline::intake::Inbound::new(
            hotline::tickets::Channel::Web,
            None,
            "按电源键没有任何反应，充电也没用",
        );
        m.subject = "手机开不了机".into();
        m
    })
    .await
    .unwrap();
    let ticket = outcome.ticket.id;
    let (s, body) = app
        .get(&format!("/api/tickets/{ticket}/suggestions"), &agent)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["hits"][0]["slug"], "device-wont-power-on", "{body}");
    assert!(body["text"].as_str().unwrap().contains("电源键"));
    let article = body["hits"][0]["id"].as_i64().unwrap();
    let (s, body) = app
        .post(
            &format!("/api/kb/articles/{article}/used"),
            &agent,
            json!({"ticket_id": ticket}),
        )
        .await;
    assert_eq!(s, 204, "{body}");
    let (shown, inserted) = knowledge::store::count_suggestion_uses(&app.state.db, article)
        .await
        .unwrap();
    assert_eq!((shown, inserted), (1, 1));
    let n: i64 = sqlx::Row::try_get(
        &sqlx::query(
            "SELECT COUNT(*) AS n FROM kb_suggestion_uses WHERE user_id = $1 AND ticket_id = $2",
        )
        .bind(agent_id)
        .bind(ticket)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap(),
        "n",
    )
    .unwrap();
    assert!(n >= 2);

    let (s, body) = app
        .post(
            &format!("/api/kb/articles/{article}/used"),
            &agent,
            json!({"ticket_id": 999999}),
        )
        .await;
    assert_error(s, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "ticket_id");
    let (s, body) = app.get("/api/tickets/999999/suggestions", &agent).await;
    assert_error(s, &body, 404, "not_found");

    // The screen pop's entry point: plain text, English.
    let hits = knowledge::suggest_for_text(&app.state.kb, "I was charged twice for my order", None)
        .unwrap();
    assert_eq!(hits[0].slug, "duplicate-charge");
    assert_eq!(hits[0].lang, "en");
}

#[tokio::test]
async fn index_is_rebuilt_when_missing_or_of_another_schema() {
    let app = spawn().await;
    let db = &app.state.db;
    let live = knowledge::store::list_articles(db).await.unwrap().len() as u64;
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("kb-index");
    let find = |kb: &Kb| {
        kb.search(&SearchQuery {
            text: "退款".into(),
            limit: 3,
            ..SearchQuery::default()
        })
        .unwrap()
        .len()
    };
    // Missing: built from the articles table (no folder to import).
    let kb = knowledge::sync::open(db, &idx, None).await.unwrap();
    assert_eq!(kb.len(), live);
    assert!(find(&kb) > 0);
    drop(kb);
    // Reopened with the same schema: kept as is.
    let (kb, rebuild) = Kb::open(&idx).unwrap();
    assert!(!rebuild);
    assert_eq!(kb.len(), live);
    drop(kb);
    // Written by another schema version: rebuilt from the table.
    std::fs::write(idx.join("hotline-schema-version"), "0").unwrap();
    let (kb, rebuild) = Kb::open(&idx).unwrap();
    assert!(rebuild);
    assert_eq!(kb.len(), 0);
    drop(kb);
    std::fs::write(idx.join("hotline-schema-version"), "0").unwrap();
    let kb = knowledge::sync::open(db, &idx, None).await.unwrap();
    assert_eq!(kb.len(), live);
    assert!(find(&kb) > 0);
    // Another node's change arrives as kb.changed: reindex that article.
    let id = article_id(&app, "en", "sms-opt-out").await;
    let mut tx = db.begin().await.unwrap();
    knowledge::store::update_retired(&mut tx, db, id, true)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    knowledge::sync::reindex_articles(&kb, db, &[id])
        .await
        .unwrap();
    assert_eq!(kb.len(), live - 1);
}

#[tokio::test]
async fn searches_never_fail_or_lose_articles_while_the_index_changes() {
    let app = spawn().await;
    let kb = app.state.kb.clone();
    let id = article_id(&app, "en", "refund-timelines").await;
    let base = knowledge::store::find_article(&app.state.db.pool, id)
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut searchers = Vec::new();
    for _ in 0..2 {
        let kb = kb.clone();
        let stop = stop.clone();
        searchers.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let hits = kb
                    .search(&SearchQuery {
                        text: "refund timelines".into(),
                        lang: Some("en".into()),
                        limit: 3,
                        ..SearchQuery::default()
                    })
                    .expect("search during updates");
                assert_eq!(hits[0].id, id, "the article is always found, old or new");
                n += 1;
            }
            n
        }));
    }
    let updater = {
        let kb = kb.clone();
        std::thread::spawn(move || {
            for i in 0..15 {
                let mut a = base.clone();
                a.body = format!("{} revision-{i}", base.body);
                kb.apply(&[a], &[]).unwrap();
            }
        })
    };
    updater.join().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let searches: usize = searchers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(searches > 0);
    let hits = kb
        .search(&SearchQuery {
            text: "revision-14".into(),
            limit: 3,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, id);
}

#[tokio::test]
async fn another_nodes_index_follows_kb_changed_events() {
    let app = spawn().await;
    let db = app.state.db.clone();
    // A second node: its own index on the same database.
    let dir = tempfile::tempdir().unwrap();
    let other = knowledge::sync::open(&db, &dir.path().join("kb-index"), None)
        .await
        .unwrap();
    let follower = tokio::spawn(knowledge::sync::follow_changes(db.clone(), other.clone()));
    let id = article_id(&app, "en", "holiday-hours").await;
    let (s, _) = app
        .patch(
            &format!("/api/kb/articles/{id}"),
            &app.admin_token,
            json!({"body": "Lantern Festival: the hotline closes at 18:00."}),
        )
        .await;
    assert_eq!(s, 200);
    let search = |kb: &Kb| {
        kb.search(&SearchQuery {
            text: "lantern".into(),
            limit: 3,
            ..SearchQuery::default()
        })
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while search(&other) != vec![id] {
        assert!(
            std::time::Instant::now() < deadline,
            "the other node never caught up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(search(&app.state.kb), vec![id]);
    follower.abort();
}

#[tokio::test]
async fn a_node_catches_up_with_changes_made_while_it_was_down() {
    let app = spawn().await;
    let db = app.state.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("kb-index");
    // The node runs once (its index records how far it followed the events), then stops.
    let kb = knowledge::sync::open(&db, &idx, None).await.unwrap();
    let seen = kb.events_seq().unwrap();
    assert!(seen > 0);
    drop(kb);
    // While it is down, an admin edits an article through another node.
    let id = article_id(&app, "en", "holiday-hours").await;
    let (s, _) = app
        .patch(
            &format!("/api/kb/articles/{id}"),
            &app.admin_token,
            json!({"body": "Dragon Boat Festival: the hotline closes at noon."}),
        )
        .await;
    assert_eq!(s, 200);
    // It restarts on its index as it was (no rebuild) and catches up from where it stopped.
    let kb = knowledge::sync::open(&db, &idx, None).await.unwrap();
    assert_eq!(kb.events_seq(), Some(seen));
    let search = |kb: &Kb| {
        kb.search(&SearchQuery {
            text: "dragon boat".into(),
            limit: 3,
            ..SearchQuery::default()
        })
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect::<Vec<_>>()
    };
    assert!(search(&kb).is_empty(), "not caught up yet");
    let follower = tokio::spawn(knowledge::sync::follow_changes(db.clone(), kb.clone()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // The follower records how far it got just after the search sees the change: both are
    // awaited (checking the mark at once failed on a loaded machine).
    while search(&kb) != vec![id] || kb.events_seq().unwrap() <= seen {
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted node never caught up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    follower.abort();
}
