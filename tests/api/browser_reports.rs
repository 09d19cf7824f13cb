//! The Reports screen in real Chromium: a small known day is seeded through the API (two web
//! tickets scored 5 and 2, a call, an SMS complaint left open; five customers' orders ranked),
//! then a supervisor opens Reports: each tab draws its chart (the expected bars and points) and
//! its table with the expected figures, the CSV link carries the filters, the PNG button saves
//! a PNG, the value tab says "no ranking yet" before the first ranking and reads the 80/20
//! sentence off the curve after it, a queue not theirs is refused; then all of it in Chinese.
//! Nothing shown is an i18n key. Screens: target/browser-artifacts/screens/reports-*.png.

use crate::browser::{browser, click, eventually, find, scenario, sign_in, wait_text};
use crate::browser_layout::screenshot;
use crate::reports::{app, pick, presence, resolve, settle, ticket, today};
use crate::routing::members;
use crate::support::TestApp;
use fantoccini::Client;
use serde_json::{Value, json};

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// No raw i18n key (`reports.xyz`) or template placeholder on the page.
async fn no_raw_keys(c: &Client) {
    let text = js(c, "return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    for bad in ["{n}", "{top}", "{csat}", "undefined", "NaN"] {
        assert!(!text.contains(bad), "raw `{bad}` on the page:\n{text}");
    }
    for word in text.split(|c: char| c.is_whitespace() || "()（）·,:“”".contains(c)) {
        let key = ["reports.", "tier.", "channel.", "nav."]
            .iter()
            .any(|p| word.starts_with(p) && word.len() > p.len());
        assert!(!key, "raw i18n key `{word}` on the page:\n{text}");
    }
}

/// How many elements match `css`.
async fn count(c: &Client, css: &str) -> usize {
    c.find_all(fantoccini::Locator::Css(css))
        .await
        .unwrap()
        .len()
}

/// Opens a tab and waits for its table.
async fn tab(c: &Client, name: &str, heading: &str) {
    click(c, &format!("#report-tabs [data-tab='{name}']")).await;
    wait_text(c, "#report-h", heading).await;
    find(c, "#report-table").await;
}

/// Clicks `button` and waits for one download named `prefix…` of a `mime` blob, recorded
/// instead of saved (URL.createObjectURL and the link's click are wrapped).
async fn downloads(c: &Client, button: &str, prefix: &str, mime: &str) -> String {
    js(
        c,
        "window.__blobs = []; window.__downloads = []; window.__png = null;
         if (!window.__wrapped) {
           window.__wrapped = true;
           const make = URL.createObjectURL.bind(URL);
           URL.createObjectURL = (b) => {
             window.__blobs.push({ type: b.type, size: b.size });
             if (b.type === 'image/png') { const r = new FileReader(); r.onload = () => { window.__png = r.result; }; r.readAsDataURL(b); }
             return make(b);
           };
           HTMLAnchorElement.prototype.click = function () { window.__downloads.push(this.download); };
         }",
    )
    .await;
    click(c, button).await;
    eventually("the download", || async {
        let v = js(c, "return [window.__blobs, window.__downloads]").await;
        let blob = v[0].as_array().unwrap().iter().any(|b| {
            b["type"].as_str().unwrap_or_default().starts_with(mime)
                && b["size"].as_i64().unwrap_or(0) > 40
        });
        let names = v[1].as_array().unwrap();
        let name = names.first()?.as_str()?.to_string();
        (blob && names.len() == 1 && name.starts_with(prefix)).then_some(name)
    })
    .await
}

/// The PNG button saves the chart as `file`; the image is kept as screens/`screen`.png to look at.
async fn png_download(c: &Client, file: &str, screen: &str) {
    use base64::Engine;
    let name = downloads(c, "#report-png", file, "image/png").await;
    assert_eq!(name, file);
    let data = eventually("the PNG's bytes", || async {
        let v = js(c, "return window.__png || null").await;
        v.as_str().map(str::to_string)
    })
    .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(data.trim_start_matches("data:image/png;base64,"))
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts/screens");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{screen}.png")), png).unwrap();
}

/// A paid order of `amount` yuan yesterday.
async fn order(app: &TestApp, customer: i64, id: &str, amount: &str) {
    let at = jiff::Timestamp::from_millisecond(app.state.clock.now_ms() - 86_400_000).unwrap();
    let (s, b) = app
        .post(
            &format!("/api/customers/{customer}/orders"),
            &app.admin_token,
            json!({"external_id": id, "ordered_at": at.to_string(), "amount": amount,
                   "currency": "CNY", "status": "paid"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{b}");
}

#[tokio::test]
async fn browser_reports_tabs_charts_tables_exports_in_two_languages() {
    let Some(b) = browser().await else { return };
    let t = app().await;
    let q1 = t.queue("Billing").await;
    let q2 = t.queue("Delivery").await;
    let (a1, t1) = t.user("a1", "agent").await;
    let (sup, _) = t.user("sup", "supervisor").await;
    members(&t, q1, &[a1, sup]).await;
    members(&t, q2, &[a1]).await;
    presence(&t, &t1, "away").await;
    // Billing today: two web tickets answered and resolved (scored 5 and 2), a call answered
    // and resolved, an SMS complaint waiting.
    let x = ticket(&t, "web", q1, "inquiry").await;
    let y = ticket(&t, "web", q1, "inquiry").await;
    ticket(&t, "sms", q1, "complaint").await;
    let z = ticket(&t, "voice", q1, "inquiry").await;
    for (tid, score) in [(x, Some(5)), (y, Some(2)), (z, None)] {
        pick(&t, &t1, tid).await;
        resolve(&t, &t1, tid).await;
        if let Some(score) = score {
            let (s, b) = t
                .post(
                    &format!("/api/tickets/{tid}/survey"),
                    &t1,
                    json!({"score": score}),
                )
                .await;
            assert_eq!(s.as_u16(), 201, "{b}");
        }
    }
    settle(&t).await;
    let day = today(&t);
    let week_ago = (jiff::Timestamp::now()
        .to_zoned(t.state.time_zone.clone())
        .date()
        - jiff::Span::new().days(6))
    .to_string();

    let c = &b.client;
    let app = &t;
    let (day, week_ago) = (&day, &week_ago);
    scenario("reports", &b, || async move {
        sign_in(app, c, "sup", "password-123").await;
        find(c, "#locale")
            .await
            .select_by_value("en")
            .await
            .unwrap();
        click(c, "#nav-reports").await;

        // Volume (the default tab): the last 7 days by day; one day has a bar of three
        // channels.
        wait_text(c, "#report-summary", "Contacts in the range: 4.").await;
        let from = find(c, "#report-filters [name='from']")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(from.as_deref(), Some(week_ago.as_str()), "the last 7 days");
        assert_eq!(count(c, "#report-chart svg rect.bar").await, 3);
        wait_text(c, "#report-chart svg", "Web form").await;
        wait_text(c, "#report-chart svg", "SMS").await;
        assert_eq!(count(c, "#report-table tbody tr").await, 1);
        let foot = wait_text(c, "#report-table tfoot", "Total").await;
        assert!(foot.contains('4'), "{foot}");
        let csv = find(c, "#report-csv").await.attr("href").await.unwrap();
        assert_eq!(
            csv.as_deref(),
            Some(format!("/api/reports/volume.csv?from={week_ago}&to={day}&interval=day").as_str())
        );
        no_raw_keys(c).await;
        screenshot(c, "reports-volume").await;
        png_download(
            c,
            &format!("hotline-volume-{week_ago}-{day}.png"),
            "reports-export-volume",
        )
        .await;

        // The queue filter reaches the CSV link; by hour, the day has 24 periods.
        find(c, "#report-filters [name='queue']")
            .await
            .select_by_value(&q1.to_string())
            .await
            .unwrap();
        eventually("the queue in the CSV link", || async {
            let href = find(c, "#report-csv").await.attr("href").await.ok()??;
            href.contains(&format!("queue={q1}")).then_some(())
        })
        .await;
        wait_text(c, "#report-summary", "Contacts in the range: 4").await;
        // By hour: 7 × 24 periods on the axis, labelled without overlap; the link follows.
        let interval = |v: &'static str| async move {
            find(c, "#report-filters [name='interval']")
                .await
                .select_by_value(v)
                .await
                .unwrap();
            eventually("the interval in the CSV link", || async {
                let href = find(c, "#report-csv").await.attr("href").await.ok()??;
                href.contains(&format!("interval={v}")).then_some(())
            })
            .await;
            wait_text(c, "#report-summary", "Contacts in the range: 4").await;
        };
        interval("hour").await;
        let labels = js(
            c,
            "const r = [...document.querySelectorAll('#report-chart svg text.axis')]
               .filter((t) => t.getAttribute('text-anchor') === 'middle').map((t) => t.getBBox());
             return r.every((b, i) => i === 0 || r[i - 1].x + r[i - 1].width <= b.x);",
        )
        .await;
        assert_eq!(labels, json!(true), "x labels overlap");
        screenshot(c, "reports-volume-hour").await;
        interval("day").await;

        // Service: SL and ASA, one point each on the day with figures; the queue's row.
        tab(c, "service", "Service level").await;
        let row = wait_text(
            c,
            &format!("#report-table tr[data-queue='{q1}']"),
            "Billing",
        )
        .await;
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[..5], ["Billing", "4", "3", "0", "100%"], "{row}");
        assert_eq!(count(c, "#report-chart svg circle.point").await, 2);
        assert_eq!(count(c, "#report-chart svg path.line").await, 2);
        let csv = find(c, "#report-csv").await.attr("href").await.unwrap();
        assert!(csv.unwrap_or_default().starts_with(&format!(
            "/api/reports/service.csv?from={week_ago}&to={day}"
        )));
        screenshot(c, "reports-service").await;

        // Agents: a1 handled 3, CSAT 50% of 2 answers; one bar.
        tab(c, "agents", "Agents").await;
        let row = wait_text(c, &format!("#report-table tr[data-agent='{a1}']"), "a1").await;
        assert!(row.starts_with("a1 3 "), "{row}");
        assert!(row.ends_with("50% (2)"), "{row}");
        assert_eq!(count(c, "#report-chart svg rect.bar").await, 1);
        screenshot(c, "reports-agents").await;
        js(
            c,
            "document.querySelector('#report-table').scrollIntoView()",
        )
        .await;
        screenshot(c, "reports-agents-table").await;

        // Complaints: one received, none closed, by category and severity.
        tab(c, "complaints", "Complaints").await;
        wait_text(c, "#report-summary", "Complaints received: 1; closed: 0").await;
        let row = wait_text(c, "#report-table tbody tr", "100%").await;
        assert!(row.contains("Other"), "{row}");
        assert_eq!(count(c, "#report-chart svg rect.bar").await, 1);
        screenshot(c, "reports-complaints").await;

        // CSAT: 50% of 2 answers; one point and one bar; average score 3.5.
        tab(c, "csat", "Satisfaction").await;
        wait_text(c, "#report-summary", "CSAT 50% (answers: 2)").await;
        wait_text(c, "#report-table tbody tr", "3.5").await;
        assert_eq!(count(c, "#report-chart svg circle.point").await, 1);
        assert_eq!(count(c, "#report-chart svg rect.bar").await, 1);
        png_download(
            c,
            &format!("hotline-csat-{week_ago}-{day}.png"),
            "reports-export-csat",
        )
        .await;
        screenshot(c, "reports-csat").await;

        // A queue that is not theirs is refused.
        js(
            c,
            &format!(
                "const s = document.querySelector('#report-filters [name=queue]');
                 s.add(new Option('Delivery', '{q2}')); s.value = '{q2}';
                 s.dispatchEvent(new Event('change', {{ bubbles: true }}));"
            ),
        )
        .await;
        wait_text(
            c,
            "#report-error",
            "only for the queues you are a member of",
        )
        .await;
        screenshot(c, "reports-forbidden").await;
        js(
            c,
            "const s = document.querySelector('#report-filters [name=queue]'); s.value = '';
             s.dispatchEvent(new Event('change', { bubbles: true }));",
        )
        .await;
        wait_text(c, "#report-summary", "CSAT 50%").await;

        // Customer value: nothing ranked yet.
        click(c, "#report-tabs [data-tab='value']").await;
        wait_text(c, "#report-empty", "No ranking yet").await;
    })
    .await;

    // Five customers' orders, ranked: 6000, 2000, 1000, 500, 500 yuan.
    for (name, amount) in [
        ("A", "6000"),
        ("B", "2000"),
        ("C", "1000"),
        ("D", "500"),
        ("E", "500"),
    ] {
        let id = t.customer(name, &[]).await;
        order(&t, id, &format!("{name}1"), amount).await;
    }
    let (s, out) = t
        .post("/api/value/recompute", &t.admin_token, json!({}))
        .await;
    assert_eq!(s.as_u16(), 200, "{out}");

    scenario("reports-value", &b, || async move {
        click(c, "#report-tabs [data-tab='volume']").await;
        wait_text(c, "#report-h", "Volume").await;
        tab(c, "value", "Customer value").await;
        wait_text(
            c,
            "#report-summary",
            "The top 20% of customers bring 60% of revenue",
        )
        .await;
        let vip = wait_text(c, "#report-table tr[data-tier='vip']", "VIP").await;
        assert_eq!(
            vip.split_whitespace().collect::<Vec<_>>()[1..3],
            ["1", "60%"]
        );
        let regular = wait_text(c, "#report-table tr[data-tier='regular']", "Regular").await;
        assert_eq!(
            regular.split_whitespace().collect::<Vec<_>>()[1..3],
            ["3", "20%"]
        );
        // Two curves and the 45° reference.
        assert_eq!(count(c, "#report-chart svg path.line").await, 2);
        assert_eq!(count(c, "#report-chart svg line.reference").await, 1);
        no_raw_keys(c).await;
        screenshot(c, "reports-value").await;
        let png = downloads(c, "#report-png", "hotline-value-", "image/png").await;
        assert!(png.ends_with(&format!("-{day}.png")), "{png}");
        // The value table's CSV is written in the page.
        let csv = downloads(c, "#report-csv", "hotline-value-", "text/csv").await;
        assert!(csv.ends_with(".csv"), "{csv}");

        // In Chinese: headings, table headers, the sentence and the chart's legend.
        find(c, "#locale")
            .await
            .select_by_value("zh-CN")
            .await
            .unwrap();
        wait_text(c, "hl-reports h1", "报表").await;
        wait_text(c, "#report-h", "客户价值").await;
        wait_text(c, "#report-table thead", "收入占比").await;
        wait_text(c, "#report-table tr[data-tier='vip']", "60%").await;
        wait_text(c, "#report-summary", "排名前 20% 的客户贡献了 60% 的收入").await;
        wait_text(c, "#report-chart svg", "均等分布").await;
        wait_text(c, "#nav-reports", "报表").await;
        no_raw_keys(c).await;
        screenshot(c, "reports-value-zh").await;
        tab(c, "volume", "话务量").await;
        wait_text(c, "#report-table thead", "接触量").await;
        wait_text(c, "#report-chart svg", "网页表单").await;
        no_raw_keys(c).await;
        screenshot(c, "reports-volume-zh").await;
        png_download(
            c,
            &format!("hotline-volume-{week_ago}-{day}.png"),
            "reports-export-volume-zh",
        )
        .await;
        tab(c, "service", "服务水平").await;
        wait_text(c, "#report-table thead", "平均应答时间").await;
        no_raw_keys(c).await;
        screenshot(c, "reports-service-zh").await;
        tab(c, "agents", "坐席").await;
        wait_text(c, "#report-table thead", "占用率").await;
        no_raw_keys(c).await;
        js(
            c,
            "document.querySelector('#report-table').scrollIntoView()",
        )
        .await;
        screenshot(c, "reports-agents-zh").await;
        tab(c, "complaints", "投诉").await;
        wait_text(c, "#report-table thead", "严重级别").await;
        no_raw_keys(c).await;
        screenshot(c, "reports-complaints-zh").await;
    })
    .await;
}
