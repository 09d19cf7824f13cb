//! Issue #12 in real Chromium: the console, the wallboard and the portal as agents and a
//! supervisor use them, at 1440×900 and 1280×720, in English and Chinese. Each layout defect
//! has an assertion on element boxes (the ringing offer covers no control, message bodies use
//! the width, Chinese headers do not break per character, large mode fits 1920×1080), and the
//! behaviour ones on what the page shows (pops only for their agent, drafts survive, callbacks
//! look like callbacks, no English system text in zh-CN). Screenshots of every page go to
//! target/browser-artifacts/screens/ (kept by CI).

use crate::browser::{
    browser, click, eventually, find, scenario, sign_in, type_into, wait_live, wait_text,
};
use crate::support::TestApp;
use fantoccini::Client;
use hotline::config::Secret;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Runs `script` (a function body; `arguments` are `args`) and returns its value.
async fn js(c: &Client, script: &str, args: Vec<Value>) -> Value {
    c.execute(script, args).await.unwrap()
}

/// Resizes the window so that the page itself (the viewport) is `w`×`h`.
async fn viewport(c: &Client, w: u32, h: u32) {
    c.set_window_size(w, h).await.unwrap();
    let inner = js(c, "return [innerWidth, innerHeight]", vec![]).await;
    let (iw, ih) = (
        inner[0].as_u64().unwrap() as u32,
        inner[1].as_u64().unwrap() as u32,
    );
    if (iw, ih) != (w, h) {
        c.set_window_size(w + (w - iw.min(w)), h + (h - ih.min(h)))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Saves a screenshot as target/browser-artifacts/screens/`name`.png.
pub async fn screenshot(c: &Client, name: &str) {
    tokio::time::sleep(Duration::from_millis(400)).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts/screens");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The box of the first element matching `css` that is displayed, as [x, y, w, h].
async fn rect(c: &Client, css: &str) -> Option<[f64; 4]> {
    let v = js(
        c,
        "const el = [...document.querySelectorAll(arguments[0])].find((e) => e.getClientRects().length);
         if (!el) return null; const r = el.getBoundingClientRect(); return [r.x, r.y, r.width, r.height];",
        vec![json!(css)],
    )
    .await;
    let a = v.as_array()?;
    Some([0, 1, 2, 3].map(|i| a[i].as_f64().unwrap()))
}

/// How wide the text of the first `css` element runs (its element may be wider than its text
/// when a grid squeezes the text into one track).
async fn text_width(c: &Client, css: &str) -> f64 {
    js(
        c,
        "const el = document.querySelector(arguments[0]); const r = document.createRange();
         r.selectNodeContents(el); return r.getBoundingClientRect().width;",
        vec![json!(css)],
    )
    .await
    .as_f64()
    .unwrap()
}

/// The page itself never scrolls: only its panes do.
async fn no_page_scroll(c: &Client, at: &str) {
    let v = js(
        c,
        "const se = document.scrollingElement;
         const out = [...document.body.querySelectorAll('*')].filter((el) => {
           const r = el.getBoundingClientRect(), p = el.parentElement.getBoundingClientRect();
           return (r.bottom > innerHeight + 1 && p.bottom <= innerHeight + 1) || (r.right > innerWidth + 1 && p.right <= innerWidth + 1);
         }).map((el) => el.tagName + '.' + el.className + ' ' + JSON.stringify(el.getBoundingClientRect()));
         return [se.scrollHeight, innerHeight, se.scrollWidth, innerWidth, out];",
        vec![],
    )
    .await;
    let n = |i: usize| v[i].as_f64().unwrap();
    assert!(
        n(0) <= n(1) + 1.0 && n(2) <= n(3) + 1.0,
        "at {at} the page scrolls: {v}"
    );
}

fn overlap(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]
}

/// While an offer rings, it covers none of `controls`.
async fn offer_covers_nothing(c: &Client, controls: &[&str], at: &str) {
    for css in controls {
        let (offer, other) =
            eventually(&format!("the offer and `{css}` are shown"), || async move {
                Some((rect(c, ".offer").await?, rect(c, css).await?))
            })
            .await;
        assert!(
            !overlap(offer, other),
            "at {at} the ringing offer {offer:?} covers `{css}` {other:?}"
        );
    }
}

/// The top search box shows its whole placeholder (measured in the box's own font).
async fn placeholder_fits(c: &Client, at: &str) {
    let v = js(
        c,
        "const i = document.querySelector('#global-search'); const s = getComputedStyle(i);
         const ctx = document.createElement('canvas').getContext('2d'); ctx.font = s.font;
         const room = i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
         return [ctx.measureText(i.placeholder).width, room, i.placeholder];",
        vec![],
    )
    .await;
    let (need, room) = (v[0].as_f64().unwrap(), v[1].as_f64().unwrap());
    assert!(
        need <= room - 16.0,
        "at {at} the search placeholder {} needs {need}px but the box has {room}px (the clear button takes some)",
        v[2]
    );
}

/// Goes to a route of the console without reloading the page (a reload forgets ringing offers).
async fn go(c: &Client, route: &str) {
    js(c, "location.hash = arguments[0]", vec![json!(route)]).await;
}

async fn hash(c: &Client) -> String {
    js(c, "return location.hash", vec![])
        .await
        .as_str()
        .unwrap()
        .to_string()
}

async fn value_of(c: &Client, css: &str) -> String {
    find(c, css)
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// A note the system wrote (author none, text as data) and an email threaded by In-Reply-To.
async fn system_interactions(t: &TestApp, ticket: i64, customer: i64) {
    let meta = json!({"text": {"kind": "call.missed",
        "params": {"number": "+8613800138000", "cause": "cancel", "minutes": 30}}});
    for (channel, direction, from, body, meta) in [
        (
            "note",
            "internal",
            "",
            "Missed call from +8613800138000 (cancel); call back within 30 minutes.",
            meta,
        ),
        (
            "email",
            "in",
            "wang.fang@example.cn",
            "Any news about my invoice?",
            json!({"thread_reason": "in_reply_to"}),
        ),
    ] {
        sqlx::query(
            "INSERT INTO interactions (ticket_id, customer_id, channel, direction, from_addr, \
             to_addr, subject, body, author_id, meta, created_at) \
             VALUES ($1, $2, $3, $4, $5, '', '', $6, NULL, $7, $8)",
        )
        .bind(ticket)
        .bind(customer)
        .bind(channel)
        .bind(direction)
        .bind(from)
        .bind(body)
        .bind(meta.to_string())
        .bind(hotline::db::now_ms())
        .execute(&t.state.db.pool)
        .await
        .unwrap();
    }
}

async fn join(t: &TestApp, queue: i64, users: &[i64]) {
    let (s, b) = t
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{queue}/members"),
            Some(&t.admin_token),
            Some(json!({ "user_ids": users })),
        )
        .await;
    assert!(s.is_success(), "{b}");
}

/// Switches the console's (or wallboard's) language and waits until the page is in it.
async fn locale(c: &Client, css: &str, to: &str) {
    find(c, css).await.select_by_value(to).await.unwrap();
    eventually("the language changes", || async move {
        (js(c, "return document.documentElement.lang", vec![]).await == json!(to)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// The agent's console: the offline hint and the live label, the offer band at both sizes,
/// message bodies at full width, drafts through navigation and reload, Chinese without
/// English leaks or one-character columns, errors from their code, the search placeholder.
#[tokio::test]
async fn browser_console_layout_offer_drafts_language() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn_with(|c| c.offer_timeout_secs = 120).await;
    let (ana, _) = t.user("ana", "agent").await;
    let general = t.queue("General").await;
    join(&t, general, &[ana]).await;
    let cid = t
        .customer(
            "王芳",
            &[
                ("phone", "+8613800138000"),
                ("email", "wang.fang@example.cn"),
            ],
        )
        .await;
    let long = "The March invoice is 50 yuan too high. ".repeat(12);
    let (_, t1) = t
        .post(
            "/api/tickets",
            &t.admin_token,
            json!({"subject": "Invoice shows the wrong amount", "customer_id": cid,
                   "channel": "email", "assignee_id": ana, "queue_id": general, "body": long}),
        )
        .await;
    let t1 = t1["id"].as_i64().unwrap();
    for (subject, channel) in [("Line drops every evening", "voice"), ("短信退订", "sms")] {
        let (s, v) = t
            .post(
                "/api/tickets",
                &t.admin_token,
                json!({"subject": subject, "customer_id": cid, "channel": channel,
                       "assignee_id": ana, "queue_id": general}),
            )
            .await;
        assert!(s.is_success(), "{v}");
    }
    system_interactions(&t, t1, cid).await;

    let c = &b.client;
    let app = &t;
    scenario("console_layout", &b, || async move {
        viewport(c, 1440, 900).await;
        sign_in(app, c, "ana", "password-123").await;
        // Offline after sign-in: told how to start receiving work; the live dot has words.
        wait_text(c, "#offline-hint", "Available").await;
        wait_text(c, "#live-label", "Live").await;
        click(c, "#go-available").await;
        eventually("ana is available on the server", || async move {
            let (_, p) = app.get("/api/presence", &app.admin_token).await;
            let mine = p.as_array()?.iter().find(|r| r["user_id"] == ana)?.clone();
            (mine["state"] == "available").then_some(())
        })
        .await;
        eventually("the hint is gone", || async move {
            let r = rect(c, "#offline-hint").await;
            r.is_none().then_some(())
        })
        .await;

        // Work arrives: the offer names the customer and the ticket, in a band of its own.
        let (_, t2) = app
            .post(
                "/api/tickets",
                &app.admin_token,
                json!({"subject": "Printer on fire", "customer_id": cid, "channel": "email",
                       "queue_id": general}),
            )
            .await;
        let t2 = t2["id"].as_i64().unwrap();
        let card = wait_text(c, ".offer", "Printer on fire").await;
        assert!(card.contains("王芳"), "{card}");
        assert!(card.contains(&format!("#{t2}")), "{card}");

        for (w, h) in [(1440, 900), (1280, 720)] {
            let at = format!("{w}×{h}");
            viewport(c, w, h).await;
            go(c, "#/tickets?view=mine").await;
            find(c, "#ticket-table").await;
            offer_covers_nothing(c, &["#kb-q", "#global-search"], &at).await;
            go(c, &format!("#/customer/{cid}")).await;
            offer_covers_nothing(c, &["#new-ticket", "#kb-q"], &at).await;
            go(c, &format!("#/ticket/{t1}")).await;
            find(c, "#thread").await;
            offer_covers_nothing(c, &["#controls input[name=tags]", "#kb-q"], &at).await;
            // Message bodies use the column, not a 13rem grid track.
            let body = text_width(c, "#thread .msg .body").await;
            assert!(
                body > 0.4 * f64::from(w),
                "at {at} a message's text runs {body}px wide"
            );
            no_page_scroll(c, &at).await;
            placeholder_fits(c, &at).await;
            screenshot(c, &format!("console-en-{w}x{h}")).await;
        }

        // A draft survives a route change and a reload.
        type_into(c, "#composer-text", "Dear Ms Wang, we are checking").await;
        go(c, "#/tickets?view=mine").await;
        find(c, "#ticket-table").await;
        go(c, &format!("#/ticket/{t1}")).await;
        find(c, "#thread").await;
        assert_eq!(
            value_of(c, "#composer-text").await,
            "Dear Ms Wang, we are checking"
        );
        c.refresh().await.unwrap();
        find(c, "#thread").await;
        assert_eq!(
            value_of(c, "#composer-text").await,
            "Dear Ms Wang, we are checking"
        );
        // System text: the author is "System", never "Note by".
        let thread = wait_text(c, "#thread", "Missed call").await;
        assert!(!thread.contains("Note by"), "{thread}");
        wait_text(c, "#thread .msg.note.system .note-author", "System").await;

        // Chinese: nothing English from the system, enums through the catalog.
        locale(c, "#locale", "zh-CN").await;
        let thread = wait_text(c, "#thread", "未接来电").await;
        for english in ["Missed call", "in_reply_to", "Note by", "cancel"] {
            assert!(!thread.contains(english), "{english:?} in zh-CN: {thread}");
        }
        wait_text(c, "#thread .msg.note.system .note-author", "系统").await;
        screenshot(c, "console-zh-1280x720").await;

        // Table headers and short cells keep their words on one line.
        for (w, h) in [(1280, 720), (1440, 900)] {
            viewport(c, w, h).await;
            go(c, "#/tickets?view=mine").await;
            wait_text(c, "#ticket-table", "电话").await;
            let bad = js(
                c,
                "const out = [];
                 for (const el of document.querySelectorAll('#ticket-table th, #ticket-table td.nowrap, #ticket-table td.name')) {
                   const s = getComputedStyle(el); const font = parseFloat(s.fontSize);
                   // Lines of each piece of text (a badge's box is no line of its own).
                   let lines = 0;
                   const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
                   for (let n = walk.nextNode(); n; n = walk.nextNode()) {
                     if (!n.textContent.trim()) continue;
                     const r = document.createRange(); r.selectNodeContents(n);
                     lines = Math.max(lines, new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size);
                   }
                   const text = el.textContent.trim();
                   const narrow = el.tagName === 'TH' && text.length >= 2 && el.getBoundingClientRect().width < 2 * font;
                   if (text && (lines > 1 || narrow))
                     out.push(el.textContent.trim() + ' (' + lines + ' lines)');
                 }
                 return out;",
                vec![],
            )
            .await;
            assert_eq!(bad, json!([]), "cells broken at {w}×{h} in zh-CN");
            placeholder_fits(c, &format!("{w}×{h} zh-CN")).await;
            screenshot(c, &format!("console-zh-{w}x{h}-list")).await;
        }

        // An error is shown from its code in the reader's language, not the server's English.
        go(c, &format!("#/customer/{cid}")).await;
        click(c, "#edit-customer").await;
        find(c, "#edit-form select[name=kind]")
            .await
            .select_by_value("phone")
            .await
            .unwrap();
        type_into(c, "#edit-form input[name=value]", "call me maybe").await;
        click(c, "#edit-form button[type=submit]").await;
        let toast = wait_text(c, ".toast.error", "").await;
        assert!(
            !toast
                .split(|ch: char| !ch.is_ascii_alphabetic())
                .any(|w| w.len() >= 3),
            "English in a zh-CN error: {toast}"
        );
        screenshot(c, "console-zh-1440x900-customer").await;
    })
    .await;
}

/// A supervisor's console is not taken over by another agent's pop (the draft stays); a
/// callback is offered as a callback, pops nothing, and its ticket has dial and outcomes.
#[tokio::test]
async fn browser_pops_only_for_their_agent_and_callbacks() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn_with(|c| {
        c.cti_token = Secret("cti-layout".into());
        c.offer_timeout_secs = 120;
    })
    .await;
    let (ana, _) = t.user("ana", "agent").await;
    let (sue, _) = t.user("sue", "supervisor").await;
    let general = t.queue("General").await;
    join(&t, general, &[ana, sue]).await;
    let cid = t.customer("王芳", &[("phone", "+8613800138000")]).await;
    let (_, t1) = t
        .post(
            "/api/tickets",
            &t.admin_token,
            json!({"subject": "Quality review", "assignee_id": sue, "channel": "note"}),
        )
        .await;
    let t1 = t1["id"].as_i64().unwrap();
    let c = &b.client;
    let app = &t;
    scenario("pops_and_callbacks", &b, || async move {
        viewport(c, 1440, 900).await;
        sign_in(app, c, "sue", "password-123").await;
        c.goto(&app.url(&format!("/#/ticket/{t1}"))).await.unwrap();
        wait_live(c).await;
        click(c, "#tab-note").await;
        type_into(c, "#composer-text", "Half-written review note").await;
        js(
            c,
            "window.__kinds = []; window.addEventListener('hl-event', (e) => window.__kinds.push(e.detail.kind));",
            vec![],
        )
        .await;
        let res = app
            .http
            .post(app.url("/api/v1/cti/cti-layout"))
            .json(&json!({"event": "newCall", "from": "138 0013 8000", "to": "4001",
                "direction": "in", "callId": "pop-1", "user": "ana", "queue": "General"}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        eventually("the call's events reach the supervisor", || async move {
            let kinds = js(c, "return window.__kinds", vec![]).await;
            kinds
                .as_array()?
                .iter()
                .any(|k| k.as_str().is_some_and(|k| k.starts_with("call.") || k.starts_with("ticket.")))
                .then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(hash(c).await, format!("#/ticket/{t1}"), "ana's pop took over");
        assert_eq!(
            value_of(c, "#composer-text").await,
            "Half-written review note"
        );
        // The call went elsewhere, so it is not offered to sue when she becomes available.
        let res = app
            .http
            .post(app.url("/api/v1/cti/cti-layout"))
            .json(&json!({"event": "hangup", "callId": "pop-1", "cause": "forwarded"}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());

        // A callback: offered as one (who, why, attempts), no "Incoming", no pop.
        click(c, "#go-available").await;
        eventually("sue is available", || async move {
            let (_, p) = app.get("/api/presence", &app.admin_token).await;
            let mine = p.as_array()?.iter().find(|r| r["user_id"] == sue)?.clone();
            (mine["state"] == "available").then_some(())
        })
        .await;
        let (s, v) = app
            .post(
                "/api/callbacks",
                &app.admin_token,
                json!({"customer_id": cid, "phone": "+8613800138000", "queue_id": general,
                       "note": "Wants to hear about the refund"}),
            )
            .await;
        assert!(s.is_success(), "{v}");
        let card = wait_text(c, ".offer", "Callback").await;
        assert!(!card.contains("Incoming"), "{card}");
        assert!(card.contains("王芳"), "{card}");
        assert!(card.contains("refund"), "{card}");
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(hash(c).await, format!("#/ticket/{t1}"), "a callback popped");
        screenshot(c, "console-en-1440x900-callback-offer").await;

        click(c, ".offer [data-accept]").await;
        wait_text(c, "#callback-panel", "+8613800138000").await;
        find(c, "#dial").await;
        for o in ["reached", "no_answer", "wrong_number", "later"] {
            find(c, &format!("#callback-panel [data-outcome={o}]")).await;
        }
        // The customer can be texted: the reply goes by SMS, not email.
        assert_eq!(value_of(c, "#reply-channel").await, "sms");
        screenshot(c, "console-en-1440x900-callback-ticket").await;

        // Nobody answered: the outcome is recorded (the callback comes back later).
        let id: i64 = hash(c).await.trim_start_matches("#/ticket/").parse().unwrap();
        click(c, "#callback-panel [data-outcome=no_answer]").await;
        wait_text(c, "#callback-outcomes", "No answer").await;
        let (_, view) = app
            .get(&format!("/api/tickets/{id}"), &app.admin_token)
            .await;
        assert_eq!(view["callback"]["outcomes"][0]["outcome"], "no_answer", "{view}");
    })
    .await;
}

/// The wallboard: every agent listed (offline too), forms that start empty, and large mode on
/// one 1920×1080 screen with readable axes; screenshots in both languages.
#[tokio::test]
async fn browser_wallboard_layout() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    t.user("sue", "supervisor").await;
    let (ana, _) = t.user("ana", "agent").await;
    let (bob, _) = t.user("bob", "agent").await;
    let general = t.queue("General").await;
    let billing = t.queue("Billing").await;
    join(&t, general, &[ana, bob]).await;
    join(&t, billing, &[bob]).await;
    for i in 0..6 {
        t.post(
            "/api/tickets",
            &t.admin_token,
            json!({"subject": format!("Waiting {i}"), "queue_id": if i % 2 == 0 { general } else { billing }}),
        )
        .await;
    }
    let c = &b.client;
    let app = &t;
    scenario("wallboard_layout", &b, || async move {
        viewport(c, 1440, 900).await;
        sign_in(app, c, "sue", "password-123").await;
        c.goto(&app.url("/wallboard.html")).await.unwrap();
        wait_text(c, "#agent-list", "ana").await;
        wait_text(c, "#agent-list", "bob").await;
        assert_eq!(value_of(c, "#reassign select[name=to]").await, "");
        assert_eq!(value_of(c, "#handover select[name=from]").await, "");
        assert_eq!(value_of(c, "#handover select[name=to]").await, "");
        for lang in ["en", "zh-CN"] {
            if lang == "zh-CN" {
                locale(c, "#wall-locale", "zh-CN").await;
            }
            for (w, h) in [(1440, 900), (1280, 720)] {
                viewport(c, w, h).await;
                screenshot(c, &format!("wallboard-{lang}-{w}x{h}")).await;
            }
        }
        viewport(c, 1920, 1080).await;
        for lang in ["zh-CN", "en"] {
            if lang == "en" {
                locale(c, "#wall-locale", "en").await;
            }
            c.goto(&app.url("/wallboard.html?large=1")).await.unwrap();
            find(c, "#chart-sl svg").await;
            wait_text(c, "#agent-list", "ana").await;
            tokio::time::sleep(Duration::from_millis(600)).await;
            let fit = js(
                c,
                "const out = []; const H = innerHeight, W = innerWidth;
                 const se = document.scrollingElement;
                 if (se.scrollHeight > H + 1) out.push('page scrolls: ' + se.scrollHeight + ' > ' + H);
                 if (se.scrollWidth > W + 1) out.push('page scrolls sideways: ' + se.scrollWidth);
                 for (const svg of document.querySelectorAll('hl-chart svg')) {
                   const r = svg.getBoundingClientRect();
                   if (r.bottom > H + 1 || r.right > W + 1) out.push('chart cut off: ' + JSON.stringify(r));
                   if (r.height < 120) out.push('chart too flat: ' + r.height);
                   const vb = svg.viewBox.baseVal;
                   if (Math.abs(vb.width - r.width) > 2 || Math.abs(vb.height - r.height) > 2)
                     out.push('chart stretched: viewBox ' + vb.width + 'x' + vb.height + ' shown ' + r.width + 'x' + r.height);
                   for (const text of svg.querySelectorAll('text.axis')) {
                     const size = parseFloat(getComputedStyle(text).fontSize);
                     if (size < 12) out.push('axis text ' + size + 'px');
                   }
                   const labels = [...svg.querySelectorAll('text.axis')].slice(2).map((x) => x.getBBox());
                   for (let i = 1; i < labels.length; i++)
                     if (labels[i].x < labels[i - 1].x + labels[i - 1].width) out.push('axis labels overlap');
                 }
                 return out;",
                vec![],
            )
            .await;
            assert_eq!(fit, json!([]), "large mode at 1920×1080 ({lang})");
            screenshot(c, &format!("wallboard-large-{lang}-1920x1080")).await;
        }
    })
    .await;
}

/// The portal: its status page shows replies at full width; screenshots in both languages.
#[tokio::test]
async fn browser_portal_layout() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let secret = hotline::channels::web::form_secret(&t.state.db)
        .await
        .unwrap();
    let token = hotline::channels::web::sign_form_token(&secret, hotline::db::now_ms() - 10_000);
    let (s, receipt) = t
        .call(
            reqwest::Method::POST,
            "/api/portal/complaints",
            None,
            Some(
                json!({"name": "李雷", "email": "li.lei@example.com", "kind": "complaint",
                   "subject": "包裹破损", "description": "My parcel arrived broken.",
                   "attachments": [], "form_token": token, "website": ""}),
            ),
        )
        .await;
    assert!(s.is_success(), "{receipt}");
    let number = receipt["ticket_number"].as_i64().unwrap();
    let (s, v) = t
        .post(
            &format!("/api/tickets/{number}/replies"),
            &t.admin_token,
            json!({"channel": "email", "body": "We are sorry about the parcel. A replacement is on its way and should reach you within three working days; the courier will call before delivery."}),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let c = &b.client;
    let app = &t;
    scenario("portal_layout", &b, || async move {
        for lang in ["en", "zh-CN"] {
            for (w, h) in [(1440, 900), (1280, 720)] {
                viewport(c, w, h).await;
                c.goto(&app.url("/portal.html")).await.unwrap();
                find(c, "#complaint-form").await;
                if js(c, "return document.documentElement.lang", vec![]).await != json!(lang) {
                    locale(c, "#portal-locale", lang).await;
                }
                screenshot(c, &format!("portal-{lang}-{w}x{h}")).await;
                // The acknowledgement's link shows the conversation.
                c.goto(&crate::browser::status_link(app, number).await)
                    .await
                    .unwrap();
                wait_text(c, "#status-result", "replacement").await;
                let body = text_width(c, "#status-result .msg:last-child .body").await;
                let result = rect(c, "#status-result").await.unwrap();
                assert!(
                    body > 0.7 * result[2],
                    "a reply on the status page runs {body}px of {}px",
                    result[2]
                );
                screenshot(c, &format!("portal-status-{lang}-{w}x{h}")).await;
            }
        }
    })
    .await;
}

/// Two notices at once (a saved disposition and an assignment) used to be drawn on the same spot,
/// each hiding the other: they stack now.
#[tokio::test]
async fn browser_toasts_stack_instead_of_covering_each_other() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    t.user("ana", "agent").await;
    let c = &b.client;
    let app = &t;
    scenario("toasts_stack", &b, || async move {
        viewport(c, 1280, 720).await;
        sign_in(app, c, "ana", "password-123").await;
        js(
            c,
            "return import('/lib/session.js').then((m) => {
               m.notify('Disposition saved'); m.notify('Ticket #4 is assigned to you'); });",
            vec![],
        )
        .await;
        let boxes = js(
            c,
            "return [...document.querySelectorAll('.toast')].map((e) => {
               const r = e.getBoundingClientRect(); return [r.top, r.bottom]; });",
            vec![],
        )
        .await;
        let boxes = boxes.as_array().unwrap();
        assert_eq!(boxes.len(), 2, "{boxes:?}");
        let (a, b) = (&boxes[0], &boxes[1]);
        let overlap = a[1].as_f64().unwrap() > b[0].as_f64().unwrap()
            && b[1].as_f64().unwrap() > a[0].as_f64().unwrap();
        assert!(!overlap, "the two toasts overlap: {boxes:?}");
    })
    .await;
}
