//! The policy syntax tree, its canonical printer and its reference semantics.

use core::fmt;
use core::str::FromStr;
use std::collections::BTreeSet;

use super::{PolicyError, MAX_DEPTH, MAX_POLICY_LEN, MAX_ROWS, MAX_THRESHOLD_CHILDREN};
use crate::attribute::{validate_identifier, Attribute};
use crate::segtree::{self, Node, DEFAULT_WIDTH};

/// An access policy: a monotone formula over attributes.
///
/// Policies from [`Policy::parse`] are normalised: `And`/`Or` have at least two children and
/// never a child of their own kind (`a and (b and c)` is `And[a, b, c]`), and thresholds
/// respect `1 ≤ k ≤ n ≤ 64` with `n ≥ 2`. For those, the [`Display`](fmt::Display) form parses
/// back to an equal policy. Policies built in code should use [`Policy::and`] and [`Policy::or`]
/// to get the same normal form; [`Policy::validate`] (run by [`crate::Lsss::from_policy`])
/// rejects anything else, so every policy that can be encrypted under round-trips through its
/// text.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Policy {
    /// Satisfied by a key holding this attribute.
    Attr(Attribute),
    /// Satisfied when every child is.
    And(Vec<Policy>),
    /// Satisfied when at least one child is.
    Or(Vec<Policy>),
    /// Satisfied when at least `k` of the children are.
    Threshold {
        /// How many children must be satisfied.
        k: usize,
        /// The children, in order; child `i` (from 1) gets the share at `x = i`.
        children: Vec<Policy>,
    },
    /// Satisfied by a key for a value of a numeric attribute inside an interval.
    Range(RangePolicy),
}

/// A numeric interval test `name@authority in [low, high]` over a segment tree of width
/// [`DEFAULT_WIDTH`].
///
/// Every comparison form of the language (`<`, `<=`, `>`, `>=`) is normalised to this inclusive
/// interval when parsed. `dates` remembers whether the bounds were written as `YYYY-MM-DD` so
/// that printing reproduces dates.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RangePolicy {
    name: String,
    authority: String,
    low: u64,
    high: u64,
    dates: bool,
}

impl RangePolicy {
    /// Builds the interval `[low, high]` of `name@authority`, validating the identifiers, that
    /// the interval is not empty and that `high < 2^DEFAULT_WIDTH`.
    pub fn new(name: &str, authority: &str, low: u64, high: u64, dates: bool) -> Result<Self, PolicyError> {
        let name = validate_identifier("name", name)?;
        let authority = validate_identifier("authority", authority)?;
        let max = segtree::max_value(DEFAULT_WIDTH);
        for value in [low, high] {
            if value > max {
                return Err(PolicyError::OutOfRange { position: None, value, max });
            }
        }
        if low > high {
            return Err(PolicyError::EmptyRange { position: None });
        }
        Ok(Self { name, authority, low, high, dates })
    }

    /// The numeric attribute's name, e.g. `access_time`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The authority that certifies the value, e.g. `telekom`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The smallest value in the interval.
    pub fn low(&self) -> u64 {
        self.low
    }

    /// The largest value in the interval (inclusive).
    pub fn high(&self) -> u64 {
        self.high
    }

    /// Whether the bounds are dates (days since 1970-01-01) and print as `YYYY-MM-DD`.
    pub fn is_date(&self) -> bool {
        self.dates
    }

    /// The canonical segment-tree cover of the interval, left to right (at most
    /// `2 · DEFAULT_WIDTH` nodes).
    pub fn cover(&self) -> Vec<Node> {
        segtree::cover(self.low, self.high, DEFAULT_WIDTH)
    }

    /// The attribute standing for one node of this range's tree.
    pub fn node_attribute(&self, node: Node) -> Attribute {
        // Name and authority were validated in `new`; node labels are always valid values.
        Attribute::from_validated(self.name.clone(), node.label(), self.authority.clone())
    }

    /// The attributes of [`RangePolicy::cover`], in cover order: the range is satisfied by a key
    /// holding any of them.
    pub fn cover_attributes(&self) -> Vec<Attribute> {
        self.cover().into_iter().map(|node| self.node_attribute(node)).collect()
    }

    fn fmt_bound(&self, f: &mut fmt::Formatter<'_>, value: u64) -> fmt::Result {
        if self.dates {
            f.write_str(&segtree::format_date(value))
        } else {
            write!(f, "{value}")
        }
    }
}

impl fmt::Display for RangePolicy {
    /// Prints `name@authority in [low, high]`, bounds as dates if they were written as dates.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} in [", self.name, self.authority)?;
        self.fmt_bound(f, self.low)?;
        f.write_str(", ")?;
        self.fmt_bound(f, self.high)?;
        f.write_str("]")
    }
}

impl Policy {
    /// Parses policy text (see the crate's policy-language documentation); errors name the byte
    /// position and what was expected.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        super::parser::parse(text)
    }

    /// The conjunction of `children`, flattened: children that are `And`s contribute their own
    /// children, and a single child is returned unwrapped. An empty list gives `And[]`, which
    /// [`Policy::validate`] rejects.
    pub fn and(children: Vec<Policy>) -> Policy {
        Self::gate(children, true)
    }

    /// The disjunction of `children`, flattened like [`Policy::and`].
    pub fn or(children: Vec<Policy>) -> Policy {
        Self::gate(children, false)
    }

    fn gate(children: Vec<Policy>, is_and: bool) -> Policy {
        let mut flat = Vec::with_capacity(children.len());
        for child in children {
            match child {
                Policy::And(inner) if is_and => flat.extend(inner),
                Policy::Or(inner) if !is_and => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            if let Some(only) = flat.pop() {
                return only;
            }
        }
        if is_and {
            Policy::And(flat)
        } else {
            Policy::Or(flat)
        }
    }

    /// Every authority named by the policy (attributes and ranges): the authorities whose
    /// public keys encryption needs.
    pub fn authorities(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.visit(&mut |p| match p {
            Policy::Attr(a) => {
                out.insert(a.authority().to_owned());
            }
            Policy::Range(r) => {
                out.insert(r.authority().to_owned());
            }
            _ => {}
        });
        out
    }

    /// Every attribute a key could use against this policy: the attributes it names and the
    /// node attributes of each range's cover.
    pub fn attributes(&self) -> BTreeSet<Attribute> {
        let mut out = BTreeSet::new();
        self.visit(&mut |p| match p {
            Policy::Attr(a) => {
                out.insert(a.clone());
            }
            Policy::Range(r) => out.extend(r.cover_attributes()),
            _ => {}
        });
        out
    }

    /// Reference semantics: whether a key holding exactly the attributes for which `has`
    /// returns true satisfies the policy. A range is satisfied when `has` accepts any node
    /// attribute of its cover (a key holds the path of its value, which meets the cover iff the
    /// value is in range).
    pub fn is_satisfied_by(&self, has: &dyn Fn(&Attribute) -> bool) -> bool {
        match self {
            Policy::Attr(a) => has(a),
            Policy::And(children) => children.iter().all(|c| c.is_satisfied_by(has)),
            Policy::Or(children) => children.iter().any(|c| c.is_satisfied_by(has)),
            Policy::Threshold { k, children } => {
                children.iter().filter(|c| c.is_satisfied_by(has)).count() >= *k
            }
            Policy::Range(r) => r.cover().into_iter().any(|node| has(&r.node_attribute(node))),
        }
    }

    /// The number of LSSS rows the policy compiles to: one per attribute, one per cover node
    /// of each range (saturating).
    pub fn row_count(&self) -> usize {
        let mut rows = 0usize;
        self.visit(&mut |p| match p {
            Policy::Attr(_) => rows = rows.saturating_add(1),
            Policy::Range(r) => rows = rows.saturating_add(r.cover().len()),
            _ => {}
        });
        rows
    }

    /// Gate nesting depth: 0 for a leaf, 1 + the deepest child for a gate.
    pub fn depth(&self) -> usize {
        // Iterative, so that even an absurdly deep policy built in code cannot exhaust the stack
        // while being measured.
        let mut deepest = 0;
        let mut stack = vec![(self, 0usize)];
        while let Some((p, d)) = stack.pop() {
            deepest = deepest.max(d);
            if let Policy::And(c) | Policy::Or(c) | Policy::Threshold { children: c, .. } = p {
                stack.extend(c.iter().map(|child| (child, d.saturating_add(1))));
            }
        }
        deepest
    }

    /// Checks that the policy is one the parser could have produced, for policies built in
    /// code: no empty gate, `And`/`Or` with at least two children and no child of their own kind
    /// (use [`Policy::and`]/[`Policy::or`]), thresholds with `1 ≤ k ≤ n ≤ 64` and `n ≥ 2`, depth
    /// ≤ [`MAX_DEPTH`], rows ≤ [`MAX_ROWS`], canonical text ≤ [`MAX_POLICY_LEN`] bytes.
    ///
    /// Every policy that passes prints to text that parses back to an equal policy, so a
    /// ciphertext's policy text always re-derives the exact LSSS matrix it was encrypted under.
    /// Parsed policies pass unless their canonical form outgrows the length limit (e.g. many
    /// `x@a<1` becoming `x@a in [0, 0]`). Iterative, so it is safe on any input.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let mut rows = 0usize;
        let mut stack = vec![(self, 0usize)];
        while let Some((p, depth)) = stack.pop() {
            if depth > MAX_DEPTH {
                return Err(PolicyError::TooDeep { position: None, max: MAX_DEPTH });
            }
            let children = match p {
                Policy::Attr(_) => {
                    rows = rows.saturating_add(1);
                    &[][..]
                }
                Policy::Range(r) => {
                    rows = rows.saturating_add(r.cover().len());
                    &[][..]
                }
                Policy::And(c) | Policy::Or(c) => {
                    let (gate, same_kind): (_, fn(&Policy) -> bool) = match p {
                        Policy::And(_) => ("and", |c| matches!(c, Policy::And(_))),
                        _ => ("or", |c| matches!(c, Policy::Or(_))),
                    };
                    if c.is_empty() {
                        return Err(PolicyError::EmptyGate { gate });
                    }
                    if c.len() == 1 {
                        return Err(PolicyError::NotNormalized {
                            reason: "an and/or gate has a single child",
                        });
                    }
                    if c.iter().any(same_kind) {
                        return Err(PolicyError::NotNormalized {
                            reason: "an and/or gate has a child of its own kind",
                        });
                    }
                    c
                }
                Policy::Threshold { children, .. } if children.is_empty() => {
                    return Err(PolicyError::EmptyGate { gate: "threshold" })
                }
                Policy::Threshold { k, children } => {
                    let n = children.len();
                    if !(1..=n).contains(k) || !(2..=MAX_THRESHOLD_CHILDREN).contains(&n) {
                        return Err(PolicyError::Threshold { position: None, k: *k, n });
                    }
                    children
                }
            };
            if rows > MAX_ROWS {
                return Err(PolicyError::TooManyRows { position: None, max: MAX_ROWS });
            }
            stack.extend(children.iter().map(|child| (child, depth.saturating_add(1))));
        }
        // Only now is printing (which recurses) known to be shallow.
        let len = self.printed_len();
        if len > MAX_POLICY_LEN {
            return Err(PolicyError::TooLong { len, max: MAX_POLICY_LEN });
        }
        Ok(())
    }

    /// Length of the canonical text, without building it.
    fn printed_len(&self) -> usize {
        struct Counter(usize);
        impl fmt::Write for Counter {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0 = self.0.saturating_add(s.len());
                Ok(())
            }
        }
        let mut counter = Counter(0);
        // Writing to a counter cannot fail.
        let _ = fmt::write(&mut counter, format_args!("{self}"));
        counter.0
    }

    /// Calls `f` on every node, parents before children, left to right.
    fn visit(&self, f: &mut dyn FnMut(&Policy)) {
        f(self);
        if let Policy::And(c) | Policy::Or(c) | Policy::Threshold { children: c, .. } = self {
            for child in c {
                child.visit(f);
            }
        }
    }
}

impl fmt::Display for Policy {
    /// The canonical form: single spaces, lower-case keywords, ranges as `in [lo, hi]`, and
    /// parentheses only where needed (an `or` inside an `and`; threshold children never need
    /// any because commas delimit them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Attr(a) => write!(f, "{a}"),
            Policy::Range(r) => write!(f, "{r}"),
            Policy::And(children) => {
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    // Any `or` child needs parentheses, even a degenerate one built in code
                    // (`Or[Or[a, b]]`), or the printed text would mean something else.
                    if matches!(child, Policy::Or(_)) {
                        write!(f, "({child})")?;
                    } else {
                        write!(f, "{child}")?;
                    }
                }
                Ok(())
            }
            Policy::Or(children) => {
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{child}")?;
                }
                Ok(())
            }
            Policy::Threshold { k, children } => {
                write!(f, "{k} of (")?;
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{child}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl FromStr for Policy {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segtree::path_attributes;

    fn attr(s: &str) -> Policy {
        Policy::Attr(s.parse().unwrap())
    }

    fn canonical(text: &str) -> String {
        Policy::parse(text).unwrap().to_string()
    }

    #[test]
    fn prints_canonical_form_with_minimal_parentheses() {
        for (text, printed) in [
            ("A:X@H  AND  ( b:x@h OR c:x@h )", "a:x@h and (b:x@h or c:x@h)"),
            ("(a:x@h and b:x@h) or c:x@h", "a:x@h and b:x@h or c:x@h"),
            ("((a:x@h))", "a:x@h"),
            (
                "2 OF ( a:x@h , (b:x@h or c:x@h) , d:x@h and e:x@h )",
                "2 of (a:x@h, b:x@h or c:x@h, d:x@h and e:x@h)",
            ),
            ("(2 of (a:x@h, b:x@h)) and c:x@h", "2 of (a:x@h, b:x@h) and c:x@h"),
            ("t@h<10", "t@h in [0, 9]"),
            ("t@h >= 2026-11-23", "t@h in [2026-11-23, 2149-06-06]"),
            (
                "access_time@telekom in [2026-11-23,2026-12-22]",
                "access_time@telekom in [2026-11-23, 2026-12-22]",
            ),
            ("t@h in [2026-01-01, 20500]", "t@h in [2026-01-01, 2026-02-16]"),
        ] {
            assert_eq!(canonical(text), printed, "{text}");
            assert_eq!(canonical(printed), printed);
            assert_eq!(Policy::parse(printed).unwrap(), Policy::parse(text).unwrap());
        }
    }

    #[test]
    fn and_or_constructors_flatten_and_unwrap_single_children() {
        let (a, b, c) = (attr("a:x@h"), attr("b:x@h"), attr("c:x@h"));
        assert_eq!(Policy::and(vec![a.clone()]), a);
        assert_eq!(
            Policy::and(vec![a.clone(), Policy::and(vec![b.clone(), c.clone()])]),
            Policy::And(vec![a.clone(), b.clone(), c.clone()])
        );
        assert_eq!(
            Policy::or(vec![Policy::and(vec![a.clone(), b.clone()]), c.clone()]),
            Policy::Or(vec![Policy::And(vec![a, b]), c])
        );
        assert_eq!(Policy::and(vec![]), Policy::And(vec![]));
    }

    #[test]
    fn collects_authorities_of_attributes_and_ranges() {
        let p = Policy::parse("a:x@h1 and (b:x@h2 or t@h3 < 5) and 1 of (c:x@h1, d:x@h4)").unwrap();
        let got: Vec<String> = p.authorities().into_iter().collect();
        assert_eq!(got, ["h1", "h2", "h3", "h4"]);
    }

    #[test]
    fn reference_semantics_follow_the_gates() {
        let p = Policy::parse("a:x@h and (b:x@h or c:x@h) and 2 of (d:x@h, e:x@h, f:x@h)").unwrap();
        let holds = |list: &'static [&'static str]| {
            move |a: &Attribute| list.iter().any(|s| a.to_string() == format!("{s}:x@h"))
        };
        assert!(p.is_satisfied_by(&holds(&["a", "c", "d", "f"])));
        assert!(!p.is_satisfied_by(&holds(&["a", "c", "d"])));
        assert!(!p.is_satisfied_by(&holds(&["c", "d", "e", "f"])));
        assert!(!p.is_satisfied_by(&holds(&["a", "d", "e"])));
    }

    #[test]
    fn ranges_are_satisfied_by_keys_for_values_inside() {
        let p = Policy::parse("t@h in [2026-11-23, 2026-12-06]").unwrap();
        let Policy::Range(r) = &p else { panic!() };
        for day in r.low() - 3..=r.high() + 3 {
            let key = path_attributes("t", "h", day).unwrap();
            let inside = (r.low()..=r.high()).contains(&day);
            assert_eq!(p.is_satisfied_by(&|a| key.contains(a)), inside, "{day}");
        }
        // A key for the same value from another authority does not count.
        let key = path_attributes("t", "other", r.low()).unwrap();
        assert!(!p.is_satisfied_by(&|a| key.contains(a)));
    }

    #[test]
    fn range_policy_new_validates() {
        assert_eq!(RangePolicy::new("t", "h", 3, 2, false), Err(PolicyError::EmptyRange { position: None }));
        assert_eq!(
            RangePolicy::new("t", "h", 0, 65_536, false),
            Err(PolicyError::OutOfRange { position: None, value: 65_536, max: 65_535 })
        );
        assert!(matches!(
            RangePolicy::new("t t", "h", 0, 1, false),
            Err(PolicyError::InvalidIdentifier { kind: "name", .. })
        ));
        let r = RangePolicy::new("T", "H", 1, 6, false).unwrap();
        assert_eq!((r.name(), r.authority()), ("t", "h"));
        let cover: Vec<String> = r.cover_attributes().iter().map(ToString::to_string).collect();
        assert_eq!(cover, ["t:s0.1@h", "t:s1.1@h", "t:s1.2@h", "t:s0.6@h"]);
    }

    #[test]
    fn validate_rejects_malformed_policies_built_in_code() {
        let a = attr("a:x@h");
        assert_eq!(Policy::And(vec![]).validate(), Err(PolicyError::EmptyGate { gate: "and" }));
        assert_eq!(
            Policy::And(vec![a.clone(), Policy::Or(vec![])]).validate(),
            Err(PolicyError::EmptyGate { gate: "or" })
        );
        assert_eq!(
            Policy::And(vec![a.clone()]).validate(),
            Err(PolicyError::NotNormalized { reason: "an and/or gate has a single child" })
        );
        assert_eq!(
            Policy::Or(vec![a.clone(), Policy::Or(vec![a.clone(), a.clone()])]).validate(),
            Err(PolicyError::NotNormalized { reason: "an and/or gate has a child of its own kind" })
        );
        assert_eq!(
            Policy::Threshold { k: 1, children: vec![a.clone()] }.validate(),
            Err(PolicyError::Threshold { position: None, k: 1, n: 1 })
        );
        assert_eq!(
            Policy::Threshold { k: 0, children: vec![a.clone()] }.validate(),
            Err(PolicyError::Threshold { position: None, k: 0, n: 1 })
        );
        assert_eq!(
            Policy::Threshold { k: 2, children: vec![a.clone()] }.validate(),
            Err(PolicyError::Threshold { position: None, k: 2, n: 1 })
        );
        assert_eq!(
            Policy::Threshold { k: 1, children: vec![] }.validate(),
            Err(PolicyError::EmptyGate { gate: "threshold" })
        );
        assert_eq!(
            Policy::Or(vec![a.clone(); 513]).validate(),
            Err(PolicyError::TooManyRows { position: None, max: MAX_ROWS })
        );
        assert!(Policy::Threshold { k: 1, children: vec![a.clone(), a.clone()] }.validate().is_ok());
        let long = attr(&format!("{}:{}@{}", "n".repeat(64), "v".repeat(128), "h".repeat(64)));
        let len = 100 * 258 + 99 * 4;
        assert_eq!(
            Policy::Or(vec![long; 100]).validate(),
            Err(PolicyError::TooLong { len, max: MAX_POLICY_LEN })
        );
    }

    #[test]
    fn prints_degenerate_code_built_policies_without_changing_their_meaning() {
        let (a, b, c) = (attr("a:x@h"), attr("b:x@h"), attr("c:x@h"));
        let p = Policy::And(vec![Policy::Or(vec![Policy::Or(vec![a.clone(), b.clone()])]), c]);
        assert_eq!(p.to_string(), "(a:x@h or b:x@h) and c:x@h");
        assert!(p.validate().is_err());
        assert_eq!(Policy::And(vec![Policy::Or(vec![a])]).to_string(), "(a:x@h)");
    }

    #[test]
    fn validate_and_depth_survive_very_deep_policies() {
        let a = attr("a:x@h");
        let mut p = a.clone();
        for i in 0..10_000 {
            let children = vec![p, a.clone()];
            p = if i % 2 == 0 { Policy::And(children) } else { Policy::Or(children) };
        }
        assert_eq!(p.depth(), 10_000);
        assert_eq!(p.validate(), Err(PolicyError::TooDeep { position: None, max: MAX_DEPTH }));
        // Dropping a deep tree recurses; unwrap it iteratively so the test itself is safe.
        while let Policy::And(mut children) | Policy::Or(mut children) = p {
            p = children.swap_remove(0);
        }
    }

    #[test]
    fn counts_rows_including_range_covers() {
        let p = Policy::parse("a:x@h and t@h in [1, 6] and t@h in [0, 65535]").unwrap();
        assert_eq!(p.row_count(), 1 + 4 + 1);
        assert_eq!(p.depth(), 1);
    }

    #[test]
    fn from_str_matches_parse() {
        let p: Policy = "a:x@h or b:x@h".parse().unwrap();
        assert_eq!(p, Policy::parse("a:x@h or b:x@h").unwrap());
    }
}
