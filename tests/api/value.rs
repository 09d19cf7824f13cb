//! Orders and value tiers: the orders API (idempotent on the external id, exact amounts, bad
//! input refused with nothing stored), tiers on a data set whose expected tiers are written down
//! by hand (ties, a refund, a customer without orders in the window, a pinned tier), the tier
//! history and `customer.tier_changed`, unpinning, the leader's daily recompute, and the queue
//! priority of vip customers' tickets (`HOTLINE_TIER_PRIORITY`).

use crate::support::{TestApp, assert_error};
use crate::twilio_fake::count;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DAY: i64 = 86_400_000;

async fn order(app: &TestApp, customer: i64, body: Value) -> (u16, Value) {
    let (s, b) = app
        .post(
            &format!("/api/customers/{customer}/orders"),
            &app.admin_token,
            body,
        )
        .await;
    (s.as_u16(), b)
}

/// An order of `amount` yuan `days_ago` days ago.
async fn paid(app: &TestApp, customer: i64, id: &str, amount: &str, days_ago: i64, status: &str) {
    let at = jiff::Timestamp::from_millisecond(app.state.clock.now_ms() - days_ago * DAY).unwrap();
    let (s, b) = order(
        app,
        customer,
        json!({"external_id": id, "ordered_at": at.to_string(), "amount": amount,
               "currency": "CNY", "product": "Washer", "status": status}),
    )
    .await;
    assert!(s == 201 || s == 200, "{b}");
}

async fn value(app: &TestApp, customer: i64) -> Value {
    let (s, v) = app
        .get(
            &format!("/api/customers/{customer}/value"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn tier(app: &TestApp, customer: i64) -> String {
    value(app, customer).await["tier"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn orders_are_idempotent_exact_and_checked() {
    let app = TestApp::spawn().await;
    let c = app.customer("Wang Fang", &[]).await;
    let other = app.customer("Li Lei", &[]).await;
    let body = json!({"external_id": "SO-1001", "ordered_at": "2026-03-01T10:00:00+08:00",
        "amount": "199.90", "currency": "cny", "product": "Washer W7", "category": "appliances",
        "channel": "tmall", "status": "paid"});
    let (s, o) = order(&app, c, body.clone()).await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["amount"], "199.90");
    assert_eq!(o["amount_minor"], 19990);
    assert_eq!(o["currency"], "CNY");
    assert_eq!(o["ordered_at"], 1_772_330_400_000i64);
    // The same external id again updates (a refund here): 200, still one order.
    let mut refund = body.clone();
    refund["status"] = json!("refunded");
    refund["amount"] = json!(199.9);
    let (s, o2) = order(&app, c, refund).await;
    assert_eq!(s, 200, "{o2}");
    assert_eq!(o2["id"], o["id"]);
    assert_eq!(o2["status"], "refunded");
    assert_eq!(o2["amount_minor"], 19990);
    let (s, list) = app
        .get(&format!("/api/customers/{c}/orders"), &app.admin_token)
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Another customer may not take the external id over.
    let (s, e) = order(&app, other, body.clone()).await;
    assert_error(
        reqwest::StatusCode::from_u16(s).unwrap(),
        &e,
        409,
        "conflict",
    );
    // Bad input: 400 `validation_failed` naming the field, nothing stored.
    for (field, patch) in [
        ("amount", json!({"amount": "1.999"})),
        ("amount", json!({"amount": "12,50"})),
        ("amount", json!({"amount": "-5"})),
        ("amount", json!({"amount": true})),
        ("currency", json!({"currency": "yuan"})),
        ("ordered_at", json!({"ordered_at": "yesterday"})),
        ("status", json!({"status": "lost"})),
        ("external_id", json!({"external_id": "  "})),
    ] {
        let mut b = body.clone();
        b["external_id"] = json!("SO-BAD");
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let (s, e) = order(&app, c, b).await;
        assert_error(
            reqwest::StatusCode::from_u16(s).unwrap(),
            &e,
            400,
            "validation_failed",
        );
        assert_eq!(e["error"]["field"], field, "{e}");
    }
    // Yen have no minor unit: 1500 is 1500.
    let (s, y) = order(
        &app,
        c,
        json!({"external_id": "JP-1", "ordered_at": "2026-03-01T00:00:00Z", "amount": 1500,
               "currency": "JPY"}),
    )
    .await;
    assert_eq!(s, 201, "{y}");
    assert_eq!(y["amount_minor"], 1500);
    assert_eq!(y["status"], "paid");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM orders").await, 2);
    // An unknown customer is 404; agents may read orders but not write them.
    let (s, e) = order(&app, 999_999, body).await;
    assert_error(
        reqwest::StatusCode::from_u16(s).unwrap(),
        &e,
        404,
        "not_found",
    );
    let (_, agent) = app.user("agent1", "agent").await;
    let (s, _) = app.get(&format!("/api/customers/{c}/orders"), &agent).await;
    assert_eq!(s, 200);
    let (s, e) = app
        .post(
            &format!("/api/customers/{c}/orders"),
            &agent,
            json!({"external_id": "X", "ordered_at": "2026-03-01T00:00:00Z", "amount": 1,
                   "currency": "CNY"}),
        )
        .await;
    assert_error(s, &e, 403, "forbidden");
}

/// The data set, with the tiers worked out by hand (80% key share, 20% vip share, 12 months):
///
/// | customer | counting revenue in window | note                                   | tier    |
/// |----------|----------------------------|----------------------------------------|---------|
/// | A        | 5000 (3000 + 2000)          | 0 ahead                                | vip     |
/// | B        | 2000                        | 5000 ahead (50%)                       | key     |
/// | C        | 1000                        | 7000 ahead (70%)                       | key     |
/// | D        | 1000                        | tied with C                            | key     |
/// | E        | 500                         | 9000 ahead (90%)                       | regular |
/// | F        | 500 (+ 10000 refunded)      | the refund does not count              | regular |
/// | G        | 0 (8000, 13 months ago)     | nothing in the window                  | low     |
/// | H        | none                        | set to `key` by hand: pinned           | key     |
///
/// Total 10000; the key set is A–D (4 customers: C and D tie), vip the top ⌈20% × 4⌉ = 1.
#[tokio::test]
async fn tiers_follow_pareto_on_a_known_data_set() {
    let app = TestApp::spawn().await;
    let mut ids = std::collections::HashMap::new();
    for name in ["A", "B", "C", "D", "E", "F", "G", "H"] {
        ids.insert(name, app.customer(name, &[]).await);
    }
    let (s, h) = app
        .patch(
            &format!("/api/customers/{}", ids["H"]),
            &app.admin_token,
            json!({"tier": "key"}),
        )
        .await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["tier_pinned"], true);
    paid(&app, ids["A"], "A1", "3000", 10, "paid").await;
    paid(&app, ids["A"], "A2", "2000.00", 40, "completed").await;
    paid(&app, ids["B"], "B1", "2000", 5, "shipped").await;
    paid(&app, ids["C"], "C1", "1000", 100, "paid").await;
    paid(&app, ids["D"], "D1", "1000", 200, "placed").await;
    paid(&app, ids["E"], "E1", "500", 300, "paid").await;
    paid(&app, ids["F"], "F1", "500", 20, "paid").await;
    paid(&app, ids["F"], "F2", "10000", 21, "refunded").await;
    paid(&app, ids["G"], "G1", "8000", 395, "paid").await;
    // Each order tiered its customer at once against the last ranking; the leader ranks
    // everyone again later (`HOTLINE_VALUE_RANK_SECS`). Rank now.
    let (s, out) = app
        .post("/api/value/recompute", &app.admin_token, json!({}))
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["ranked"], 6, "{out}");
    let want = [
        ("A", "vip"),
        ("B", "key"),
        ("C", "key"),
        ("D", "key"),
        ("E", "regular"),
        ("F", "regular"),
        ("G", "low"),
        ("H", "key"),
    ];
    for (name, t) in want {
        assert_eq!(tier(&app, ids[name]).await, t, "customer {name}");
    }
    let a = value(&app, ids["A"]).await;
    assert_eq!(a["pinned"], false);
    assert_eq!(
        a["reason_text"],
        "top 17% by 12-month revenue (the top 20% of key customers)"
    );
    assert_eq!(a["reason"]["code"], "vip");
    assert_eq!(a["figures"]["revenue_minor"], 500_000);
    assert_eq!(a["figures"]["orders"], 2);
    assert_eq!(a["figures"]["rank"], 1);
    assert_eq!(a["lifetime_value"][0]["amount"], "5000.00");
    assert_eq!(a["recent_orders"].as_array().unwrap().len(), 2);
    assert!(a["score"].as_i64().unwrap() >= 3);
    // A's history: regular → vip with the reason of then (A's first order made A the only
    // ranked customer: the top 100%).
    let hist = a["history"].as_array().unwrap();
    assert_eq!(hist.len(), 1, "{hist:?}");
    assert_eq!(hist[0]["from"], "regular");
    assert_eq!(hist[0]["to"], "vip");
    assert_eq!(
        hist[0]["reason"],
        "top 100% by 12-month revenue (the top 20% of key customers)"
    );
    let d = value(&app, ids["D"]).await;
    assert_eq!(d["figures"]["rank"], 3, "C and D share a rank");
    let f = value(&app, ids["F"]).await;
    assert_eq!(f["lifetime_value"][0]["amount"], "500.00");
    let g = value(&app, ids["G"]).await;
    assert_eq!(g["reason_text"], "no orders in the last 12 months");
    assert!(g["score"].is_null());
    let h = value(&app, ids["H"]).await;
    assert_eq!(h["pinned"], true);
    assert_eq!(h["reason"]["code"], "pinned");
    assert_eq!(h["history"][0]["pinned"], true);
    assert_eq!(h["history"][0]["reason"], "set by hand");
    // Every change is in a history and was announced as `customer.tier_changed`.
    let events = count(
        &app,
        "SELECT COUNT(*) AS n FROM events WHERE kind = 'customer.tier_changed'",
    )
    .await;
    let changes = count(&app, "SELECT COUNT(*) AS n FROM customer_tier_history").await;
    assert!(events >= 6, "{events}");
    assert_eq!(events, changes);

    // The value report: the Pareto curve and the tiers of the ranking.
    let (s, report) = app.get("/api/reports/value", &app.admin_token).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["customers"], 8);
    assert_eq!(report["ranked"], 6);
    // Revenue 5000 + 2000 + 1000 + 1000 + 500 + 500 = 10000 yuan; A (1 of 8) brings half.
    assert_eq!(report["revenue_minor"], 1_000_000);
    assert_eq!(report["curve"][0]["rank_pct"], 13);
    assert_eq!(report["curve"][0]["revenue_pct"], 50.0);
    let last = report["curve"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["rank_pct"], 100);
    assert_eq!(last["revenue_pct"], 100.0);
    assert_eq!(report["vip_cut"], 500_000);
    assert_eq!(report["key_cut"], 100_000);
    let tiers = report["tiers"].as_array().unwrap();
    let vip = tiers.iter().find(|t| t["tier"] == "vip").unwrap();
    assert_eq!(
        (vip["customers"].as_i64(), vip["revenue_pct"].as_f64()),
        (Some(1), Some(50.0))
    );
    // A new order tiers its customer at once against the ranking's cuts: E's 6000 more make
    // 6500, above the vip cut (A's 5000), the first by revenue of six ranked.
    paid(&app, ids["E"], "E2", "6000", 2, "paid").await;
    let e = value(&app, ids["E"]).await;
    assert_eq!(e["tier"], "vip");
    assert_eq!(
        e["reason_text"],
        "top 17% by 12-month revenue (the top 20% of key customers)"
    );
    assert_eq!(e["figures"]["rank"], 1);
    // The next ranking puts E first and A second: 20% of the key customers rounded up is one
    // vip, so A becomes key.
    let (_, out) = app
        .post("/api/value/recompute", &app.admin_token, json!({}))
        .await;
    assert_eq!(tier(&app, ids["E"]).await, "vip");
    assert_eq!(tier(&app, ids["A"]).await, "key", "{out}");

    // A year and a month later nothing is in the window: everyone unpinned is low; H stays.
    app.state.clock.advance(400 * DAY);
    let (s, out) = app
        .post("/api/value/recompute", &app.admin_token, json!({}))
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["ranked"], 0);
    for name in ["A", "B", "C", "D", "E", "F", "G"] {
        assert_eq!(tier(&app, ids[name]).await, "low", "customer {name}");
    }
    assert_eq!(tier(&app, ids["H"]).await, "key");
    // A second recompute changes nothing.
    let (_, again) = app
        .post("/api/value/recompute", &app.admin_token, json!({}))
        .await;
    assert_eq!(again["changed"], 0);
    // Unpinned, H is computed like everyone else.
    let (s, h) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/customers/{}/tier-pin", ids["H"]),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["pinned"], false);
    assert_eq!(h["tier"], "low");
    // Only admins recompute.
    let (_, sup) = app.user("sup", "supervisor").await;
    let (s, e) = app.post("/api/value/recompute", &sup, json!({})).await;
    assert_error(s, &e, 403, "forbidden");
}

/// The routing leader recomputes every 24 hours by the clock (orders written behind the API's
/// back are picked up then).
#[tokio::test]
async fn the_leader_recomputes_daily() {
    let app = TestApp::spawn_with(|c| c.routing_tick_ms = 20).await;
    let c = app.customer("Night Owl", &[]).await;
    // The leader notes its first look at the clock.
    let end = Instant::now() + Duration::from_secs(10);
    while count(
        &app,
        "SELECT COUNT(*) AS n FROM realtime_marks WHERE name = 'value_recomputed_at'",
    )
    .await
        == 0
    {
        assert!(Instant::now() < end, "the leader looked at the clock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let now = app.state.clock.now_ms();
    sqlx::query(
        "INSERT INTO orders (customer_id, external_id, ordered_at, amount_minor, currency, \
         status, created_at, updated_at) VALUES ($1, 'N-1', $2, 100, 'CNY', 'paid', $2, $2)",
    )
    .bind(c)
    .bind(now)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(tier(&app, c).await, "regular");
    app.state.clock.advance(DAY + 1000);
    let end = Instant::now() + Duration::from_secs(10);
    while tier(&app, c).await != "vip" {
        assert!(Instant::now() < end, "the daily recompute ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With `HOTLINE_TIER_PRIORITY` a vip customer's new ticket waits with a higher priority.
#[tokio::test]
async fn vip_tickets_wait_with_a_higher_priority() {
    let app = TestApp::spawn_with(|c| {
        c.routing_tick_ms = 20;
        c.tier_priority = true;
    })
    .await;
    let q = app.queue("Service").await;
    let (s, vip) = app
        .post(
            "/api/customers",
            &app.admin_token,
            json!({"display_name": "Big Buyer", "tier": "vip"}),
        )
        .await;
    assert_eq!(s, 201, "{vip}");
    assert_eq!(vip["tier_pinned"], true);
    let plain = app.customer("Small Buyer", &[]).await;
    // The SLA follows the tier too: normal tickets (priority 1) must be answered within an
    // hour, urgent ones (3, a vip's normal ticket raised by two) within ten minutes.
    for (priority, secs) in [(1, 3600), (3, 600)] {
        let (s, b) = app
            .call(
                reqwest::Method::PUT,
                &format!("/api/queues/{q}/sla"),
                Some(&app.admin_token),
                Some(json!({"priority": priority, "first_response_secs": secs,
                            "resolution_secs": 86_400})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let mut tickets = Vec::new();
    for c in [vip["id"].as_i64().unwrap(), plain] {
        let (s, t) = app
            .post(
                "/api/tickets",
                &app.admin_token,
                json!({"subject": "Help", "channel": "web", "queue_id": q, "customer_id": c}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        tickets.push(t["id"].as_i64().unwrap());
    }
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let placed = count(
            &app,
            "SELECT COUNT(*) AS n FROM work_items WHERE kind = 'ticket'",
        )
        .await;
        if placed == 2 {
            break;
        }
        assert!(Instant::now() < end, "both tickets placed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let prio = |t: i64| {
        let app = &app;
        async move {
            count(
                app,
                &format!("SELECT priority AS n FROM work_items WHERE ticket_id = {t}"),
            )
            .await
        }
    };
    assert_eq!(prio(tickets[0]).await, prio(tickets[1]).await + 2);
    let due = |t: i64| {
        let app = &app;
        async move {
            count(
                app,
                &format!(
                    "SELECT first_response_due - enqueued_at AS n FROM work_items \
                     WHERE ticket_id = {t}"
                ),
            )
            .await
        }
    };
    assert_eq!(due(tickets[0]).await, 600_000, "the vip's SLA");
    assert_eq!(due(tickets[1]).await, 3_600_000);
}

/// The customer page in real Chromium shows why the customer has the tier, lifetime value and
/// recent orders, in English and in Chinese.
#[tokio::test]
async fn browser_customer_page_shows_value_in_both_languages() {
    use crate::browser::{browser, eventually, find, scenario, sign_in, wait_text};
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    t.user("sup", "supervisor").await;
    let c = t.customer("王芳", &[("phone", "13800138000")]).await;
    paid(&t, c, "SO-1", "2999.90", 3, "paid").await;
    paid(&t, c, "SO-2", "0.10", 1, "completed").await;
    paid(&t, c, "SO-3", "500", 2, "refunded").await;
    let client = &b.client;
    scenario("value-customer-page", &b, || async {
        sign_in(&t, client, "sup", "password-123").await;
        client
            .goto(&t.url(&format!("/#/customer/{c}")))
            .await
            .unwrap();
        wait_text(client, "#customer-tier", "VIP").await;
        wait_text(
            client,
            "#tier-reason",
            "Top 100% by 12-month revenue (the top 20% of key customers)",
        )
        .await;
        wait_text(client, "#lifetime-value", "CNY 3000.00").await;
        wait_text(client, "#service-load", "0 complaint(s)").await;
        let orders = client
            .execute(
                "return [...document.querySelectorAll('#recent-orders li')].map(li => li.dataset.order)",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(orders, json!(["SO-2", "SO-3", "SO-1"]));
        find(client, "#locale")
            .await
            .select_by_value("zh-CN")
            .await
            .unwrap();
        wait_text(client, "#tier-reason", "近 12 个月消费额前 100%").await;
        wait_text(client, "#customer-value", "累计消费").await;
        // A tier set by hand is marked, and a supervisor may hand it back to the computation.
        let (s, _) = t
            .patch(
                &format!("/api/customers/{c}"),
                &t.admin_token,
                json!({"tier": "key"}),
            )
            .await;
        assert_eq!(s, 200);
        wait_text(client, "#tier-pinned", "手动设置").await;
        crate::browser::click(client, "#tier-unpin").await;
        eventually("the tier computed again", || async {
            (value(&t, c).await["pinned"] == false).then_some(())
        })
        .await;
        wait_text(client, "#customer-tier", "VIP").await;
    })
    .await;
}

/// The ranking runs in SQL; `hotline::value::rank` holds the rules in plain Rust. On random
/// days of orders (ties, refunds, cancelled orders, orders outside the window, customers without
/// orders, a pinned tier) the database's ranks, quintiles, top percents and tiers equal it, and a
/// rerun on the same orders writes nothing.
#[tokio::test]
async fn sql_ranking_equals_the_rules_on_random_days() {
    use rand::{Rng, SeedableRng};
    let app = TestApp::spawn().await;
    let now = app.state.clock.now_ms();
    let shares = hotline::value::Shares::of(&app.state.config);
    let from = hotline::value::window_start(now, shares.months);
    let mut ids = Vec::new();
    for k in 0..60 {
        ids.push(app.customer(&format!("Random {k}"), &[]).await);
    }
    let pinned = ids[7];
    let (s, b) = app
        .patch(
            &format!("/api/customers/{pinned}"),
            &app.admin_token,
            json!({"tier": "vip"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    for seed in [1u64, 2, 3] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        sqlx::query("DELETE FROM orders")
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        let mut totals: std::collections::HashMap<i64, hotline::value::Totals> =
            std::collections::HashMap::new();
        for n in 0..400 {
            let c = ids[rng.random_range(0..50)];
            // Amounts from a small set so that revenues tie.
            let amount = [100, 200, 500, 1000, 5000][rng.random_range(0..5)] * 100;
            let status = [
                "paid",
                "paid",
                "completed",
                "refunded",
                "cancelled",
                "placed",
            ][rng.random_range(0..6)];
            let at = now - rng.random_range(0..500) * DAY - rng.random_range(0..DAY);
            sqlx::query(
                "INSERT INTO orders (customer_id, external_id, ordered_at, amount_minor, \
                 currency, status, created_at, updated_at) VALUES ($1, $2, $3, $4, 'CNY', $5, $3, $3)",
            )
            .bind(c)
            .bind(format!("R{seed}-{n}"))
            .bind(at)
            .bind(amount)
            .bind(status)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
            if at > from && at <= now && status != "refunded" && status != "cancelled" {
                let t = totals.entry(c).or_insert(hotline::value::Totals {
                    customer_id: c,
                    revenue: 0,
                    orders: 0,
                    last_order_at: 0,
                });
                t.revenue += amount;
                t.orders += 1;
                t.last_order_at = t.last_order_at.max(at);
            }
        }
        let totals: Vec<_> = totals.into_values().collect();
        let (s, out) = app
            .post("/api/value/recompute", &app.admin_token, json!({}))
            .await;
        assert_eq!(s, 200, "{out}");
        assert_eq!(out["ranked"], totals.len(), "seed {seed}");
        let want = hotline::value::rank(&totals, shares);
        for r in &want {
            let v = value(&app, r.customer_id).await;
            let f = &v["figures"];
            assert_eq!(
                (
                    f["rank"].as_i64(),
                    f["r"].as_i64(),
                    f["f"].as_i64(),
                    f["m"].as_i64()
                ),
                (Some(r.rank), Some(r.r), Some(r.f), Some(r.m)),
                "seed {seed} customer {}",
                r.customer_id
            );
            if r.customer_id == pinned {
                assert_eq!(v["tier"], "vip");
                assert_eq!(v["pinned"], true);
            } else {
                assert_eq!(
                    v["tier"],
                    r.tier.as_str(),
                    "seed {seed} customer {}",
                    r.customer_id
                );
                assert_eq!(v["reason"]["top_percent"], json!(r.reason.top_percent));
            }
        }
        for c in &ids {
            if *c != pinned && !want.iter().any(|r| r.customer_id == *c) {
                let v = value(&app, *c).await;
                assert_eq!(v["tier"], "low", "seed {seed} customer {c}");
                assert!(v["figures"].is_null());
            }
        }
        // The same orders again: nothing changes, nothing is written.
        let (_, again) = app
            .post("/api/value/recompute", &app.admin_token, json!({}))
            .await;
        assert_eq!(again["changed"], 0, "seed {seed}");
        let changes =
            hotline::value::store::ranking_changes(&app.state.db, from, now, shares, false)
                .await
                .unwrap();
        assert!(
            changes.is_empty(),
            "seed {seed}: {} rows differ",
            changes.len()
        );
    }
}
