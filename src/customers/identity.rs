//! Identity values and their normal forms: phone numbers in E.164 (default region from config),
//! lower-cased emails, upper-cased card and CRM numbers without spaces. One normal form per kind
//! is what makes "one identity belongs to one customer" hold.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    Phone,
    Email,
    IdCard,
    VipCard,
    Crm,
}

impl IdentityKind {
    pub const ALL: [IdentityKind; 5] = [
        IdentityKind::Phone,
        IdentityKind::Email,
        IdentityKind::IdCard,
        IdentityKind::VipCard,
        IdentityKind::Crm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Phone => "phone",
            IdentityKind::Email => "email",
            IdentityKind::IdCard => "id_card",
            IdentityKind::VipCard => "vip_card",
            IdentityKind::Crm => "crm",
        }
    }

    pub fn parse(s: &str) -> Option<IdentityKind> {
        IdentityKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Parses phone numbers written the ways people write them into E.164.
#[derive(Clone)]
pub struct PhoneNormalizer {
    region: phonenumber::country::Id,
}

impl PhoneNormalizer {
    pub fn new(region: &str) -> anyhow::Result<Self> {
        let region = region.trim().to_ascii_uppercase().parse().map_err(|_| {
            anyhow::anyhow!("HOTLINE_DEFAULT_REGION {region:?} is not a region code")
        })?;
        Ok(PhoneNormalizer { region })
    }

    /// `138 0013 8000`, `+86 138-0013-8000` and `008613800138000` all give `+8613800138000`.
    pub fn normalize(&self, input: &str) -> Option<String> {
        let digits = input
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .count();
        if !(3..=20).contains(&digits) {
            return None;
        }
        let parsed = phonenumber::parse(Some(self.region), input.trim()).ok()?;
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        (e164.len() > 4).then_some(e164)
    }
}

/// The normal form of an identity value, or a reason why it is not one.
pub fn normalize(
    kind: IdentityKind,
    value: &str,
    phones: &PhoneNormalizer,
) -> Result<String, &'static str> {
    let v = value.trim();
    if v.is_empty() {
        return Err("must not be empty");
    }
    if v.chars().count() > 254 {
        return Err("is too long");
    }
    match kind {
        IdentityKind::Phone => phones.normalize(v).ok_or("is not a phone number"),
        IdentityKind::Email => {
            let lower = v.to_lowercase();
            let (local, domain) = lower.rsplit_once('@').ok_or("is not an email address")?;
            if local.is_empty() || domain.is_empty() || lower.contains(char::is_whitespace) {
                return Err("is not an email address");
            }
            Ok(lower)
        }
        IdentityKind::IdCard | IdentityKind::VipCard | IdentityKind::Crm => Ok(v
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_uppercase()),
    }
}

/// Lower-cased, whitespace-collapsed form of a name for prefix search.
pub fn name_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_numbers_in_every_spelling_are_one() {
        let p = PhoneNormalizer::new("CN").unwrap();
        for s in [
            "138 0013 8000",
            "+86 138-0013-8000",
            "008613800138000",
            "13800138000",
        ] {
            assert_eq!(p.normalize(s).as_deref(), Some("+8613800138000"), "{s}");
        }
        assert_eq!(
            p.normalize("010 8888 6666").as_deref(),
            Some("+861088886666")
        );
        assert_eq!(
            p.normalize("+1 415 555 2671").as_deref(),
            Some("+14155552671")
        );
        assert_eq!(p.normalize("hello"), None);
        assert_eq!(p.normalize("12"), None);
    }

    #[test]
    fn other_kinds() {
        let p = PhoneNormalizer::new("US").unwrap();
        assert_eq!(
            p.normalize("(415) 555-2671").as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            normalize(IdentityKind::Email, " Li.Wei@Example.COM ", &p).unwrap(),
            "li.wei@example.com"
        );
        assert!(normalize(IdentityKind::Email, "nope", &p).is_err());
        assert_eq!(
            normalize(IdentityKind::IdCard, "11010519491231002x", &p).unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            normalize(IdentityKind::VipCard, "vip 0001-23", &p).unwrap(),
            "VIP000123"
        );
        assert!(PhoneNormalizer::new("XX").is_err());
    }
}
