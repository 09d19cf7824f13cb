//! SMS: opt-out keywords, encodings and segments, delivery states. Rules only; the Twilio
//! webhooks live in routes.rs, opt-outs in store.rs, the outbox sender in sender.rs.

pub mod routes;
pub mod sender;
pub mod store;

/// What an inbound text asks of us, besides being a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
}

/// Twilio's standard opt-out and opt-in words plus the Chinese ones carriers use (退订, TD).
pub fn keyword(body: &str) -> Option<Keyword> {
    let word = body
        .trim()
        .trim_end_matches(['.', '!', '。', '！'])
        .to_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "OPTOUT" | "REVOKE"
        | "退订" | "TD" | "T" | "取消订阅" => Some(Keyword::OptOut),
        "START" | "UNSTOP" | "YES" | "订阅" => Some(Keyword::OptIn),
        _ => None,
    }
}

/// GSM-7 when every character is in the GSM basic set (or its extension table), else UCS-2.
pub fn encoding(body: &str) -> &'static str {
    const GSM: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€";
    if body.chars().all(|c| GSM.contains(c)) {
        "gsm7"
    } else {
        "ucs2"
    }
}

/// How many segments a carrier splits the text into (a concatenated SMS carries a header).
pub fn segments(body: &str) -> usize {
    let (single, multi, len) = if encoding(body) == "gsm7" {
        let ext = body.chars().filter(|c| "^{}\\[~]|€".contains(*c)).count();
        (160, 153, body.chars().count() + ext)
    } else {
        // UCS-2 counts UTF-16 code units: an emoji takes two.
        (70, 67, body.encode_utf16().count())
    };
    if len <= single {
        1
    } else {
        len.div_ceil(multi)
    }
}

/// Twilio's message statuses in the order they happen; a late callback never moves a message
/// back (e.g. `sent` arriving after `delivered`).
pub fn delivery_rank(status: &str) -> i32 {
    match status {
        "accepted" | "scheduled" | "queued" => 1,
        "sending" => 2,
        "sent" => 3,
        "delivered" | "undelivered" | "failed" | "canceled" => 4,
        "read" => 5,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords() {
        assert_eq!(keyword(" stop "), Some(Keyword::OptOut));
        assert_eq!(keyword("退订"), Some(Keyword::OptOut));
        assert_eq!(keyword("Start"), Some(Keyword::OptIn));
        assert_eq!(keyword("please stop calling"), None);
    }

    #[test]
    fn segment_counts() {
        assert_eq!(encoding("hello"), "gsm7");
        assert_eq!(encoding("你好"), "ucs2");
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"好".repeat(70)), 1);
        assert_eq!(segments(&"好".repeat(71)), 2);
        assert_eq!(segments(&"好".repeat(134)), 2);
        assert_eq!(segments(&"好".repeat(135)), 3);
    }

    #[test]
    fn delivery_never_goes_back() {
        assert!(delivery_rank("delivered") > delivery_rank("sent"));
        assert!(delivery_rank("sent") > delivery_rank("queued"));
    }
}
