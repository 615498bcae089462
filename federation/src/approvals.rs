//! Approved access to sensitive paths (issue 20), as the home IdP states it in an assertion
//! and a web agent reads it back: one value of the attribute [`ATTR_APPROVED_ACCESS`] per
//! approval, `"<until> <prefix>"` — the Unix second after which it no longer counts, one
//! space, and the path prefix at the SP the assertion is for. The assertion's signature is
//! what makes a value trustworthy; this module only writes and reads the text.

/// The attribute's `Name`.
pub const ATTR_APPROVED_ACCESS: &str = "urn:idaas:approved-access";

/// Longest prefix written or read, bytes (an agent's path prefixes are far shorter).
pub const MAX_PREFIX_LEN: usize = 512;

/// One approval: `prefix` may be used until `until` (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// The path prefix (segment-aligned, as the agent's access rule names it).
    pub prefix: String,
    /// Unix seconds after which it no longer counts.
    pub until: i64,
}

impl Approval {
    /// The attribute value.
    pub fn to_value(&self) -> String {
        format!("{} {}", self.until, self.prefix)
    }

    /// Reads an attribute value; `None` for anything else than a decimal time, one space and
    /// an absolute path of at most [`MAX_PREFIX_LEN`] bytes without spaces or controls.
    pub fn parse(value: &str) -> Option<Approval> {
        let (until, prefix) = value.split_once(' ')?;
        if until.is_empty() || until.len() > 19 || !until.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !is_prefix(prefix) {
            return None;
        }
        Some(Approval { prefix: prefix.to_owned(), until: until.parse().ok()? })
    }
}

/// Whether `prefix` is a path an approval can name: starts with `/`, at most
/// [`MAX_PREFIX_LEN`] bytes, no whitespace or control characters.
pub fn is_prefix(prefix: &str) -> bool {
    prefix.starts_with('/')
        && prefix.len() <= MAX_PREFIX_LEN
        && !prefix.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// "8 hours", "30 minutes", "2 days", "45 seconds" (the largest whole unit).
pub fn human_duration(secs: i64) -> String {
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_largest_whole_unit() {
        assert_eq!(human_duration(8 * 3600), "8 hours");
        assert_eq!(human_duration(86_400), "1 day");
        assert_eq!(human_duration(90), "90 seconds");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(1), "1 second");
    }

    #[test]
    fn round_trip() {
        let a = Approval { prefix: "/reports/q3".into(), until: 1_800_000_000 };
        assert_eq!(a.to_value(), "1800000000 /reports/q3");
        assert_eq!(Approval::parse(&a.to_value()), Some(a));
    }

    #[test]
    fn malformed_values_are_none() {
        let long = format!("1 /{}", "a".repeat(MAX_PREFIX_LEN));
        for v in [
            "",
            " ",
            "1",
            "1 ",
            "x /a",
            "-1 /a",
            "1 a",
            "1 /a b",
            "1 /a\n",
            "99999999999999999999 /a",
            "1  /a",
            long.as_str(),
        ] {
            assert_eq!(Approval::parse(v), None, "{v:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn parse_never_panics(v in ".{0,64}") {
            let _ = Approval::parse(&v);
        }
    }
}
