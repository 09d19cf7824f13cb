//! The email channel: SMTP receiver and IMAP poller in, MIME parsing, threading, the durable raw
//! store, acknowledgements, and the outbox sender out. Goes into tickets only through `intake`.

pub mod ack;
pub mod imap;
pub mod mime;
pub mod outbound;
pub mod receive;
pub mod routes;
pub mod smtp;
pub mod store;
pub mod threading;

/// The language of an acknowledgement: Chinese when the customer wrote Chinese.
pub fn ack_language(text: &str) -> &'static str {
    if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
        "zh"
    } else {
        "en"
    }
}

/// The built-in acknowledgement when no template is configured for the queue and language.
pub fn default_ack_template(language: &str) -> (&'static str, &'static str) {
    match language {
        "zh" => (
            "[#{ticket}] 我们已收到您的邮件：{subject}",
            "您好 {name}，\n\n我们已收到您的邮件，工单号为 #{ticket}。回复本邮件即可补充信息，请保留主题中的 [#{ticket}]。\n\n客服中心",
        ),
        _ => (
            "[#{ticket}] We received your message: {subject}",
            "Hello {name},\n\nWe received your message and opened ticket #{ticket}. Reply to this email to add anything; please keep [#{ticket}] in the subject.\n\nCustomer service",
        ),
    }
}

/// Fills `{ticket}`, `{subject}` and `{name}` in a template.
pub fn fill_template(template: &str, ticket: i64, subject: &str, name: &str) -> String {
    template
        .replace("{ticket}", &ticket.to_string())
        .replace("{subject}", subject)
        .replace("{name}", name)
}

/// Starts the email tasks: the SMTP receiver on `smtp` (when bound), recovery of raw mail left
/// unprocessed, the outbox sender, raw mail retention, and the IMAP poller (when configured).
pub fn spawn(
    state: &crate::app::AppState,
    smtp: Option<tokio::net::TcpListener>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    if let Some(listener) = smtp {
        let tls = smtp::tls_acceptor(&state.config.smtp_tls_cert, &state.config.smtp_tls_key)?;
        tasks.push(tokio::spawn(smtp::serve(listener, state.clone(), tls)));
    }
    tasks.push(tokio::spawn(receive::run_recovery(state.clone())));
    tasks.push(tokio::spawn(outbound::run_sender(state.clone())));
    tasks.push(tokio::spawn(store::run_retention(
        state.db.clone(),
        state.config.raw_mail_days,
    )));
    if !state.config.imap_host.is_empty() {
        tasks.push(tokio::spawn(imap::run_poller(state.clone())));
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_speak_the_customers_language() {
        assert_eq!(ack_language("宽带坏了"), "zh");
        assert_eq!(ack_language("broken"), "en");
        let (s, _) = default_ack_template("zh");
        assert_eq!(
            fill_template(s, 7, "宽带", "张"),
            "[#7] 我们已收到您的邮件：宽带"
        );
    }
}
