//! Linear secret sharing for policies (Lewko–Waters, with polynomial thresholds).
//!
//! A [`Policy`] compiles to a matrix `A` with one row per leaf attribute (a range contributes
//! one row per node of its segment-tree cover). For a secret vector `s = (z, r2, …)` the share
//! of row `x` is `λx = A_x · s`; any set of rows satisfying the policy has coefficients `cx`
//! with `Σ cx A_x = (1, 0, …, 0)`, so `Σ cx λx = z`, and no unsatisfying set has such
//! coefficients.
//!
//! Construction, top-down from the root vector `(1)`:
//! * OR: every child gets its parent's vector `v`.
//! * AND of `n` children: `n − 1` fresh columns `j1…j(n−1)` chain the children as nested binary
//!   Lewko–Waters ANDs: child 1 gets `v + e_j1`, child `i` gets `−e_j(i−1) + e_ji`, child `n`
//!   gets `−e_j(n−1)`. The vectors sum to `v`, so pure AND/OR formulas reconstruct with every
//!   coefficient equal to 1.
//! * `k of (p1, …, pn)`: `k − 1` fresh columns; child `i` gets `v + Σm i^m e_jm` (`m = 1…k−1`),
//!   i.e. Shamir shares of a degree-`k−1` polynomial at `x = i` whose constant term is `v · s`.
//!   Thresholds therefore cost `n` rows, never an expansion into AND/OR.
//!
//! Reconstruction works on the compiled tree instead of solving the linear system: it finds a
//! satisfying row set with the fewest rows (each row costs pairings when decrypting) and
//! derives the coefficients from the gates.

use ark_ff::PrimeField;

use crate::attribute::Attribute;
use crate::policy::{Policy, PolicyError};

/// One row of the share-generating matrix: the attribute `ρ(x)` and the vector `A_x`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LsssRow<F> {
    /// The attribute a key must hold to use this row's share.
    pub attribute: Attribute,
    /// The row `A_x`, padded to [`Lsss::columns`] entries.
    pub vector: Vec<F>,
}

/// A gate of the compiled tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Gate {
    Leaf {
        row: usize,
    },
    Or,
    And,
    /// Children are the evaluation points `x = 1, 2, …` in order.
    Threshold {
        k: usize,
    },
}

/// A node of the compiled tree. Nodes are stored in pre-order, so every child has a larger
/// index than its parent and a reverse scan visits children first.
#[derive(Clone, PartialEq, Eq, Debug)]
struct TreeNode {
    gate: Gate,
    children: Vec<usize>,
}

/// The LSSS of a policy: its rows, in left-to-right leaf order, and the gate tree they came
/// from (used to compute reconstruction coefficients).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Lsss<F> {
    rows: Vec<LsssRow<F>>,
    columns: usize,
    /// Pre-order; index 0 is the root.
    nodes: Vec<TreeNode>,
}

impl<F: PrimeField> Lsss<F> {
    /// Compiles `policy`. Fails if [`Policy::validate`] does (only possible for policies built
    /// in code that are not in normal form or exceed the limits): this guarantees that the
    /// policy's printed text, parsed again, compiles to exactly the same matrix.
    pub fn from_policy(policy: &Policy) -> Result<Self, PolicyError> {
        // Validation also bounds the depth, which bounds `compile`'s recursion.
        policy.validate()?;
        let mut builder = Builder { rows: Vec::new(), nodes: Vec::new(), columns: 1 };
        builder.compile(policy, vec![F::one()]);
        let columns = builder.columns;
        let mut rows = builder.rows;
        for row in &mut rows {
            row.vector.resize(columns, F::zero());
        }
        Ok(Self { rows, columns, nodes: builder.nodes })
    }

    /// The rows, in left-to-right leaf order of the policy (a range's cover nodes in cover
    /// order).
    pub fn rows(&self) -> &[LsssRow<F>] {
        &self.rows
    }

    /// The number of columns, i.e. the length of every row vector and of the secret vector.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The shares `λx = A_x · s` of the secret vector `s` (whose first entry is the secret),
    /// or `None` if `s` does not have [`Lsss::columns`] entries.
    pub fn shares(&self, s: &[F]) -> Option<Vec<F>> {
        if s.len() != self.columns {
            return None;
        }
        Some(self.rows.iter().map(|row| row.vector.iter().zip(s).map(|(a, b)| *a * b).sum()).collect())
    }

    /// Reconstruction coefficients for a key holding the attributes accepted by `has`:
    /// `(row index, cx)` pairs, sorted by row, with `Σ cx A_x = (1, 0, …, 0)`, over a satisfying
    /// row set with the fewest rows; `None` if the key does not satisfy the policy.
    ///
    /// Minimality is computed on the tree: a leaf costs 1 (or is unusable), an OR costs its
    /// cheapest child, an AND the sum of its children, a threshold the sum of its `k` cheapest
    /// usable children. Coefficients then flow down: OR and AND pass theirs on unchanged (so
    /// pure AND/OR formulas give all-ones), a threshold multiplies by the Lagrange coefficient
    /// at 0 of the chosen children's `x`s. Ties pick the leftmost child.
    pub fn reconstruction(&self, has: &dyn Fn(&Attribute) -> bool) -> Option<Vec<(usize, F)>> {
        let cost = self.costs(has);
        cost.first().copied().flatten()?;
        let cost_of = |id: &usize| cost.get(*id).copied().flatten();
        let mut out = Vec::new();
        let mut stack = vec![(0usize, F::one())];
        while let Some((id, coefficient)) = stack.pop() {
            let node = self.nodes.get(id)?;
            match node.gate {
                Gate::Leaf { row } => out.push((row, coefficient)),
                Gate::Or => {
                    let best = node
                        .children
                        .iter()
                        .filter_map(|c| Some((cost_of(c)?, *c)))
                        .min_by_key(|(c, _)| *c)?;
                    stack.push((best.1, coefficient));
                }
                Gate::And => stack.extend(node.children.iter().map(|c| (*c, coefficient))),
                Gate::Threshold { k } => {
                    // (cost, x, child), cheapest first; x = position + 1.
                    let mut usable: Vec<(usize, u64, usize)> = node
                        .children
                        .iter()
                        .zip(1u64..)
                        .filter_map(|(c, x)| Some((cost_of(c)?, x, *c)))
                        .collect();
                    usable.sort_unstable();
                    usable.truncate(k);
                    let xs: Vec<u64> = usable.iter().map(|(_, x, _)| *x).collect();
                    for (_, x, child) in &usable {
                        stack.push((*child, coefficient * lagrange_at_zero::<F>(*x, &xs)?));
                    }
                }
            }
        }
        out.sort_unstable_by_key(|(row, _)| *row);
        Some(out)
    }

    /// The minimal number of rows satisfying each node (`None` = unsatisfiable), computed
    /// bottom-up by scanning the pre-order array backwards.
    fn costs(&self, has: &dyn Fn(&Attribute) -> bool) -> Vec<Option<usize>> {
        let mut cost: Vec<Option<usize>> = vec![None; self.nodes.len()];
        for (id, node) in self.nodes.iter().enumerate().rev() {
            let child_costs = node.children.iter().map(|c| cost.get(*c).copied().flatten());
            let value = match node.gate {
                Gate::Leaf { row } => self.rows.get(row).filter(|r| has(&r.attribute)).map(|_| 1),
                Gate::Or => child_costs.flatten().min(),
                Gate::And => child_costs.sum::<Option<usize>>(),
                Gate::Threshold { k } => {
                    let mut usable: Vec<usize> = child_costs.flatten().collect();
                    if usable.len() < k {
                        None
                    } else {
                        usable.sort_unstable();
                        Some(usable.iter().take(k).sum())
                    }
                }
            };
            if let Some(slot) = cost.get_mut(id) {
                *slot = value;
            }
        }
        cost
    }
}

/// The Lagrange coefficient at 0 of the point `x` among the distinct points `xs`:
/// `Π_{j ≠ x} j / (j − x)`. `None` only if the points are not distinct.
fn lagrange_at_zero<F: PrimeField>(x: u64, xs: &[u64]) -> Option<F> {
    let (mut numerator, mut denominator) = (F::one(), F::one());
    for &other in xs.iter().filter(|&&o| o != x) {
        numerator *= F::from(other);
        denominator *= F::from(other) - F::from(x);
    }
    Some(numerator * denominator.inverse()?)
}

/// Builds rows and tree together in one pre-order walk.
struct Builder<F> {
    rows: Vec<LsssRow<F>>,
    nodes: Vec<TreeNode>,
    /// Columns allocated so far (column 0 holds the secret).
    columns: usize,
}

/// Adds `value` to entry `column` of `vector`, growing it as needed (vectors are padded to the
/// final width only at the end, since later gates allocate more columns).
fn add_at<F: PrimeField>(vector: &mut Vec<F>, column: usize, value: F) {
    if vector.len() <= column {
        vector.resize(column + 1, F::zero());
    }
    if let Some(entry) = vector.get_mut(column) {
        *entry += value;
    }
}

impl<F: PrimeField> Builder<F> {
    /// Allocates `count` fresh columns and returns the first.
    fn fresh_columns(&mut self, count: usize) -> usize {
        let first = self.columns;
        self.columns += count;
        first
    }

    fn push_node(&mut self, gate: Gate) -> usize {
        self.nodes.push(TreeNode { gate, children: Vec::new() });
        self.nodes.len() - 1
    }

    fn set_children(&mut self, id: usize, children: Vec<usize>) {
        if let Some(node) = self.nodes.get_mut(id) {
            node.children = children;
        }
    }

    fn leaf(&mut self, attribute: Attribute, vector: Vec<F>) -> usize {
        let row = self.rows.len();
        self.rows.push(LsssRow { attribute, vector });
        self.push_node(Gate::Leaf { row })
    }

    /// Compiles `policy` with share vector `v` and returns its node index. Recursion depth is
    /// bounded by [`crate::policy::MAX_DEPTH`] (checked by the caller).
    fn compile(&mut self, policy: &Policy, v: Vec<F>) -> usize {
        match policy {
            Policy::Attr(attribute) => self.leaf(attribute.clone(), v),
            Policy::Range(range) => {
                let mut attributes = range.cover_attributes();
                if attributes.len() == 1 {
                    if let Some(only) = attributes.pop() {
                        return self.leaf(only, v);
                    }
                }
                let id = self.push_node(Gate::Or);
                let children = attributes.into_iter().map(|a| self.leaf(a, v.clone())).collect();
                self.set_children(id, children);
                id
            }
            Policy::Or(children) => {
                let id = self.push_node(Gate::Or);
                let ids = children.iter().map(|c| self.compile(c, v.clone())).collect();
                self.set_children(id, ids);
                id
            }
            Policy::And(children) => {
                let id = self.push_node(Gate::And);
                let n = children.len();
                let first = self.fresh_columns(n.saturating_sub(1));
                let mut ids = Vec::with_capacity(n);
                for (i, child) in children.iter().enumerate() {
                    // Chain: child i consumes column first+i-1 (−1) and opens first+i (+1).
                    let mut vector = if i == 0 { v.clone() } else { Vec::new() };
                    if i > 0 {
                        add_at(&mut vector, first + i - 1, -F::one());
                    }
                    if i + 1 < n {
                        add_at(&mut vector, first + i, F::one());
                    }
                    ids.push(self.compile(child, vector));
                }
                self.set_children(id, ids);
                id
            }
            Policy::Threshold { k, children } => {
                let id = self.push_node(Gate::Threshold { k: *k });
                let first = self.fresh_columns(k.saturating_sub(1));
                let mut ids = Vec::with_capacity(children.len());
                for (child, x) in children.iter().zip(1u64..) {
                    let mut vector = v.clone();
                    let mut power = F::one();
                    for m in 0..k.saturating_sub(1) {
                        power *= F::from(x);
                        add_at(&mut vector, first + m, power);
                    }
                    ids.push(self.compile(child, vector));
                }
                self.set_children(id, ids);
                id
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::strategy;
    use crate::segtree::path_attributes;
    use ark_bls12_381::Fr;
    use ark_ff::{One, Zero};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn compile(text: &str) -> Lsss<Fr> {
        Lsss::from_policy(&Policy::parse(text).unwrap()).unwrap()
    }

    fn fr(v: i64) -> Fr {
        Fr::from(v)
    }

    fn matrix(lsss: &Lsss<Fr>) -> Vec<Vec<Fr>> {
        lsss.rows().iter().map(|r| r.vector.clone()).collect()
    }

    fn holding(list: &[&str]) -> impl Fn(&Attribute) -> bool {
        let set: BTreeSet<Attribute> = list.iter().map(|s| s.parse().unwrap()).collect();
        move |a| set.contains(a)
    }

    /// Σ c_x A_x.
    fn combination(lsss: &Lsss<Fr>, terms: &[(usize, Fr)]) -> Vec<Fr> {
        let mut sum = vec![Fr::zero(); lsss.columns()];
        for (row, c) in terms {
            for (s, a) in sum.iter_mut().zip(&lsss.rows()[*row].vector) {
                *s += *c * a;
            }
        }
        sum
    }

    fn unit(columns: usize) -> Vec<Fr> {
        let mut e = vec![Fr::zero(); columns];
        e[0] = Fr::one();
        e
    }

    #[test]
    fn single_attribute_is_one_row_one_column() {
        let lsss = compile("a:x@h");
        assert_eq!(lsss.columns(), 1);
        assert_eq!(matrix(&lsss), [[fr(1)]]);
        assert_eq!(lsss.reconstruction(&holding(&["a:x@h"])), Some(vec![(0, Fr::one())]));
        assert_eq!(lsss.reconstruction(&holding(&["b:x@h"])), None);
    }

    #[test]
    fn and_chains_lewko_waters_columns() {
        let lsss = compile("a:x@h and b:x@h and c:x@h");
        assert_eq!(matrix(&lsss), [[fr(1), fr(1), fr(0)], [fr(0), fr(-1), fr(1)], [fr(0), fr(0), fr(-1)]]);
        let all = holding(&["a:x@h", "b:x@h", "c:x@h"]);
        assert_eq!(lsss.reconstruction(&all), Some(vec![(0, Fr::one()), (1, Fr::one()), (2, Fr::one())]));
        assert_eq!(lsss.reconstruction(&holding(&["a:x@h", "b:x@h"])), None);
    }

    #[test]
    fn or_children_share_the_parent_vector() {
        let lsss = compile("a:x@h and (b:x@h or c:x@h)");
        assert_eq!(matrix(&lsss), [[fr(1), fr(1)], [fr(0), fr(-1)], [fr(0), fr(-1)]]);
        let terms = lsss.reconstruction(&holding(&["a:x@h", "c:x@h"])).unwrap();
        assert_eq!(terms, [(0, Fr::one()), (2, Fr::one())]);
    }

    #[test]
    fn thresholds_use_polynomial_shares_not_expansion() {
        let lsss = compile("2 of (a:x@h, b:x@h, c:x@h)");
        assert_eq!(lsss.rows().len(), 3);
        assert_eq!(matrix(&lsss), [[fr(1), fr(1)], [fr(1), fr(2)], [fr(1), fr(3)]]);
        // Lagrange at 0 over x = 2, 3: 3 and −2.
        let terms = lsss.reconstruction(&holding(&["b:x@h", "c:x@h"])).unwrap();
        assert_eq!(terms, [(1, fr(3)), (2, fr(-2))]);
        assert_eq!(lsss.reconstruction(&holding(&["b:x@h"])), None);
        let lsss = compile("3 of (a:x@h, b:x@h, c:x@h, d:x@h)");
        assert_eq!((lsss.rows().len(), lsss.columns()), (4, 3));
        assert_eq!(lsss.rows()[3].vector, [fr(1), fr(4), fr(16)]);
    }

    #[test]
    fn reconstruction_picks_the_fewest_rows() {
        let all = holding(&["a:x@h", "b:x@h", "c:x@h", "d:x@h"]);
        let lsss = compile("a:x@h and b:x@h or c:x@h");
        assert_eq!(lsss.reconstruction(&all), Some(vec![(2, Fr::one())]));
        let lsss = compile("2 of (a:x@h and b:x@h, c:x@h, d:x@h)");
        let terms = lsss.reconstruction(&all).unwrap();
        assert_eq!(terms.iter().map(|t| t.0).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(combination(&lsss, &terms), unit(lsss.columns()));
        // Ties go to the leftmost child.
        let lsss = compile("a:x@h or b:x@h");
        assert_eq!(lsss.reconstruction(&all), Some(vec![(0, Fr::one())]));
    }

    #[test]
    fn ranges_expand_to_their_cover_in_order() {
        let lsss = compile("a:x@h and t@h in [1, 6]");
        let attributes: Vec<String> = lsss.rows().iter().map(|r| r.attribute.to_string()).collect();
        assert_eq!(attributes, ["a:x@h", "t:s0.1@h", "t:s1.1@h", "t:s1.2@h", "t:s0.6@h"]);
        let mut key = path_attributes("t", "h", 5).unwrap();
        key.push("a:x@h".parse().unwrap());
        let terms = lsss.reconstruction(&|a| key.contains(a)).unwrap();
        assert_eq!(terms, [(0, Fr::one()), (3, Fr::one())]);
        let key = path_attributes("t", "h", 7).unwrap();
        assert_eq!(lsss.reconstruction(&|a| key.contains(a) || a.name() == "a"), None);
        // The full range is a single row: the root.
        let lsss = compile("t@h >= 0");
        assert_eq!(lsss.rows().len(), 1);
        assert_eq!(lsss.rows()[0].attribute.to_string(), "t:s16.0@h");
    }

    #[test]
    fn repeated_attributes_get_separate_rows() {
        let lsss = compile("a:x@h and (a:x@h or b:x@h)");
        assert_eq!(lsss.rows().len(), 3);
        let terms = lsss.reconstruction(&holding(&["a:x@h"])).unwrap();
        assert_eq!(terms, [(0, Fr::one()), (1, Fr::one())]);
    }

    #[test]
    fn shares_reconstruct_the_secret() {
        let lsss = compile("2 of (a:x@h, b:x@h and c:x@h, d:x@h)");
        let s: Vec<Fr> = (0..lsss.columns()).map(|i| fr(7 + 31 * i as i64)).collect();
        let shares = lsss.shares(&s).unwrap();
        let terms = lsss.reconstruction(&holding(&["b:x@h", "c:x@h", "d:x@h"])).unwrap();
        let secret: Fr = terms.iter().map(|(row, c)| *c * shares[*row]).sum();
        assert_eq!(secret, s[0]);
        assert_eq!(lsss.shares(&s[1..]), None);
    }

    #[test]
    fn rejects_policies_that_fail_validation() {
        assert_eq!(
            Lsss::<Fr>::from_policy(&Policy::And(vec![])),
            Err(PolicyError::EmptyGate { gate: "and" })
        );
        let a = Policy::parse("a:x@h").unwrap();
        assert!(matches!(
            Lsss::<Fr>::from_policy(&Policy::Threshold { k: 3, children: vec![a.clone(), a] }),
            Err(PolicyError::Threshold { k: 3, n: 2, .. })
        ));
    }

    /// Whether the rows in `chosen` (a bit set) satisfy `policy`, with leaves numbered in row
    /// order: an independent reference for the minimality check.
    fn rows_satisfy(policy: &Policy, next_row: &mut usize, chosen: u64) -> bool {
        let mut take = |n: usize| {
            let hit = (*next_row..*next_row + n).any(|r| chosen >> r & 1 == 1);
            *next_row += n;
            hit
        };
        match policy {
            Policy::Attr(_) => take(1),
            Policy::Range(r) => take(r.cover().len()),
            Policy::And(c) => c.iter().map(|p| rows_satisfy(p, next_row, chosen)).fold(true, |a, b| a & b),
            Policy::Or(c) => c.iter().map(|p| rows_satisfy(p, next_row, chosen)).fold(false, |a, b| a | b),
            Policy::Threshold { k, children } => {
                children.iter().filter(|p| rows_satisfy(p, next_row, chosen)).count() >= *k
            }
        }
    }

    /// A deterministic pseudo-random key: each attribute of the universe is held with
    /// probability `density`%.
    fn random_key(lsss: &Lsss<Fr>, seed: u64, density: u8) -> BTreeSet<Attribute> {
        use std::hash::{Hash, Hasher};
        lsss.rows()
            .iter()
            .map(|r| r.attribute.clone())
            .filter(|a| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (seed, a).hash(&mut h);
                h.finish() % 100 < u64::from(density)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn reconstruction_agrees_with_reference_semantics(
            policy in strategy::policy(),
            seed in any::<u64>(),
            density in 20u8..=100,
        ) {
            let lsss = Lsss::<Fr>::from_policy(&policy).unwrap();
            prop_assert_eq!(lsss.rows().len(), policy.row_count());
            prop_assert!(lsss.rows().iter().all(|r| r.vector.len() == lsss.columns()));
            let key = random_key(&lsss, seed, density);
            let has = |a: &Attribute| key.contains(a);
            let terms = lsss.reconstruction(&has);
            prop_assert_eq!(terms.is_some(), policy.is_satisfied_by(&has), "{}", policy);
            if let Some(terms) = terms {
                prop_assert!(terms.iter().all(|(row, _)| has(&lsss.rows()[*row].attribute)));
                prop_assert!(terms.windows(2).all(|w| w[0].0 < w[1].0));
                prop_assert_eq!(combination(&lsss, &terms), unit(lsss.columns()));
                let s: Vec<Fr> = (0..lsss.columns()).map(|i| fr(seed as i64 ^ i as i64)).collect();
                let shares = lsss.shares(&s).unwrap();
                let secret: Fr = terms.iter().map(|(row, c)| *c * shares[*row]).sum();
                prop_assert_eq!(secret, s[0]);
                // Minimal: no smaller set of held rows satisfies the policy.
                let rows = lsss.rows().len();
                if rows <= 14 {
                    let held: u64 = (0..rows)
                        .filter(|r| has(&lsss.rows()[*r].attribute))
                        .fold(0, |m, r| m | 1 << r);
                    let best = (0..1u64 << rows)
                        .filter(|s| s & !held == 0 && rows_satisfy(&policy, &mut 0, *s))
                        .map(u64::count_ones)
                        .min();
                    prop_assert_eq!(best, Some(terms.len() as u32));
                }
            }
        }

        #[test]
        fn and_or_formulas_reconstruct_with_unit_coefficients(
            policy in strategy::and_or_policy(),
            seed in any::<u64>(),
            density in 30u8..=100,
        ) {
            let lsss = Lsss::<Fr>::from_policy(&policy).unwrap();
            let key = random_key(&lsss, seed, density);
            if let Some(terms) = lsss.reconstruction(&|a| key.contains(a)) {
                prop_assert!(terms.iter().all(|(_, c)| c.is_one()));
                prop_assert_eq!(combination(&lsss, &terms), unit(lsss.columns()));
            }
        }

        #[test]
        fn keys_for_days_in_range_reconstruct(
            range in strategy::range(),
            probe in 0u64..=65_535,
        ) {
            let policy = Policy::Range(range.clone());
            let lsss = Lsss::<Fr>::from_policy(&policy).unwrap();
            for day in [probe, range.low(), range.high(), range.low().saturating_sub(1), range.high() + 1] {
                let key = path_attributes(range.name(), range.authority(), day.min(65_535)).unwrap();
                let inside = (range.low()..=range.high()).contains(&day.min(65_535));
                let terms = lsss.reconstruction(&|a| key.contains(a));
                prop_assert_eq!(terms.as_ref().map(Vec::len), inside.then_some(1));
            }
        }
    }
}
