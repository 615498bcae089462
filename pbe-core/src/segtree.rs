//! Segment trees over `[0, 2^W)`: how numeric attributes (dates, integers) become ordinary
//! attributes that policies can compare.
//!
//! A key for the value `d` holds one attribute per node on the path from leaf `d` to the root
//! ([`path_attributes`]); a range `[low, high]` in a policy becomes the OR of the node attributes
//! of its canonical cover ([`cover`]). The cover consists of disjoint dyadic blocks whose union is
//! exactly `[low, high]`, so a key's path meets the cover in exactly one node when its value is
//! in range and in none otherwise: numeric comparisons cost `W + 1` key attributes and at most
//! `2W` ciphertext rows, and no new cryptography.
//!
//! Dates are days since 1970-01-01 in the proleptic Gregorian calendar; with the default width
//! of 16 bits they reach 2149-06-06. The calendar arithmetic is Howard Hinnant's
//! `days_from_civil` / `civil_from_days`, done in `i128` so that no input can overflow.

use crate::attribute::{validate_identifier, Attribute};
use crate::policy::error::excerpt;
use crate::policy::PolicyError;

/// Width `W` of the segment tree used by the policy language: values live in `[0, 2^16)`.
///
/// Sixteen bits cover every day from 1970-01-01 to 2149-06-06, which is plenty for access-time
/// windows, while keeping keys at 17 attributes and range covers at ≤ 32 rows.
pub const DEFAULT_WIDTH: u32 = 16;

/// Largest supported width; wider requests are clamped to it.
pub const MAX_WIDTH: u32 = 64;

/// A node of the segment tree: `level` 0 holds the leaves (one per value), `level` W the root.
///
/// Node `(level, index)` covers the values `[index · 2^level, (index + 1) · 2^level)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Node {
    /// Height above the leaves (0 = leaf, W = root).
    pub level: u32,
    /// Position of the node within its level, counted from 0 on the left.
    pub index: u64,
}

impl Node {
    /// The attribute value that names this node: `s{level}.{index}`, e.g. `s0.20415`.
    pub fn label(&self) -> String {
        format!("s{}.{}", self.level, self.index)
    }
}

/// The largest value of a tree of the given width: `2^W - 1` (`W` clamped to [`MAX_WIDTH`]).
pub fn max_value(width: u32) -> u64 {
    // checked: a width of 0 would shift by 64, which overflows.
    u64::MAX.checked_shr(MAX_WIDTH - width.min(MAX_WIDTH)).unwrap_or(0)
}

/// The attribute `name:s{level}.{index}@authority` that stands for `node`.
///
/// Fails only if `name` or `authority` is not a valid identifier.
pub fn node_attribute(name: &str, authority: &str, node: Node) -> Result<Attribute, PolicyError> {
    Attribute::new(name, &node.label(), authority)
}

/// The nodes from leaf `value` up to the root of a tree of width `width`: `width + 1` nodes,
/// leaf first.
///
/// A value `≥ 2^width` yields a path whose upper nodes have non-zero index at the root level,
/// so it meets no cover of a range inside `[0, 2^width)`; callers that must reject such values
/// check [`max_value`] first (as [`path_attributes`] does).
pub fn path(value: u64, width: u32) -> Vec<Node> {
    let width = width.min(MAX_WIDTH);
    (0..=width).map(|level| Node { level, index: value.checked_shr(level).unwrap_or(0) }).collect()
}

/// The attributes a key for `value` of the numeric attribute `name@authority` must hold: one per
/// node of [`path`]`(value, DEFAULT_WIDTH)`, leaf first.
pub fn path_attributes(name: &str, authority: &str, value: u64) -> Result<Vec<Attribute>, PolicyError> {
    let name = validate_identifier("name", name)?;
    let authority = validate_identifier("authority", authority)?;
    let max = max_value(DEFAULT_WIDTH);
    if value > max {
        return Err(PolicyError::OutOfRange { position: None, value, max });
    }
    Ok(path(value, DEFAULT_WIDTH)
        .into_iter()
        .map(|node| Attribute::from_validated(name.clone(), node.label(), authority.clone()))
        .collect())
}

/// The canonical (minimal) cover of `[low, high]` in a tree of width `width`, left to right.
///
/// For every `d < 2^width`, `low ≤ d ≤ high` holds exactly when one node of the cover lies on
/// [`path`]`(d, width)`, and otherwise none does. The cover has at most `2 · width` nodes and
/// never holds two siblings (they would merge into their parent), which makes it the unique
/// minimal one. `high` is clamped to `2^width - 1`; an empty interval (`low > high`) has an
/// empty cover.
pub fn cover(low: u64, high: u64, width: u32) -> Vec<Node> {
    let width = width.min(MAX_WIDTH);
    let high = high.min(max_value(width));
    if low > high {
        return Vec::new();
    }
    // Bottom-up over the half-open interval [l, h): at each level an odd left end (or right
    // end) is a block that cannot merge with its sibling, so it belongs to the cover; the
    // rest moves up one level. u128 because h can be 2^64 when width is 64.
    let (mut l, mut h) = (u128::from(low), u128::from(high) + 1);
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let mut level = 0u32;
    while l < h {
        if l & 1 == 1 {
            left.push(Node { level, index: u64::try_from(l).unwrap_or(u64::MAX) });
            l += 1;
        }
        if h & 1 == 1 {
            h -= 1;
            right.push(Node { level, index: u64::try_from(h).unwrap_or(u64::MAX) });
        }
        l >>= 1;
        h >>= 1;
        level += 1;
    }
    // Right-end blocks were found right to left.
    left.extend(right.into_iter().rev());
    left
}

fn is_leap(year: i128) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

/// Number of days of `month` (1-12) in `year`, 0 for an invalid month.
fn days_in_month(year: i128, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of the proleptic Gregorian date `year-month-day`.
///
/// Returns `None` if the date does not exist (`month` outside 1-12, `day` outside the month,
/// e.g. 2026-02-30) or the result does not fit in an `i64`. Dates before 1970 are negative.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let year = i128::from(year);
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Hinnant: shift the year to start in March so the leap day is the last day of the year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = i128::from((month + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i128::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    i64::try_from(era * 146_097 + doe - 719_468).ok()
}

/// Hinnant's `civil_from_days` in `i128`, so every `u64` and `i64` input is safe.
fn civil_from_days_wide(days: i128) -> (i128, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i128::from(month <= 2);
    (year, u32::try_from(month).unwrap_or(1), u32::try_from(day).unwrap_or(1))
}

/// The proleptic Gregorian date `(year, month, day)` that is `days` days after 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let (year, month, day) = civil_from_days_wide(i128::from(days));
    // |year| ≤ |days| / 365 + 1971, so it always fits.
    (i64::try_from(year).unwrap_or(i64::MAX), month, day)
}

/// Formats `days` since 1970-01-01 as `YYYY-MM-DD`.
pub fn format_date(days: u64) -> String {
    let (year, month, day) = civil_from_days_wide(i128::from(days));
    format!("{year:04}-{month:02}-{day:02}")
}

/// Parses a range bound: a decimal integer, or a `YYYY-MM-DD` date converted to days since
/// 1970-01-01. Returns the value and whether it was written as a date (so it can be printed
/// back as one).
///
/// Errors carry byte positions relative to `s`.
pub fn parse_number(s: &str) -> Result<(u64, bool), PolicyError> {
    parse_number_at(s, 0)
}

/// [`parse_number`] for a token at byte `position` of a larger text, so errors point into it.
pub(crate) fn parse_number_at(s: &str, position: usize) -> Result<(u64, bool), PolicyError> {
    let invalid_number = || PolicyError::InvalidNumber { position, text: excerpt(s) };
    let bytes = s.as_bytes();
    let is_date_shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if is_date_shaped {
        let invalid_date = || PolicyError::InvalidDate { position, text: excerpt(s) };
        let field = |range: core::ops::Range<usize>| -> Result<u32, PolicyError> {
            s.get(range).and_then(|t| t.parse().ok()).ok_or_else(invalid_date)
        };
        let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
        let days = days_from_civil(i64::from(year), month, day).ok_or_else(invalid_date)?;
        // Negative days (before 1970) have no place in the tree.
        let days = u64::try_from(days).map_err(|_| invalid_date())?;
        return Ok((days, true));
    }
    if s.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(invalid_number());
    }
    s.parse::<u64>().map(|n| (n, false)).map_err(|_| invalid_number())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates_convert_both_ways() {
        for (y, m, d, days) in [
            (1970, 1, 1, 0),
            (1969, 12, 31, -1),
            (2000, 2, 29, 11_016),
            (2000, 3, 1, 11_017),
            (2024, 1, 1, 19_723),
            (2025, 11, 23, 20_415),
            (2149, 6, 6, 65_535),
        ] {
            assert_eq!(days_from_civil(y, m, d), Some(days), "{y}-{m}-{d}");
            assert_eq!(civil_from_days(days), (y, m, d));
        }
        assert_eq!(format_date(20_415), "2025-11-23");
        assert_eq!(format_date(0), "1970-01-01");
    }

    #[test]
    fn rejects_nonexistent_dates() {
        assert_eq!(days_from_civil(2026, 2, 29), None);
        assert_eq!(days_from_civil(2026, 2, 30), None);
        assert_eq!(days_from_civil(1900, 2, 29), None);
        assert!(days_from_civil(2000, 2, 29).is_some());
        assert_eq!(days_from_civil(2026, 13, 1), None);
        assert_eq!(days_from_civil(2026, 0, 1), None);
        assert_eq!(days_from_civil(2026, 4, 31), None);
        assert_eq!(days_from_civil(2026, 4, 0), None);
        assert_eq!(days_from_civil(i64::MAX, 1, 1), None);
    }

    #[test]
    fn parses_integers_and_dates() {
        assert_eq!(parse_number("0"), Ok((0, false)));
        assert_eq!(parse_number("0042"), Ok((42, false)));
        assert_eq!(parse_number("18446744073709551615"), Ok((u64::MAX, false)));
        assert_eq!(parse_number("2025-11-23"), Ok((20_415, true)));
        assert_eq!(parse_number("1970-01-01"), Ok((0, true)));
    }

    #[test]
    fn rejects_malformed_numbers() {
        for s in ["", "-1", "+1", "1.5", "x", "18446744073709551616", "2026-1-01", "1 2"] {
            assert!(matches!(parse_number(s), Err(PolicyError::InvalidNumber { .. })), "{s:?}");
        }
        for s in ["2026-02-30", "1969-12-31", "2026-00-10", "2026-13-01", "0000-00-00"] {
            assert_eq!(
                parse_number(s),
                Err(PolicyError::InvalidDate { position: 0, text: s.into() }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn node_attributes_are_named_after_level_and_index() {
        let path = path_attributes("access_time", "telekom", 20_415).unwrap();
        assert_eq!(path.len(), DEFAULT_WIDTH as usize + 1);
        assert_eq!(path[0].to_string(), "access_time:s0.20415@telekom");
        assert_eq!(path[1].to_string(), "access_time:s1.10207@telekom");
        assert_eq!(path[16].to_string(), "access_time:s16.0@telekom");
        let node = Node { level: 3, index: 7 };
        assert_eq!(node_attribute("x", "a", node).unwrap().to_string(), "x:s3.7@a");
    }

    #[test]
    fn path_attributes_rejects_values_outside_the_tree() {
        assert_eq!(
            path_attributes("t", "a", 65_536),
            Err(PolicyError::OutOfRange { position: None, value: 65_536, max: 65_535 })
        );
        assert!(path_attributes("t", "a b", 1).is_err());
    }

    #[test]
    fn full_range_is_covered_by_the_root() {
        assert_eq!(cover(0, 65_535, 16), vec![Node { level: 16, index: 0 }]);
        assert_eq!(cover(0, u64::MAX, 64), vec![Node { level: 64, index: 0 }]);
        assert_eq!(cover(7, 7, 16), vec![Node { level: 0, index: 7 }]);
        assert_eq!(cover(0, 9, 0), vec![Node { level: 0, index: 0 }]);
        assert_eq!(
            (max_value(0), max_value(16), max_value(64), max_value(99)),
            (0, 65_535, u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn cover_is_left_to_right_and_clamped() {
        // [1, 6] in a tree of 8 leaves = {1}, {2,3}, {4,5}, {6}.
        assert_eq!(
            cover(1, 6, 3),
            vec![
                Node { level: 0, index: 1 },
                Node { level: 1, index: 1 },
                Node { level: 1, index: 2 },
                Node { level: 0, index: 6 },
            ]
        );
        assert_eq!(cover(4, 100, 3), vec![Node { level: 2, index: 1 }]);
        assert!(cover(5, 3, 3).is_empty());
        assert!(cover(9, 100, 3).is_empty());
    }

    #[test]
    fn out_of_tree_values_match_no_cover() {
        let c = cover(0, 255, 8);
        assert!(path(256, 8).iter().all(|n| !c.contains(n)));
        assert_eq!(path(u64::MAX, 64).len(), 65);
    }

    /// Checks the defining property of a cover for one value `d`.
    fn hits(cover: &[Node], d: u64, width: u32) -> usize {
        path(d, width).iter().filter(|n| cover.contains(n)).count()
    }

    #[test]
    fn covers_are_exact_for_every_range_of_a_small_tree() {
        let width = 5;
        for low in 0..32u64 {
            for high in low..32u64 {
                let c = cover(low, high, width);
                assert!(c.len() <= 2 * width as usize);
                for d in 0..32u64 {
                    assert_eq!(hits(&c, d, width), usize::from((low..=high).contains(&d)));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn covers_contain_exactly_the_values_in_range(
            width in 1u32..=24,
            a in any::<u64>(),
            b in any::<u64>(),
            probes in proptest::collection::vec(any::<u64>(), 16),
        ) {
            let max = max_value(width);
            let (low, high) = (a.min(b) & max, a.max(b) & max);
            let (low, high) = (low.min(high), low.max(high));
            let c = cover(low, high, width);
            prop_assert!(!c.is_empty() && c.len() <= 2 * width as usize);
            // Canonical: no two siblings, nodes disjoint and sorted left to right.
            for pair in c.windows(2) {
                let end = (pair[0].index + 1) << pair[0].level;
                prop_assert!(end <= pair[1].index << pair[1].level);
                prop_assert!(!(pair[0].level == pair[1].level && pair[0].index % 2 == 0
                    && pair[1].index == pair[0].index + 1));
            }
            let edges = [low, high, low.saturating_sub(1), high.saturating_add(1) & max, 0, max];
            for d in probes.iter().map(|p| p & max).chain(edges) {
                prop_assert_eq!(hits(&c, d, width), usize::from((low..=high).contains(&d)));
            }
        }

        #[test]
        fn civil_conversions_are_inverse(days in -1_000_000_000i64..1_000_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), Some(days));
        }

        #[test]
        fn parse_number_never_panics(s in "\\PC{0,12}|[0-9-]{0,12}") {
            let _ = parse_number(&s);
        }
    }
}
