//! The access-policy language: monotone formulas over attributes, with thresholds and numeric
//! ranges.
//!
//! ```text
//! policy    := or
//! or        := and ("or" and)*
//! and       := unary ("and" unary)*
//! unary     := "(" policy ")" | threshold | range | attr
//! threshold := INT "of" "(" policy ("," policy)+ ")"
//! attr      := NAME ":" VALUE "@" AUTHORITY
//! range     := NAME "@" AUTHORITY "in" "[" NUM "," NUM "]"
//!            | NAME "@" AUTHORITY ("<" | "<=" | ">" | ">=") NUM
//! NUM       := integer | YYYY-MM-DD
//! ```
//!
//! * `and` binds tighter than `or`; both are n-ary and flattened, so `a and (b and c)` and
//!   `a and b and c` are the same [`Policy`].
//! * Keywords (`and`, `or`, `of`, `in`) are case-insensitive and contextual: a word is a keyword
//!   only where the grammar allows one, so `in:or@and` is a valid attribute. Names, values and
//!   authorities (`[A-Za-z0-9_.-]+`) are lower-cased. ASCII whitespace separates tokens.
//! * Ranges live in a segment tree of width [`DEFAULT_WIDTH`](crate::segtree::DEFAULT_WIDTH)
//!   (values `0..=65535`); dates are days since 1970-01-01 and must exist (`2026-02-30` is an
//!   error). Comparisons become inclusive intervals: `x@a < 10` is `[0, 9]`, `x@a >= 5` is
//!   `[5, 65535]`; an empty interval or a written bound above 65535 is an error.
//! * `k of (p1, …, pn)` needs `1 ≤ k ≤ n ≤ 64` and `n ≥ 2`.
//!
//! The [`Display`](core::fmt::Display) form is canonical: lower-case keywords, single spaces,
//! parentheses only around an `or` inside an `and`, ranges always as `name@authority in [lo, hi]`
//! (dates printed as dates). Parsing the printed form gives back an equal policy.
//!
//! Untrusted text is bounded by [`MAX_POLICY_LEN`], [`MAX_DEPTH`] and [`MAX_ROWS`].
//!
//! ```
//! use pbe_core::policy::{Policy, PolicyError};
//!
//! let p = Policy::parse("Domain:salesforce@telekom AND (purpose:current@salesforce OR \
//!                        purpose:contact@salesforce) and access_time@telekom < 2026-12-23")?;
//! assert_eq!(
//!     p.to_string(),
//!     "domain:salesforce@telekom and (purpose:current@salesforce or purpose:contact@salesforce) \
//!      and access_time@telekom in [1970-01-01, 2026-12-22]"
//! );
//! assert_eq!(
//!     Policy::parse("a:b@c and (d:e@f or").unwrap_err().to_string(),
//!     "unexpected end of policy: expected an attribute, a range, a threshold or '('"
//! );
//! # Ok::<(), PolicyError>(())
//! ```

mod ast;
pub(crate) mod error;
mod lexer;
mod parser;

pub use ast::{Policy, RangePolicy};
pub use error::PolicyError;

/// Longest accepted policy text, in bytes (16 KiB). Policies travel in every ciphertext header
/// and are parsed before anything is authenticated, so their size is capped up front.
pub const MAX_POLICY_LEN: usize = 16 * 1024;

/// Deepest accepted nesting, counted both as open parentheses in the text and as gates on any
/// root-to-leaf path of the tree. Bounds the parser's and the compiler's recursion.
pub const MAX_DEPTH: usize = 32;

/// Most LSSS rows a policy may compile to (attributes plus range-cover nodes). Each row costs
/// four group elements in the ciphertext and two Miller loops when decrypting.
pub const MAX_ROWS: usize = 512;

/// Most children of one threshold gate: child `i` gets the share at `x = i`, and the limit keeps
/// the Lagrange interpolation small.
pub const MAX_THRESHOLD_CHILDREN: usize = 64;

/// Proptest strategies for random policies, shared by the policy and LSSS tests.
#[cfg(test)]
pub(crate) mod strategy {
    use super::{Policy, RangePolicy};
    use crate::attribute::Attribute;
    use proptest::prelude::*;

    /// Attributes from a small universe, so random keys often satisfy random policies.
    pub(crate) fn attribute() -> impl Strategy<Value = Attribute> {
        (0..4u8, 0..3u8, 0..3u8).prop_map(|(n, v, h)| {
            Attribute::new(&format!("n{n}"), &format!("v{v}"), &format!("h{h}")).unwrap()
        })
    }

    /// Ranges over the full tree; most bounds are random, some share a narrow window so that
    /// covers overlap.
    pub(crate) fn range() -> impl Strategy<Value = RangePolicy> {
        let bound = prop_oneof![0u64..=65_535, 20_000u64..20_040];
        (0..2u8, any::<bool>(), bound.clone(), bound).prop_map(|(n, dates, a, b)| {
            RangePolicy::new(&format!("t{n}"), "h0", a.min(b), a.max(b), dates).unwrap()
        })
    }

    fn leaf() -> impl Strategy<Value = Policy> {
        prop_oneof![3 => attribute().prop_map(Policy::Attr), 1 => range().prop_map(Policy::Range)]
    }

    /// Random normalised policies with AND, OR, thresholds and ranges, within the limits.
    pub(crate) fn policy() -> impl Strategy<Value = Policy> {
        leaf()
            .prop_recursive(4, 24, 4, |inner| {
                let children = proptest::collection::vec(inner, 2..5);
                prop_oneof![
                    children.clone().prop_map(Policy::and),
                    children.clone().prop_map(Policy::or),
                    children
                        .prop_flat_map(|c| (1..=c.len(), Just(c)))
                        .prop_map(|(k, children)| Policy::Threshold { k, children }),
                ]
            })
            .prop_filter("within the policy limits", |p| p.validate().is_ok())
    }

    /// Random policies built with the raw constructors: often not normalised (single-child or
    /// nested same-kind gates, one-child thresholds, bad `k`).
    pub(crate) fn raw_policy() -> impl Strategy<Value = Policy> {
        leaf().prop_recursive(4, 16, 3, |inner| {
            let children = proptest::collection::vec(inner, 0..4);
            prop_oneof![
                children.clone().prop_map(Policy::And),
                children.clone().prop_map(Policy::Or),
                (0..4usize, children).prop_map(|(k, children)| Policy::Threshold { k, children }),
            ]
        })
    }

    /// Random normalised AND/OR formulas (ranges included, no thresholds).
    pub(crate) fn and_or_policy() -> impl Strategy<Value = Policy> {
        leaf()
            .prop_recursive(4, 24, 4, |inner| {
                let children = proptest::collection::vec(inner, 2..5);
                prop_oneof![children.clone().prop_map(Policy::and), children.prop_map(Policy::or),]
            })
            .prop_filter("within the policy limits", |p| p.validate().is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Token soup: fragments of valid syntax glued at random, to reach deep parser states.
    fn token_soup() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("("),
            Just(")"),
            Just("["),
            Just("]"),
            Just(","),
            Just(":"),
            Just("@"),
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">="),
            Just(" and "),
            Just(" or "),
            Just(" of "),
            Just(" in "),
            Just("a"),
            Just("2"),
            Just("0"),
            Just("65535"),
            Just("2026-11-23"),
            Just("2026-02-30"),
            Just(" "),
            Just("é"),
        ];
        proptest::collection::vec(token, 0..48).prop_map(|tokens| tokens.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn parse_inverts_print(policy in strategy::policy()) {
            let printed = policy.to_string();
            let parsed = Policy::parse(&printed);
            prop_assert_eq!(parsed.as_ref(), Ok(&policy), "{}", printed);
            prop_assert_eq!(parsed.map(|p| p.to_string()), Ok(printed));
        }

        #[test]
        fn valid_policies_built_in_code_round_trip_exactly(policy in strategy::raw_policy()) {
            let printed = policy.to_string();
            match policy.validate() {
                Ok(()) => prop_assert_eq!(Policy::parse(&printed), Ok(policy)),
                // Whatever the parser makes of an invalid tree's text is canonical and valid.
                Err(_) => {
                    if let Ok(parsed) = Policy::parse(&printed) {
                        prop_assert_eq!(parsed.validate(), Ok(()));
                        prop_assert_eq!(Policy::parse(&parsed.to_string()), Ok(parsed));
                    }
                }
            }
        }

        #[test]
        fn printing_is_idempotent_on_random_text(text in token_soup()) {
            if let Ok(policy) = Policy::parse(&text) {
                let printed = policy.to_string();
                prop_assert_eq!(Policy::parse(&printed), Ok(policy));
            }
        }

        #[test]
        fn garbage_never_panics_the_parser(text in "\\PC{0,80}") {
            let _ = Policy::parse(&text);
        }

        #[test]
        fn mutated_policies_never_panic_and_stay_canonical(
            policy in strategy::policy(),
            at in any::<prop::sample::Index>(),
            insert in prop_oneof![Just(None), any::<char>().prop_map(Some)],
        ) {
            let mut text = policy.to_string();
            let cut = text.char_indices().nth(at.index(text.chars().count().max(1)))
                .map_or(text.len(), |(i, _)| i);
            match insert {
                Some(c) => text.insert(cut, c),
                None => {
                    if cut < text.len() {
                        text.remove(cut);
                    }
                }
            }
            if let Ok(mutated) = Policy::parse(&text) {
                prop_assert_eq!(Policy::parse(&mutated.to_string()), Ok(mutated));
            }
        }
    }
}
