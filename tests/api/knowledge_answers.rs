//! The knowledge base's answers: traditional characters, quoted phrases in questions, clean
//! snippets, Markdown rendered safely, the customer-facing answer apart from the internal
//! section (what "insert into reply" takes), suggestions in the customer's language, and the
//! portal's search budget.

use crate::support::{TestApp, assert_error};
use serde_json::{Value, json};

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

/// An app with no articles of its own folder: each test writes the ones it needs.
async fn spawn() -> TestApp {
    let dir = std::env::temp_dir().join("hotline-kb-answers-empty");
    std::fs::create_dir_all(&dir).unwrap();
    TestApp::spawn_with(|c| c.kb_dir = dir).await
}

async fn article(app: &TestApp, v: Value) -> i64 {
    let (s, body) = app.post("/api/kb/articles", &app.admin_token, v).await;
    assert_eq!(s, 201, "{body}");
    body["id"].as_i64().unwrap()
}

fn public(slug: &str, lang: &str, title: &str, body: &str) -> Value {
    json!({"slug": slug, "lang": lang, "category": "service", "title": title, "body": body,
           "audience": "public"})
}

#[tokio::test]
async fn traditional_characters_find_what_simplified_ones_find() {
    let app = spawn().await;
    let (_, agent) = app.user("kba-agent1", "agent").await;
    article(
        &app,
        public(
            "uninstall",
            "zh",
            "应用卸载",
            "在设置里可以卸载应用，卸载后数据会清除。",
        ),
    )
    .await;
    article(
        &app,
        public(
            "kernel",
            "zh",
            "系统内核",
            "内核升级需要重启设备，内核版本在关于本机查看。",
        ),
    )
    .await;
    article(
        &app,
        public(
            "architecture",
            "zh",
            "服务架构",
            "架构说明：设备连接云端，架构分为三层。",
        ),
    )
    .await;
    for (traditional, simplified, want) in [
        ("卸載", "卸载", "uninstall"),
        ("內核", "内核", "kernel"),
        ("架構", "架构", "architecture"),
    ] {
        let (_, simple) = app
            .get(&format!("/api/kb/search?q={}", enc(simplified)), &agent)
            .await;
        let (s, trad) = app
            .get(&format!("/api/kb/search?q={}", enc(traditional)), &agent)
            .await;
        assert_eq!(s, 200, "{trad}");
        assert_eq!(slugs(&simple).first().map(String::as_str), Some(want));
        assert_eq!(slugs(&trad), slugs(&simple), "{traditional}: {trad}");
    }
    // Traditional text in an article is found by simplified words too.
    article(
        &app,
        public(
            "wifi-tw",
            "zh",
            "無線網路設定",
            "請在設定中選擇網路，輸入密碼後連線。",
        ),
    )
    .await;
    let (_, body) = app
        .get(&format!("/api/kb/search?q={}", enc("无线网路设定")), &agent)
        .await;
    assert_eq!(slugs(&body).first().map(String::as_str), Some("wifi-tw"));
}

#[tokio::test]
async fn quotes_in_a_question_boost_the_phrase_and_alone_they_filter() {
    let app = spawn().await;
    let (_, agent) = app.user("kba-agent2", "agent").await;
    article(
        &app,
        public(
            "beta",
            "en",
            "What the beta version includes",
            "The beta version includes the new dashboard and offline maps.",
        ),
    )
    .await;
    article(
        &app,
        public(
            "versions",
            "en",
            "Version history",
            "Each version lists its features; beta testers see them first.",
        ),
    )
    .await;
    article(
        &app,
        public(
            "zh-beta",
            "zh",
            "测试版包含什么",
            "测试版包含新的首页和离线地图。",
        ),
    )
    .await;
    let search = |q: &str| {
        let q = enc(q);
        let app = &app;
        let agent = agent.clone();
        async move {
            let (s, body) = app.get(&format!("/api/kb/search?q={q}"), &agent).await;
            assert_eq!(s, 200, "{body}");
            slugs(&body)
        }
    };
    // A natural question with a quoted phrase finds articles; the phrase ranks first.
    assert_eq!(
        search("“测试版”包含什么").await.first().map(String::as_str),
        Some("zh-beta")
    );
    let found = search("\"beta version\" features").await;
    assert_eq!(found.first().map(String::as_str), Some("beta"), "{found:?}");
    assert!(found.contains(&"versions".to_string()), "{found:?}");
    // A phrase no article has does not empty the results of a question.
    let found = search("\"version beta\" features").await;
    assert!(found.contains(&"versions".to_string()), "{found:?}");
    // The quoted phrase alone is a filter.
    assert_eq!(search("\"beta version\"").await, vec!["beta"]);
    assert!(search("\"version beta\"").await.is_empty());
}

#[tokio::test]
async fn snippets_are_clean_and_highlight_the_query_words() {
    let app = spawn().await;
    let (_, agent) = app.user("kba-agent3", "agent").await;
    let long = "Before you start, make sure the device is charged and connected to power. \
        Install the devscripts tools from the settings page, then restart the device twice. \
        When the restart finishes, open the maintenance menu and choose the calibration option \
        that matches your model, following the prompts shown on the screen until it reports \
        success and the light turns green.";
    article(&app, public("long", "en", "Maintenance", long)).await;
    article(
        &app,
        public(
            "short",
            "en",
            "Refund card",
            "## Refunds\n\nRefunds go back to **your card**[^1] within 5 days.\n\n[^1]: Or wallet.",
        ),
    )
    .await;
    article(
        &app,
        public(
            "zh-install",
            "zh",
            "安装失败",
            "安装中途失败时，先重启路由器，到第二天后台会自动重试安装。",
        ),
    )
    .await;
    let hit = |q: &str, slug: &str| {
        let q = enc(q);
        let app = &app;
        let agent = agent.clone();
        let slug = slug.to_string();
        async move {
            let (_, body) = app.get(&format!("/api/kb/search?q={q}"), &agent).await;
            body["hits"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["slug"] == slug.as_str())
                .unwrap_or_else(|| panic!("{slug} in {body}"))["snippet"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    // No word cut in half at either end.
    let s = hit("calibration", "long").await;
    assert!(s.contains("<b>calibration</b>"), "{s}");
    let bare = |w: &str| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string();
    let words: std::collections::HashSet<String> = long.split_whitespace().map(bare).collect();
    let plain = s.replace("<b>", "").replace("</b>", "");
    for w in plain.trim_matches('…').split_whitespace() {
        assert!(words.contains(&bare(w)), "{w:?} is cut in {s}");
    }
    // A short body from its start, without Markdown or footnote markers.
    let s = hit("refund", "short").await;
    assert!(s.starts_with("<b>Refunds</b>"), "{s}");
    for raw in ["**", "##", "[^1]", "\n"] {
        assert!(!s.contains(raw), "{raw:?} in {s}");
    }
    // The query's words are highlighted, not single characters split off them.
    let s = hit("安装到一半就失败了", "zh-install").await;
    assert!(s.contains("<b>安装</b>"), "{s}");
    for part in s.split("<b>").skip(1) {
        let word = part.split("</b>").next().unwrap();
        assert!(word.chars().count() >= 2, "{word:?} highlighted in {s}");
    }
}

#[tokio::test]
async fn articles_render_markdown_safely_and_keep_internal_sections_for_agents() {
    let app = spawn().await;
    let (_, agent) = app.user("kba-agent4", "agent").await;
    let body = "Your refund is **on its way**.\n\n| Method | Days |\n|---|---|\n| Card | 3-7 |\n\n\
                <script>alert(1)</script>\n\n## Internal\n\nCheck the **payment log** first.";
    let id = article(&app, public("refund-md", "en", "Refund status", body)).await;
    let (s, a) = app.get(&format!("/api/kb/articles/{id}"), &agent).await;
    assert_eq!(s, 200, "{a}");
    let answer = a["answer_html"].as_str().unwrap();
    assert!(answer.contains("<strong>on its way</strong>"), "{answer}");
    assert!(
        answer.contains("<table>") && answer.contains("<td>Card</td>"),
        "{answer}"
    );
    for raw in ["**", "|", "<script", "payment log"] {
        assert!(!answer.contains(raw), "{raw:?} in {answer}");
    }
    let internal = a["internal_html"].as_str().unwrap();
    assert!(
        internal.contains("<strong>payment log</strong>"),
        "{internal}"
    );
    assert!(!internal.contains("Internal"), "{internal}");

    // The portal: the answer only, in the body and the HTML alike.
    let (s, p) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/portal/kb/articles/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert!(p.get("internal_html").is_none(), "{p}");
    assert!(!p["body"].as_str().unwrap().contains("payment log"), "{p}");
    assert!(
        p["answer_html"]
            .as_str()
            .unwrap()
            .contains("<strong>on its way</strong>")
    );
    // Nor does the portal's search find or show the internal section.
    let (_, found) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/portal/kb/search?q={}", enc("payment log")),
            None,
            None,
        )
        .await;
    assert!(slugs(&found).is_empty(), "{found}");
    let (_, found) = app
        .get(&format!("/api/kb/search?q={}", enc("payment log")), &agent)
        .await;
    assert_eq!(slugs(&found), vec!["refund-md"], "{found}");
    assert!(
        found["hits"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<b>payment</b>"),
        "{found}"
    );
}

#[tokio::test]
async fn insert_takes_the_customer_facing_answer_in_the_customers_language() {
    let app = spawn().await;
    let (_, agent) = app.user("kba-agent5", "agent").await;
    let en = article(
        &app,
        json!({"slug": "charged-twice", "lang": "en", "category": "billing",
               "title": "Charged twice", "audience": "public",
               "body": "If you see **two payments**, one is usually a hold:\n\n- it is released in 3-7 days\n- no action is needed\n\n## Internal\n\nIf both captured, start a refund in the billing console."}),
    )
    .await;
    let zh = article(
        &app,
        json!({"slug": "charged-twice", "lang": "zh", "category": "billing",
               "title": "重复扣款", "audience": "public", "translation_of": "en/charged-twice",
               "body": "如果看到**两笔扣款**，通常其中一笔是预授权，3–7 个工作日内自动解冻。\n\n## 内部\n\n两笔都成功时在账务后台发起退款。"}),
    )
    .await;
    let internal = article(
        &app,
        json!({"slug": "escalate", "lang": "en", "category": "service", "title": "Escalation",
               "audience": "internal", "body": "Call the supervisor on duty."}),
    )
    .await;
    let (s, a) = app
        .get(&format!("/api/kb/articles/{en}/answer"), &agent)
        .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["article_id"], en);
    assert_eq!(
        a["text"],
        "If you see two payments, one is usually a hold:\n\n- it is released in 3-7 days\n- no action is needed"
    );
    // In the customer's language: the translation (either direction).
    let (s, a) = app
        .get(&format!("/api/kb/articles/{en}/answer?lang=zh-CN"), &agent)
        .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["article_id"], zh);
    assert_eq!(a["lang"], "zh");
    let text = a["text"].as_str().unwrap();
    assert!(text.contains("两笔扣款") && !text.contains("**"), "{text}");
    assert!(!text.contains("账务后台"), "{text}");
    let (_, a) = app
        .get(&format!("/api/kb/articles/{zh}/answer?lang=en"), &agent)
        .await;
    assert_eq!(a["article_id"], en);
    // No translation: the article's own language.
    let (_, a) = app
        .get(&format!("/api/kb/articles/{en}/answer?lang=en"), &agent)
        .await;
    assert_eq!(a["article_id"], en);
    // Internal articles are never inserted into a customer reply.
    let (s, body) = app
        .get(&format!("/api/kb/articles/{internal}/answer"), &agent)
        .await;
    assert_error(s, &body, 422, "unprocessable");
    let (s, body) = app
        .get(&format!("/api/kb/articles/{en}/answer?lang=fr"), &agent)
        .await;
    assert_error(s, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "lang");
    let (s, body) = app.get("/api/kb/articles/999999/answer", &agent).await;
    assert_error(s, &body, 404, "not_found");
}

#[tokio::test]
async fn suggestions_prefer_the_customers_language() {
    let app = spawn().await;
    let (_, agent) = app.user("kba-agent6", "agent").await;
    article(
        &app,
        public(
            "refund-en",
            "en",
            "Refund timelines",
            "A refund reaches your card in 3-7 days.",
        ),
    )
    .await;
    article(
        &app,
        public(
            "refund-zh",
            "zh",
            "退款多久到账",
            "退款（refund）会在 3–7 个工作日内退回原支付卡。",
        ),
    )
    .await;
    let (s, c) = app
        .post(
            "/api/customers",
            &app.admin_token,
            json!({"display_name": "李雷", "language": "zh",
                   "identities": [{"kind": "email", "value": "li.lei@example.cn"}]}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let customer = c["id"].as_i64().unwrap();
    let (s, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "refund", "customer_id": customer, "channel": "email",
                   "body": "refund"}),
        )
        .await;
    assert!(s.is_success(), "{t}");
    let ticket = t["id"].as_i64().unwrap();
    let (s, body) = app
        .get(&format!("/api/tickets/{ticket}/suggestions"), &agent)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(slugs(&body), vec!["refund-zh"], "{body}");

    // Nothing in the customer's language: the other language rather than nothing.
    let (_, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "card days", "customer_id": customer, "channel": "email",
                   "body": "card days"}),
        )
        .await;
    let ticket = t["id"].as_i64().unwrap();
    let (_, body) = app
        .get(&format!("/api/tickets/{ticket}/suggestions"), &agent)
        .await;
    assert_eq!(slugs(&body), vec!["refund-en"], "{body}");
}

#[tokio::test]
async fn portal_search_is_rate_limited_per_address() {
    let dir = std::env::temp_dir().join("hotline-kb-answers-empty");
    std::fs::create_dir_all(&dir).unwrap();
    let app = TestApp::spawn_with(|c| {
        c.kb_dir = dir;
        c.portal_kb_searches_per_minute = 3;
    })
    .await;
    let (_, agent) = app.user("kba-agent7", "agent").await;
    for _ in 0..3 {
        let (s, body) = app
            .call(
                reqwest::Method::GET,
                "/api/portal/kb/search?q=refund",
                None,
                None,
            )
            .await;
        assert_eq!(s, 200, "{body}");
    }
    let (s, body) = app
        .call(
            reqwest::Method::GET,
            "/api/portal/kb/search?q=refund",
            None,
            None,
        )
        .await;
    assert_error(s, &body, 429, "rate_limited");
    // Agents' search has no such budget.
    for _ in 0..5 {
        let (s, _) = app.get("/api/kb/search?q=refund", &agent).await;
        assert_eq!(s, 200);
    }
}

#[tokio::test]
async fn similar_questions_find_their_article() {
    let app = spawn().await;
    let (_, agent) = app.user("kba-agent8", "agent").await;
    let id = article(
        &app,
        json!({"slug": "refund-arrival", "lang": "zh", "category": "billing",
               "title": "退款到账时间", "audience": "public",
               "body": "退货验收通过后开始退款，信用卡 3–7 个工作日。",
               "questions": ["钱怎么还没回来", "退的钱去哪了"]}),
    )
    .await;
    article(
        &app,
        public(
            "money-back-guarantee",
            "zh",
            "回来",
            "商品回来以后钱会怎样处理。",
        ),
    )
    .await;
    let (s, a) = app.get(&format!("/api/kb/articles/{id}"), &agent).await;
    assert_eq!(s, 200);
    assert_eq!(a["questions"], json!(["钱怎么还没回来", "退的钱去哪了"]));
    let (_, body) = app
        .get(
            &format!("/api/kb/search?q={}", enc("钱怎么还没回来")),
            &agent,
        )
        .await;
    assert_eq!(
        slugs(&body).first().map(String::as_str),
        Some("refund-arrival"),
        "{body}"
    );
    // The portal finds them too (questions are customer words).
    let (_, body) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/portal/kb/search?q={}", enc("退的钱去哪了")),
            None,
            None,
        )
        .await;
    assert_eq!(
        slugs(&body).first().map(String::as_str),
        Some("refund-arrival"),
        "{body}"
    );
    let (s, body) = app
        .patch(
            &format!("/api/kb/articles/{id}"),
            &app.admin_token,
            json!({"questions": [""]}),
        )
        .await;
    assert_error(s, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "questions");
}

#[tokio::test]
async fn admins_synonyms_apply_to_searches() {
    let app = spawn().await;
    let (_, agent) = app.user("kba-agent9", "agent").await;
    article(
        &app,
        public(
            "refund-zh",
            "zh",
            "退款说明",
            "退款会在 3–7 个工作日内原路退回。",
        ),
    )
    .await;
    article(
        &app,
        public(
            "refund-en",
            "en",
            "Refunds",
            "A refund reaches your card in 3-7 days.",
        ),
    )
    .await;
    let found = |q: &str| {
        let q = enc(q);
        let app = &app;
        let agent = agent.clone();
        async move {
            let (_, body) = app.get(&format!("/api/kb/search?q={q}"), &agent).await;
            slugs(&body)
        }
    };
    assert!(found("退钱").await.is_empty());
    assert!(found("reimbursement").await.is_empty());
    let groups =
        json!({"groups": [["退款", " 退钱 ", "返还", "退钱"], ["refund", "reimbursement"]]});
    let (s, body) = app
        .call(
            reqwest::Method::PUT,
            "/api/kb/synonyms",
            Some(&agent),
            Some(groups.clone()),
        )
        .await;
    assert_error(s, &body, 403, "forbidden");
    let (s, body) = app
        .call(
            reqwest::Method::PUT,
            "/api/kb/synonyms",
            Some(&app.admin_token),
            Some(groups),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["groups"][0], json!(["退款", "退钱", "返还"]));
    assert_eq!(found("退钱").await, vec!["refund-zh"]);
    assert_eq!(found("退錢").await, vec!["refund-zh"]);
    assert_eq!(found("reimbursement").await, vec!["refund-en"]);
    let (s, body) = app.get("/api/kb/synonyms", &agent).await;
    assert_eq!(s, 200);
    assert_eq!(body["groups"][1], json!(["refund", "reimbursement"]));
    let (s, body) = app
        .call(
            reqwest::Method::PUT,
            "/api/kb/synonyms",
            Some(&app.admin_token),
            Some(json!({"groups": [["alone"]]})),
        )
        .await;
    assert_error(s, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "groups");
    // Stored: a node opening the index later applies them too.
    let kb = hotline::knowledge::sync::open(
        &app.state.db,
        &tempfile::tempdir().unwrap().path().join("kb-index"),
        None,
    )
    .await
    .unwrap();
    let hits = kb
        .search(&hotline::knowledge::SearchQuery {
            text: "退钱".into(),
            limit: 3,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits[0].slug, "refund-zh");
}

/// Learning from answered tickets: inserting an article into a reply proposes the customer's
/// question as a similar question; an admin accepts it (reworded or not) and the customer's
/// words find the article at once; a rejected one is not proposed again; agents cannot review.
#[tokio::test]
async fn inserted_answers_teach_the_article_the_customers_words() {
    let dir = std::env::temp_dir().join("hotline-kb-answers-empty");
    std::fs::create_dir_all(&dir).unwrap();
    let app = TestApp::spawn_with(|c| {
        c.kb_dir = dir;
        c.portal_form_min_age_ms = 100;
    })
    .await;
    let (_, agent) = app.user("kba-agent9", "agent").await;
    let id = article(
        &app,
        public(
            "parcel-late",
            "zh",
            "快递延误怎么办",
            "物流超过 48 小时没有更新时，我们会向快递公司发起查件，24 小时内回复您。",
        ),
    )
    .await;
    article(
        &app,
        public(
            "opening-hours",
            "zh",
            "营业时间",
            "我们每天 9:00–21:00 接听电话。",
        ),
    )
    .await;
    // Two customers write through the portal: a question, and a word too short to be one.
    let mut tickets = Vec::new();
    for (email, words) in [
        (
            "zhou@example.cn",
            "包裹五天了一直卡在中转站不动？订单 SF998",
        ),
        ("li@example.cn", "hi"),
    ] {
        let (_, form) = app
            .call(reqwest::Method::GET, "/api/portal/form-token", None, None)
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (s, r) = app
            .call(
                reqwest::Method::POST,
                "/api/portal/complaints",
                None,
                Some(json!({"name": "周杰", "email": email, "kind": "inquiry",
                            "description": words, "form_token": form["token"],
                            "website": ""})),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        tickets.push(r["ticket_number"].as_i64().unwrap());
    }
    // Before: the customer's words do not find the article first.
    let words = "包裹五天了一直卡在中转站不动？";
    let (_, before) = app
        .get(&format!("/api/kb/search?q={}", enc(words)), &agent)
        .await;
    assert_ne!(
        slugs(&before).first().map(String::as_str),
        Some("parcel-late"),
        "{before}"
    );
    // The agent (in the default queue, like the tickets) inserts the article twice: one
    // proposal. A message too short to be a question proposes nothing.
    let q = {
        let (_, list) = app.get("/api/queues", &app.admin_token).await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|q| q["is_default"] == true)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (_, me) = app.get("/api/auth/me", &agent).await;
    let (s, b) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{q}/members"),
            Some(&app.admin_token),
            Some(json!({"user_ids": [me["id"]]})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    for t in [tickets[0], tickets[0], tickets[1]] {
        let (s, b) = app
            .post(
                &format!("/api/kb/articles/{id}/used"),
                &agent,
                json!({"ticket_id": t}),
            )
            .await;
        assert_eq!(s, 204, "{b}");
    }
    let (s, b) = app.get("/api/kb/proposals", &agent).await;
    assert_error(s, &b, 403, "forbidden");
    let (s, list) = app.get("/api/kb/proposals", &app.admin_token).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["question"], words);
    assert_eq!(list[0]["article_id"], id);
    assert_eq!(list[0]["ticket_id"], tickets[0]);
    let pid = list[0]["id"].as_i64().unwrap();

    // Accepted: the article has the question in a new version, and the words find it first.
    let (s, p) = app
        .post(
            &format!("/api/kb/proposals/{pid}/accept"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["status"], "accepted");
    let (_, a) = app.get(&format!("/api/kb/articles/{id}"), &agent).await;
    assert_eq!(a["questions"], json!([words]), "{a}");
    let (_, after) = app
        .get(&format!("/api/kb/search?q={}", enc(words)), &agent)
        .await;
    assert_eq!(
        slugs(&after).first().map(String::as_str),
        Some("parcel-late"),
        "before: {before}\nafter: {after}"
    );
    let (s, b) = app
        .post(
            &format!("/api/kb/proposals/{pid}/reject"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");

    // Rejected: kept, and the same words on another ticket are not proposed again.
    let other = article(
        &app,
        public(
            "parcel-lost",
            "zh",
            "快递丢失",
            "包裹确认丢失后我们全额退款或补发。",
        ),
    )
    .await;
    let (s, _) = app
        .post(
            &format!("/api/kb/articles/{other}/used"),
            &agent,
            json!({"ticket_id": tickets[0]}),
        )
        .await;
    assert_eq!(s, 204);
    let (_, list) = app.get("/api/kb/proposals", &app.admin_token).await;
    let pid = list[0]["id"].as_i64().unwrap();
    let (s, p) = app
        .post(
            &format!("/api/kb/proposals/{pid}/reject"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    app.post(
        &format!("/api/kb/articles/{other}/used"),
        &agent,
        json!({"ticket_id": tickets[0]}),
    )
    .await;
    let (_, pending) = app.get("/api/kb/proposals", &app.admin_token).await;
    assert_eq!(pending, json!([]));
    let (_, rejected) = app
        .get("/api/kb/proposals?status=rejected", &app.admin_token)
        .await;
    assert_eq!(rejected.as_array().unwrap().len(), 1);
    let (s, b) = app
        .get("/api/kb/proposals?status=maybe", &app.admin_token)
        .await;
    assert_error(s, &b, 400, "validation_failed");

    // Marked as the answer without inserting it: an internal article the agent read out on
    // the phone learns the customer's words too (and nothing is counted as inserted).
    let steps = article(
        &app,
        json!({"slug": "transit-stuck-steps", "lang": "zh", "category": "service",
               "title": "中转站滞留的查件步骤", "audience": "internal",
               "body": "在快递公司后台提交查件工单，选择“中转滞留”。"}),
    )
    .await;
    let (s, _) = app
        .post(
            &format!("/api/kb/articles/{steps}/answered"),
            &agent,
            json!({"ticket_id": tickets[0]}),
        )
        .await;
    assert_eq!(s, 204);
    let (_, pending) = app.get("/api/kb/proposals", &app.admin_token).await;
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending[0]["article_id"], steps);
    assert_eq!(pending[0]["question"], "包裹五天了一直卡在中转站不动？");
    let inserted = crate::twilio_fake::count(
        &app,
        &format!("SELECT COUNT(*) AS n FROM kb_suggestion_uses WHERE article_id = {steps}"),
    )
    .await;
    assert_eq!(inserted, 0);
    // No such ticket (as for one the agent may not see: its existence is not disclosed).
    let (s, b) = app
        .post(
            &format!("/api/kb/articles/{steps}/answered"),
            &agent,
            json!({"ticket_id": 987_654}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
}
