//! Customers, their identities and the 360 view (the screen pop's content).
//! Types and rules only; SQL in store.rs, HTTP in routes.rs.

pub mod identity;
pub mod routes;
pub mod store;

use identity::{IdentityKind, PhoneNormalizer};
use serde::{Deserialize, Serialize};

/// Value tier: the few customers who bring most of the value get served first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Vip,
    Key,
    Regular,
    Low,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Vip => "vip",
            Tier::Key => "key",
            Tier::Regular => "regular",
            Tier::Low => "low",
        }
    }
    pub fn parse(s: &str) -> Option<Tier> {
        [Tier::Vip, Tier::Key, Tier::Regular, Tier::Low]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Customer {
    pub id: i64,
    /// The id of the system the customer was imported from (a CRM, a shop), if any: what
    /// `hotline import` finds the customer by again.
    pub external_id: Option<String>,
    pub display_name: String,
    pub tier: Tier,
    /// The tier was set by hand: the value recompute leaves it alone.
    pub tier_pinned: bool,
    pub language: Option<String>,
    /// How the customer is addressed: `mr` or `ms` (none: not known); macros' honorific.
    pub title: Option<String>,
    pub notes: String,
    pub tags: Vec<String>,
    pub owner_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub identities: Vec<Identity>,
    /// Incremented by every change; the `ETag` of `GET /api/customers/{id}`, and what a `PATCH`
    /// with `If-Match` must name.
    pub version: i64,
}

/// The 360 history as `reader` may see it. It stays cross-queue (an agent on the phone needs
/// the whole story), but of a ticket the reader may not open (see
/// [`crate::tickets::Visibility`]) internal notes are left out entirely, and every other
/// interaction shows its channel, direction, time, subject and the ticket's status only: no
/// body preview, no addresses (`withheld: true`).
pub fn withhold_history(
    items: Vec<store::HistoryItem>,
    reader: &crate::tickets::Visibility,
) -> Vec<store::HistoryItem> {
    items
        .into_iter()
        .filter_map(|mut h| {
            if reader.sees(h.queue_id, h.assignee_id) {
                return Some(h);
            }
            if h.channel == "note" || h.direction == "internal" {
                return None;
            }
            h.preview.clear();
            h.from_addr.clear();
            h.to_addr.clear();
            h.call = None;
            h.withheld = true;
            Some(h)
        })
        .collect()
}

/// How a lookup matched: on an identity's exact normal form, or a guess (name prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchQuality {
    Exact,
    Maybe,
    Unknown,
}

/// What a lookup query string is taken to be, in the order it is tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupKey {
    /// `#123` or `T123`: a ticket number.
    Ticket(i64),
    /// Identity values worth trying exactly (a digit string may be a phone or a card number).
    Identities(Vec<Identity>),
    /// Free text: a name prefix.
    Name(String),
}

/// Reads a lookup query the way an agent types it.
pub fn parse_lookup(q: &str, phones: &PhoneNormalizer) -> LookupKey {
    let q = q.trim();
    let ticket = q
        .strip_prefix('#')
        .or_else(|| q.strip_prefix('T'))
        .or_else(|| q.strip_prefix('t'));
    if let Some(n) = ticket.and_then(|n| n.trim().parse::<i64>().ok()) {
        return LookupKey::Ticket(n);
    }
    let mut ids = Vec::new();
    if q.contains('@') {
        if let Ok(v) = identity::normalize(IdentityKind::Email, q, phones) {
            ids.push(Identity {
                kind: IdentityKind::Email,
                value: v,
            });
        }
        return LookupKey::Identities(ids);
    }
    let digits = q.chars().filter(char::is_ascii_digit).count();
    if digits >= 3 {
        if let Some(p) = phones.normalize(q) {
            ids.push(Identity {
                kind: IdentityKind::Phone,
                value: p,
            });
        }
        for kind in [
            IdentityKind::IdCard,
            IdentityKind::VipCard,
            IdentityKind::Crm,
        ] {
            if let Ok(v) = identity::normalize(kind, q, phones) {
                ids.push(Identity { kind, value: v });
            }
        }
        return LookupKey::Identities(ids);
    }
    LookupKey::Name(identity::name_key(q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_keys() {
        let p = PhoneNormalizer::new("CN").unwrap();
        assert_eq!(parse_lookup("#42", &p), LookupKey::Ticket(42));
        assert_eq!(parse_lookup("T42", &p), LookupKey::Ticket(42));
        assert_eq!(parse_lookup("  Wang ", &p), LookupKey::Name("wang".into()));
        assert_eq!(parse_lookup("王小明", &p), LookupKey::Name("王小明".into()));
        match parse_lookup("138 0013 8000", &p) {
            LookupKey::Identities(ids) => {
                assert_eq!(ids[0].value, "+8613800138000");
                assert!(ids.iter().any(|i| i.kind == IdentityKind::VipCard));
            }
            other => panic!("{other:?}"),
        }
        match parse_lookup("A@B.cn", &p) {
            LookupKey::Identities(ids) => assert_eq!(ids[0].value, "a@b.cn"),
            other => panic!("{other:?}"),
        }
    }
}
