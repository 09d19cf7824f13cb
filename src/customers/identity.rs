//! Identity values and their normal forms: phone numbers in E.164 (default region from config),
//! lower-cased emails, upper-cased card and CRM numbers without spaces. One normal form per kind
//! is what makes "one identity belongs to one customer" hold.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
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
        let input = input.trim();
        // phonenumber 0.3 reads a number that names its country with the metadata of the default
        // region all the same: from CN, "+39 06 1234 5678" lost the Italian 0 as if it were
        // China's national prefix (+39612345678, another line). A number in international form
        // is read without a default region, by the metadata of its own country.
        let parsed = match self.international_form(input) {
            Some(international) => phonenumber::parse(None, international).ok()?,
            None => phonenumber::parse(Some(self.region), input).ok()?,
        };
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        // A normal form is stored and looked up again later: keep only one that reads back as
        // itself ("0001" from GB gave +4401, which is no phone number).
        let again = phonenumber::parse(None, &e164).ok()?;
        let stable = again.format().mode(phonenumber::Mode::E164).to_string() == e164;
        (e164.len() > 4 && stable).then_some(e164)
    }

    /// `input` written as `+<country code>…`: as it is when it starts with `+`, or with the
    /// region's international prefix (`00` in China, `011` in the US) replaced by `+`.
    fn international_form(&self, input: &str) -> Option<String> {
        if input
            .trim_start_matches(|c: char| !c.is_ascii_digit() && c != '+')
            .starts_with('+')
        {
            return Some(input.to_string());
        }
        let idd = phonenumber::metadata::DATABASE
            .by_id(self.region.as_ref())?
            .preferred_international_prefix()?;
        let digits: String = input.chars().filter(char::is_ascii_digit).collect();
        digits.strip_prefix(idd).map(|rest| format!("+{rest}"))
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
    let normal = match kind {
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
    }?;
    // Case mapping can lengthen a value ("ﬀ" is "FF") and the dashes of a card number can be
    // all there is: the normal form itself obeys the limits, so that it normalizes to itself.
    if normal.is_empty() {
        return Err("must not be empty");
    }
    if normal.chars().count() > 254 {
        return Err("is too long");
    }
    Ok(normal)
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

/// Property tests: whatever a caller, a PBX or a form sends as an identity value, normalizing it
/// never panics, stays fast, and a normal form is its own normal form (what is stored is what a
/// later lookup of the same value computes).
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    use crate::testing::bounded;

    /// Text people type into a phone field: digits, separators, plus signs, letters, extensions.
    fn phone_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9 +()./-]{0,40}",
            "(\\+|00)?[0-9]{1,4}[ -]?[0-9 -]{0,20}( ?(ext|x|#|;ext=)\\.? ?[0-9]{1,6})?",
            "[0-9a-zA-Z+*#,;= -]{0,40}",
            "\\PC{0,40}",
        ]
    }

    fn regions() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(vec![
            "CN", "US", "GB", "DE", "IT", "HK", "TW", "JP", "BR", "AR",
        ])
    }

    /// Found by the properties below: numbers of another country lost digits to the default
    /// region's national prefix, and some normal forms did not read back as themselves.
    #[test]
    fn foreign_numbers_keep_their_digits_and_normal_forms_read_back() {
        for region in ["CN", "GB", "DE", "US", "IT"] {
            let p = PhoneNormalizer::new(region).unwrap();
            assert_eq!(
                p.normalize("+39 06 1234 5678").as_deref(),
                Some("+390612345678"),
                "{region}"
            );
            assert_eq!(
                p.normalize("+390612345678").as_deref(),
                Some("+390612345678"),
                "{region}"
            );
            assert_eq!(
                p.normalize("+86 138 0013 8000").as_deref(),
                Some("+8613800138000"),
                "{region}"
            );
            for odd in ["0001", "+440001"] {
                if let Some(n) = p.normalize(odd) {
                    assert_eq!(p.normalize(&n), Some(n.clone()), "{region} {odd}");
                }
            }
        }
        let cn = PhoneNormalizer::new("CN").unwrap();
        assert_eq!(
            cn.normalize("0039 06 1234 5678").as_deref(),
            Some("+390612345678")
        );
        let us = PhoneNormalizer::new("US").unwrap();
        assert_eq!(
            us.normalize("011 39 06 1234 5678").as_deref(),
            Some("+390612345678")
        );
    }

    /// Found by `every_kind_normalizes_without_panic_and_stays_put`: a normal form that grew
    /// past the length limit, or was empty, and so was refused when normalized again.
    #[test]
    fn normal_forms_obey_the_limits() {
        let p = PhoneNormalizer::new("CN").unwrap();
        assert_eq!(
            normalize(IdentityKind::IdCard, &"\u{fb00}".repeat(200), &p),
            Err("is too long")
        );
        assert_eq!(
            normalize(IdentityKind::VipCard, "ab\u{fb00}", &p).as_deref(),
            Ok("ABFF")
        );
        assert_eq!(
            normalize(IdentityKind::Crm, " - -- ", &p),
            Err("must not be empty")
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn phone_numbers_normalize_to_e164_or_nothing(region in regions(), input in phone_like()) {
            let p = PhoneNormalizer::new(region).unwrap();
            let (p2, inp) = (p.clone(), input.clone());
            let out = bounded(format!("{region} {input:?}"), move || p2.normalize(&inp));
            if let Some(e164) = out {
                prop_assert!(e164.starts_with('+'), "{input:?} -> {e164}");
                prop_assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()), "{input:?} -> {e164}");
                prop_assert!(e164.len() <= 21, "{input:?} -> {e164}");
                let e = e164.clone();
                let again = bounded(format!("{region} {e164:?}"), move || p.normalize(&e));
                prop_assert_eq!(again, Some(e164), "not stable: {:?}", input);
            }
        }

        #[test]
        fn every_kind_normalizes_without_panic_and_stays_put(
            kind in proptest::sample::select(IdentityKind::ALL.to_vec()),
            input in prop_oneof!["\\PC{0,300}", "[ \\-a-zA-Z0-9@.ßİ]{0,300}", phone_like()],
        ) {
            let p = PhoneNormalizer::new("CN").unwrap();
            let (p2, inp) = (p.clone(), input.clone());
            let out = bounded(format!("{kind:?} {input:?}"), move || normalize(kind, &inp, &p2));
            if let Ok(v) = out {
                prop_assert!(!v.is_empty());
                let v2 = v.clone();
                let again = bounded(format!("{kind:?} {v:?}"), move || normalize(kind, &v2, &p));
                prop_assert_eq!(again, Ok(v), "normal form not stable for {:?}", input);
            }
        }
    }
}
