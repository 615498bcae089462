//! Recursive-descent parser for the policy grammar (see the [module docs](super)).
//!
//! Recursion is bounded by [`MAX_DEPTH`] levels of parentheses and the work by
//! [`MAX_POLICY_LEN`] bytes of input and [`MAX_ROWS`] leaves, so hostile text cannot exhaust
//! the stack or memory.

use super::ast::{Policy, RangePolicy};
use super::error::excerpt;
use super::lexer::{tokenize, Token, TokenKind};
use super::{PolicyError, MAX_DEPTH, MAX_POLICY_LEN, MAX_ROWS, MAX_THRESHOLD_CHILDREN};
use crate::attribute::{max_identifier_len, Attribute};
use crate::segtree::{self, parse_number_at, DEFAULT_WIDTH};

/// What may start a `unary`.
const EXPECT_OPERAND: &str = "an attribute, a range, a threshold or '('";

/// Parses policy text into a normalised [`Policy`].
pub(crate) fn parse(text: &str) -> Result<Policy, PolicyError> {
    if text.len() > MAX_POLICY_LEN {
        return Err(PolicyError::TooLong { len: text.len(), max: MAX_POLICY_LEN });
    }
    let mut parser = Parser { tokens: tokenize(text)?, pos: 0, nesting: 0, rows: 0 };
    let parsed = parser.parse_or()?;
    if let Some(token) = parser.peek() {
        return Err(syntax(token, "'and', 'or' or the end of the policy"));
    }
    // The parser enforces every limit with a position already; this is a cheap guard that its
    // output always satisfies what compilation relies on.
    parsed.policy.validate()?;
    Ok(parsed.policy)
}

/// A parsed sub-policy with its gate depth and the byte offset where it starts.
struct Parsed {
    policy: Policy,
    depth: usize,
    start: usize,
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    /// Index of the next unread token.
    pos: usize,
    /// Currently open parentheses.
    nesting: usize,
    /// Leaves (LSSS rows) so far.
    rows: usize,
}

fn syntax(token: Token<'_>, expected: &'static str) -> PolicyError {
    PolicyError::Syntax { position: token.position, expected, found: excerpt(token.text) }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    fn peek_second(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos + 1).copied()
    }

    /// Consumes the next token, which must be of `kind`.
    fn expect(&mut self, kind: TokenKind, expected: &'static str) -> Result<Token<'a>, PolicyError> {
        match self.peek() {
            Some(token) if token.kind == kind => {
                self.pos += 1;
                Ok(token)
            }
            Some(token) => Err(syntax(token, expected)),
            None => Err(PolicyError::UnexpectedEnd { expected }),
        }
    }

    /// Consumes an identifier of `kind` and returns it lower-cased. The lexer guarantees the
    /// character set, so only the length can be wrong here.
    fn identifier(&mut self, kind: &'static str) -> Result<String, PolicyError> {
        let expected = match kind {
            "name" => "a name",
            "value" => "an attribute value",
            _ => "an authority",
        };
        let token = self.expect(TokenKind::Word, expected)?;
        if token.text.len() > max_identifier_len(kind) {
            let expected = match kind {
                "name" => "a name of at most 64 bytes",
                "value" => "an attribute value of at most 128 bytes",
                _ => "an authority of at most 64 bytes",
            };
            return Err(syntax(token, expected));
        }
        Ok(token.text.to_ascii_lowercase())
    }

    /// Consumes a number (integer or date) that must be a valid range bound.
    fn bound(&mut self) -> Result<(u64, bool), PolicyError> {
        let token = self.expect(TokenKind::Word, "a number or a YYYY-MM-DD date")?;
        let (value, is_date) = parse_number_at(token.text, token.position)?;
        let max = segtree::max_value(DEFAULT_WIDTH);
        if value > max {
            return Err(PolicyError::OutOfRange { position: Some(token.position), value, max });
        }
        Ok((value, is_date))
    }

    /// Opens a parenthesis at `position`, enforcing the nesting limit.
    fn enter(&mut self, position: usize) -> Result<(), PolicyError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(PolicyError::TooDeep { position: Some(position), max: MAX_DEPTH });
        }
        Ok(())
    }

    /// Accounts for `rows` LSSS rows of a leaf at `position`, enforcing the row limit.
    fn add_rows(&mut self, rows: usize, position: usize) -> Result<(), PolicyError> {
        self.rows = self.rows.saturating_add(rows);
        if self.rows > MAX_ROWS {
            return Err(PolicyError::TooManyRows { position: Some(position), max: MAX_ROWS });
        }
        Ok(())
    }

    /// `or := and ("or" and)*`
    fn parse_or(&mut self) -> Result<Parsed, PolicyError> {
        let first = self.parse_and()?;
        let mut items = vec![first];
        while self.peek().is_some_and(|t| t.is_keyword("or")) {
            self.pos += 1;
            items.push(self.parse_and()?);
        }
        combine(items, false)
    }

    /// `and := unary ("and" unary)*`
    fn parse_and(&mut self) -> Result<Parsed, PolicyError> {
        let first = self.parse_unary()?;
        let mut items = vec![first];
        while self.peek().is_some_and(|t| t.is_keyword("and")) {
            self.pos += 1;
            items.push(self.parse_unary()?);
        }
        combine(items, true)
    }

    /// `unary := "(" policy ")" | threshold | range | attr`, told apart by the second token.
    fn parse_unary(&mut self) -> Result<Parsed, PolicyError> {
        let Some(token) = self.peek() else {
            return Err(PolicyError::UnexpectedEnd { expected: EXPECT_OPERAND });
        };
        match token.kind {
            TokenKind::LParen => {
                self.pos += 1;
                self.enter(token.position)?;
                let inner = self.parse_or()?;
                self.expect(TokenKind::RParen, "'and', 'or' or ')'")?;
                self.nesting -= 1;
                Ok(Parsed { start: token.position, ..inner })
            }
            TokenKind::Word => match self.peek_second() {
                Some(next) if next.kind == TokenKind::Colon => self.parse_attr(),
                Some(next) if next.kind == TokenKind::At => self.parse_range(),
                Some(next) if next.is_keyword("of") => self.parse_threshold(),
                // A keyword here (`a and or b`) is a missing operand, not a bad attribute.
                _ if ["and", "or", "of", "in"].iter().any(|k| token.is_keyword(k)) => {
                    Err(syntax(token, EXPECT_OPERAND))
                }
                Some(next) => Err(syntax(next, "':' (attribute), '@' (range) or 'of' (threshold)")),
                None => Err(PolicyError::UnexpectedEnd {
                    expected: "':' (attribute), '@' (range) or 'of' (threshold)",
                }),
            },
            _ => Err(syntax(token, EXPECT_OPERAND)),
        }
    }

    /// `attr := NAME ":" VALUE "@" AUTHORITY`
    fn parse_attr(&mut self) -> Result<Parsed, PolicyError> {
        let start = self.peek().map_or(0, |t| t.position);
        let name = self.identifier("name")?;
        self.expect(TokenKind::Colon, "':'")?;
        let value = self.identifier("value")?;
        self.expect(TokenKind::At, "'@' and an authority")?;
        let authority = self.identifier("authority")?;
        self.add_rows(1, start)?;
        let attribute = Attribute::from_validated(name, value, authority);
        Ok(Parsed { policy: Policy::Attr(attribute), depth: 0, start })
    }

    /// `range := NAME "@" AUTHORITY ("in" "[" NUM "," NUM "]" | ("<"|"<="|">"|">=") NUM)`
    fn parse_range(&mut self) -> Result<Parsed, PolicyError> {
        const EXPECT_COMPARISON: &str = "'in', '<', '<=', '>' or '>='";
        let start = self.peek().map_or(0, |t| t.position);
        let name = self.identifier("name")?;
        self.expect(TokenKind::At, "'@'")?;
        let authority = self.identifier("authority")?;
        let Some(op) = self.peek() else {
            return Err(PolicyError::UnexpectedEnd { expected: EXPECT_COMPARISON });
        };
        self.pos += 1;
        let max = segtree::max_value(DEFAULT_WIDTH);
        let empty = PolicyError::EmptyRange { position: Some(start) };
        // Normalise every form to an inclusive interval [low, high].
        let (low, high, dates) = match op.kind {
            TokenKind::Word if op.is_keyword("in") => {
                self.expect(TokenKind::LBracket, "'['")?;
                let (low, low_is_date) = self.bound()?;
                self.expect(TokenKind::Comma, "','")?;
                let (high, high_is_date) = self.bound()?;
                self.expect(TokenKind::RBracket, "']'")?;
                (low, high, low_is_date || high_is_date)
            }
            TokenKind::Lt => {
                let (n, is_date) = self.bound()?;
                (0, n.checked_sub(1).ok_or(empty.clone())?, is_date)
            }
            TokenKind::Le => {
                let (n, is_date) = self.bound()?;
                (0, n, is_date)
            }
            TokenKind::Gt => {
                let (n, is_date) = self.bound()?;
                (n.checked_add(1).filter(|l| *l <= max).ok_or(empty.clone())?, max, is_date)
            }
            TokenKind::Ge => {
                let (n, is_date) = self.bound()?;
                (n, max, is_date)
            }
            _ => return Err(syntax(op, EXPECT_COMPARISON)),
        };
        if low > high {
            return Err(empty);
        }
        let range = RangePolicy::new(&name, &authority, low, high, dates)?;
        self.add_rows(range.cover().len(), start)?;
        Ok(Parsed { policy: Policy::Range(range), depth: 0, start })
    }

    /// `threshold := INT "of" "(" policy ("," policy)+ ")"`
    fn parse_threshold(&mut self) -> Result<Parsed, PolicyError> {
        let k_token = self.expect(TokenKind::Word, "a threshold count")?;
        let invalid =
            || PolicyError::InvalidNumber { position: k_token.position, text: excerpt(k_token.text) };
        let k = match parse_number_at(k_token.text, k_token.position) {
            Ok((k, false)) => usize::try_from(k).unwrap_or(usize::MAX),
            Ok((_, true)) | Err(PolicyError::InvalidDate { .. }) => return Err(invalid()),
            Err(e) => return Err(e),
        };
        self.pos += 1; // "of", checked by the caller's lookahead
        let open = self.expect(TokenKind::LParen, "'('")?;
        self.enter(open.position)?;
        let mut children = vec![self.parse_or()?];
        loop {
            match self.peek() {
                Some(t) if t.kind == TokenKind::Comma => {
                    self.pos += 1;
                    children.push(self.parse_or()?);
                }
                // The grammar wants at least two children: `1 of (a)` is just `a`.
                Some(t) if t.kind == TokenKind::RParen && children.len() >= 2 => {
                    self.pos += 1;
                    break;
                }
                Some(t) if t.kind == TokenKind::RParen => return Err(syntax(t, "','")),
                Some(t) => return Err(syntax(t, "'and', 'or', ',' or ')'")),
                None => return Err(PolicyError::UnexpectedEnd { expected: "',' or ')'" }),
            }
        }
        self.nesting -= 1;
        let n = children.len();
        if k == 0 || k > n || n > MAX_THRESHOLD_CHILDREN {
            return Err(PolicyError::Threshold { position: Some(k_token.position), k, n });
        }
        let depth = 1 + children.iter().map(|c| c.depth).max().unwrap_or(0);
        check_depth(depth, k_token.position)?;
        let children = children.into_iter().map(|c| c.policy).collect();
        Ok(Parsed { policy: Policy::Threshold { k, children }, depth, start: k_token.position })
    }
}

fn check_depth(depth: usize, position: usize) -> Result<(), PolicyError> {
    if depth > MAX_DEPTH {
        return Err(PolicyError::TooDeep { position: Some(position), max: MAX_DEPTH });
    }
    Ok(())
}

/// Joins the operands of one `and`/`or` chain into a flattened gate, tracking its depth: a
/// child of the same kind is merged into the gate, so it contributes its own children's depth.
fn combine(mut items: Vec<Parsed>, is_and: bool) -> Result<Parsed, PolicyError> {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return Ok(only);
        }
    }
    let start = items.first().map_or(0, |p| p.start);
    let child_depth = items
        .iter()
        .map(|item| match (&item.policy, is_and) {
            (Policy::And(_), true) | (Policy::Or(_), false) => item.depth.saturating_sub(1),
            _ => item.depth,
        })
        .max()
        .unwrap_or(0);
    let depth = child_depth + 1;
    check_depth(depth, start)?;
    let children = items.into_iter().map(|item| item.policy).collect();
    let policy = if is_and { Policy::and(children) } else { Policy::or(children) };
    Ok(Parsed { policy, depth, start })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RangePolicy;

    fn attr(s: &str) -> Policy {
        Policy::Attr(s.parse().unwrap())
    }

    fn range(name: &str, authority: &str, low: u64, high: u64, dates: bool) -> Policy {
        Policy::Range(RangePolicy::new(name, authority, low, high, dates).unwrap())
    }

    fn syntax(position: usize, expected: &'static str, found: &str) -> PolicyError {
        PolicyError::Syntax { position, expected, found: found.into() }
    }

    const END: &str = "'and', 'or' or the end of the policy";
    const AFTER_WORD: &str = "':' (attribute), '@' (range) or 'of' (threshold)";
    const COMPARISON: &str = "'in', '<', '<=', '>' or '>='";
    const CLOSE: &str = "'and', 'or' or ')'";

    #[test]
    fn parses_a_single_attribute_lower_cased() {
        assert_eq!(Policy::parse("Purpose:Current@SalesForce").unwrap(), attr("purpose:current@salesforce"));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            Policy::parse("a:x@h or b:x@h and c:x@h").unwrap(),
            Policy::Or(vec![attr("a:x@h"), Policy::And(vec![attr("b:x@h"), attr("c:x@h")])])
        );
        assert_eq!(
            Policy::parse("a:x@h and b:x@h or c:x@h").unwrap(),
            Policy::Or(vec![Policy::And(vec![attr("a:x@h"), attr("b:x@h")]), attr("c:x@h")])
        );
    }

    #[test]
    fn flattens_nested_gates_of_the_same_kind() {
        let flat = Policy::And(vec![attr("a:x@h"), attr("b:x@h"), attr("c:x@h")]);
        assert_eq!(Policy::parse("a:x@h and (b:x@h and c:x@h)").unwrap(), flat);
        assert_eq!(Policy::parse("(a:x@h and b:x@h) and c:x@h").unwrap(), flat);
        assert_eq!(Policy::parse("((a:x@h and ((b:x@h))) and c:x@h)").unwrap(), flat);
        let or = Policy::parse("a:x@h or (b:x@h or c:x@h)").unwrap();
        assert_eq!(or, Policy::Or(vec![attr("a:x@h"), attr("b:x@h"), attr("c:x@h")]));
    }

    #[test]
    fn keywords_are_case_insensitive_and_contextual() {
        assert_eq!(
            Policy::parse("a:x@h AND b:x@h Or c:x@h").unwrap(),
            Policy::parse("a:x@h and b:x@h or c:x@h").unwrap()
        );
        assert_eq!(
            Policy::parse("2 OF (a:x@h, b:x@h)").unwrap(),
            Policy::Threshold { k: 2, children: vec![attr("a:x@h"), attr("b:x@h")] }
        );
        assert_eq!(Policy::parse("t@h IN [1, 2]").unwrap(), range("t", "h", 1, 2, false));
        // Keywords are only keywords where the grammar allows one.
        assert_eq!(Policy::parse("in:or@and").unwrap(), attr("in:or@and"));
        assert_eq!(Policy::parse("and@of in [1, 2]").unwrap(), range("and", "of", 1, 2, false));
        assert_eq!(
            Policy::parse("of:and@or and or:of@in").unwrap(),
            Policy::And(vec![attr("of:and@or"), attr("or:of@in")])
        );
    }

    #[test]
    fn normalises_comparisons_to_inclusive_ranges() {
        for (text, low, high) in [
            ("x@a < 10", 0, 9),
            ("x@a <= 10", 0, 10),
            ("x@a > 5", 6, 65_535),
            ("x@a >= 5", 5, 65_535),
            ("x@a in [3, 7]", 3, 7),
            ("x@a in [7, 7]", 7, 7),
            ("x@a < 1", 0, 0),
            ("x@a > 65534", 65_535, 65_535),
            ("x@a <= 65535", 0, 65_535),
        ] {
            assert_eq!(Policy::parse(text).unwrap(), range("x", "a", low, high, false), "{text}");
        }
    }

    #[test]
    fn parses_date_bounds_and_prints_them_back_as_dates() {
        let p = Policy::parse("access_time@telekom in [2026-11-23, 2026-12-22]").unwrap();
        let Policy::Range(r) = &p else { panic!("{p:?}") };
        assert_eq!((r.low(), r.high(), r.is_date()), (20_780, 20_809, true));
        assert_eq!(p.to_string(), "access_time@telekom in [2026-11-23, 2026-12-22]");
        let p = Policy::parse("access_time@telekom >= 2026-11-23").unwrap();
        assert_eq!(p.to_string(), "access_time@telekom in [2026-11-23, 2149-06-06]");
        let p = Policy::parse("access_time@telekom < 1970-01-02").unwrap();
        assert_eq!(p.to_string(), "access_time@telekom in [1970-01-01, 1970-01-01]");
    }

    #[test]
    fn accepts_free_whitespace_and_redundant_parentheses() {
        assert_eq!(
            Policy::parse(" \t( ( a : x @ h ) )\n and\r\nb:x@h ").unwrap(),
            Policy::parse("a:x@h and b:x@h").unwrap()
        );
    }

    #[test]
    fn parses_nested_thresholds() {
        let p = Policy::parse("2 of (a:x@h, b:x@h and c:x@h, 1 of (d:x@h, e:x@h or f:x@h))").unwrap();
        assert_eq!(
            p,
            Policy::Threshold {
                k: 2,
                children: vec![
                    attr("a:x@h"),
                    Policy::And(vec![attr("b:x@h"), attr("c:x@h")]),
                    Policy::Threshold {
                        k: 1,
                        children: vec![attr("d:x@h"), Policy::Or(vec![attr("e:x@h"), attr("f:x@h")])]
                    },
                ]
            }
        );
    }

    /// Bad policies and the exact error each must produce.
    fn bad_policies() -> Vec<(&'static str, PolicyError)> {
        use PolicyError::*;
        vec![
            ("", UnexpectedEnd { expected: EXPECT_OPERAND }),
            ("  \n ", UnexpectedEnd { expected: EXPECT_OPERAND }),
            ("(a:b@c", UnexpectedEnd { expected: CLOSE }),
            ("a:b@c)", syntax(5, END, ")")),
            ("a:b@c and", UnexpectedEnd { expected: EXPECT_OPERAND }),
            ("a:b@c and or d:e@f", syntax(10, EXPECT_OPERAND, "or")),
            ("a:b@c or and", syntax(9, EXPECT_OPERAND, "and")),
            ("and a:b@c", syntax(0, EXPECT_OPERAND, "and")),
            ("a:b@c d:e@f", syntax(6, END, "d")),
            ("a:b", UnexpectedEnd { expected: "'@' and an authority" }),
            ("a:b@", UnexpectedEnd { expected: "an authority" }),
            ("a:@c", syntax(2, "an attribute value", "@")),
            ("a::b@c", syntax(2, "an attribute value", ":")),
            ("a:b@c@d", syntax(5, END, "@")),
            ("a:b:c@d", syntax(3, "'@' and an authority", ":")),
            ("a", UnexpectedEnd { expected: AFTER_WORD }),
            ("a b", syntax(2, AFTER_WORD, "b")),
            (")", syntax(0, EXPECT_OPERAND, ")")),
            ("()", syntax(1, EXPECT_OPERAND, ")")),
            ("a:b@c and (d:e@f or g:h@i", UnexpectedEnd { expected: CLOSE }),
            ("a:b@c and d:e@f)", syntax(15, END, ")")),
            ("(a:b@c or d:e@f]", syntax(15, CLOSE, "]")),
            ("x@a < 0", EmptyRange { position: Some(0) }),
            ("x@a in [5, 3]", EmptyRange { position: Some(0) }),
            ("a:b@c and x@a > 65535", EmptyRange { position: Some(10) }),
            ("x@a <= 65536", OutOfRange { position: Some(7), value: 65_536, max: 65_535 }),
            (
                "x@a in [0, 99999999999999999999]",
                InvalidNumber { position: 11, text: "99999999999999999999".into() },
            ),
            ("x@a in [2026-02-30, 2026-03-01]", InvalidDate { position: 8, text: "2026-02-30".into() }),
            ("x@a >= 1969-12-31", InvalidDate { position: 7, text: "1969-12-31".into() }),
            ("x@a < ten", InvalidNumber { position: 6, text: "ten".into() }),
            ("x@a < -1", InvalidNumber { position: 6, text: "-1".into() }),
            ("x@a < 2026-1-1", InvalidNumber { position: 6, text: "2026-1-1".into() }),
            ("x@a 3", syntax(4, COMPARISON, "3")),
            ("x@a", UnexpectedEnd { expected: COMPARISON }),
            ("x@a <", UnexpectedEnd { expected: "a number or a YYYY-MM-DD date" }),
            ("x@a in 3, 4]", syntax(7, "'['", "3")),
            ("x@a in [3 4]", syntax(10, "','", "4")),
            ("x@a in [3, 4", UnexpectedEnd { expected: "']'" }),
            ("x@a in [3, 4)", syntax(12, "']'", ")")),
            ("x@a:b@c", syntax(3, COMPARISON, ":")),
            ("0 of (a:b@c, d:e@f)", Threshold { position: Some(0), k: 0, n: 2 }),
            ("3 of (a:b@c, d:e@f)", Threshold { position: Some(0), k: 3, n: 2 }),
            ("1 of (a:b@c)", syntax(11, "','", ")")),
            ("2 of a:b@c, d:e@f", syntax(5, "'('", "a")),
            ("2 of ()", syntax(6, EXPECT_OPERAND, ")")),
            ("2 of (a:b@c, d:e@f", UnexpectedEnd { expected: "',' or ')'" }),
            ("2 of (a:b@c, d:e@f,)", syntax(19, EXPECT_OPERAND, ")")),
            ("2 of (a:b@c d:e@f)", syntax(12, "'and', 'or', ',' or ')'", "d")),
            ("two of (a:b@c, d:e@f)", InvalidNumber { position: 0, text: "two".into() }),
            ("2026-01-01 of (a:b@c, d:e@f)", InvalidNumber { position: 0, text: "2026-01-01".into() }),
            ("a:b@c; d:e@f", syntax(5, "a name, number, keyword or one of ( ) [ ] , : @ < <= > >=", ";")),
            ("x@a = 3", syntax(4, "a name, number, keyword or one of ( ) [ ] , : @ < <= > >=", "=")),
            (
                "a:b@c and \"d\"",
                syntax(10, "a name, number, keyword or one of ( ) [ ] , : @ < <= > >=", "\""),
            ),
        ]
    }

    #[test]
    fn rejects_each_bad_policy_with_position_and_expectation() {
        let table = bad_policies();
        assert!(table.len() >= 25);
        for (text, expected) in table {
            assert_eq!(Policy::parse(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn rejects_unbalanced_parenthesis() {
        assert_eq!(Policy::parse("((a:b@c)"), Err(PolicyError::UnexpectedEnd { expected: CLOSE }));
        assert_eq!(Policy::parse("(a:b@c))"), Err(syntax(7, END, ")")));
    }

    #[test]
    fn rejects_overlong_identifiers_at_their_position() {
        let value = "v".repeat(129);
        let err = Policy::parse(&format!("a:{value}@c")).unwrap_err();
        assert!(matches!(
            err,
            PolicyError::Syntax { position: 2, expected: "an attribute value of at most 128 bytes", .. }
        ));
        let name = "n".repeat(65);
        assert!(matches!(
            Policy::parse(&format!("{name}:v@c")),
            Err(PolicyError::Syntax { position: 0, expected: "a name of at most 64 bytes", .. })
        ));
        let authority = "h".repeat(65);
        assert!(matches!(
            Policy::parse(&format!("x@{authority} < 3")),
            Err(PolicyError::Syntax { position: 2, expected: "an authority of at most 64 bytes", .. })
        ));
        // The limits themselves are fine.
        assert!(Policy::parse(&format!("{}:{}@{}", "n".repeat(64), "v".repeat(128), "h".repeat(64))).is_ok());
    }

    #[test]
    fn rejects_thresholds_with_more_than_64_children() {
        let children = vec!["a:b@c"; 65].join(", ");
        assert_eq!(
            Policy::parse(&format!("1 of ({children})")),
            Err(PolicyError::Threshold { position: Some(0), k: 1, n: 65 })
        );
        let children = vec!["a:b@c"; 64].join(", ");
        assert!(Policy::parse(&format!("64 of ({children})")).is_ok());
    }

    #[test]
    fn rejects_text_longer_than_16_kib() {
        let text = vec!["a:b@c"; 3000].join(" or ");
        assert_eq!(Policy::parse(&text), Err(PolicyError::TooLong { len: text.len(), max: MAX_POLICY_LEN }));
    }

    #[test]
    fn rejects_parentheses_nested_deeper_than_32() {
        let ok = format!("{}a:b@c{}", "(".repeat(32), ")".repeat(32));
        assert!(Policy::parse(&ok).is_ok());
        let deep = format!("{}a:b@c{}", "(".repeat(33), ")".repeat(33));
        assert_eq!(Policy::parse(&deep), Err(PolicyError::TooDeep { position: Some(32), max: 32 }));
        // Far deeper input fails the same way, without exhausting the stack.
        let hostile = "(".repeat(MAX_POLICY_LEN);
        assert!(matches!(Policy::parse(&hostile), Err(PolicyError::TooDeep { .. })));
    }

    /// `gates` alternating and/or gates, each wrapping the next in parentheses.
    fn alternating(gates: usize) -> String {
        let mut text = "a:b@c or a:b@c".to_owned();
        for i in 1..gates {
            let op = if i % 2 == 1 { "and" } else { "or" };
            text = format!("a:b@c {op} ({text})");
        }
        text
    }

    #[test]
    fn rejects_gates_nested_deeper_than_32() {
        let ok = Policy::parse(&alternating(32)).unwrap();
        assert_eq!(ok.depth(), 32);
        assert_eq!(Policy::parse(&ok.to_string()).unwrap(), ok);
        // 33 gates need only 32 parentheses, so the gate depth check is what fires.
        assert_eq!(Policy::parse(&alternating(33)), Err(PolicyError::TooDeep { position: Some(0), max: 32 }));
    }

    #[test]
    fn rejects_more_than_512_rows() {
        let ok = vec!["a:b@c"; 512].join(" or ");
        assert_eq!(Policy::parse(&ok).unwrap().row_count(), 512);
        let too_many = vec!["a:b@c"; 513].join(" or ");
        assert_eq!(
            Policy::parse(&too_many),
            Err(PolicyError::TooManyRows { position: Some(512 * 9), max: 512 })
        );
        // Ranges count one row per cover node: [1, 65534] needs 30.
        let ranges = vec!["x@a in [1, 65534]"; 18].join(" or ");
        assert_eq!(
            Policy::parse(&ranges),
            Err(PolicyError::TooManyRows { position: Some(17 * 21), max: 512 })
        );
    }

    #[test]
    fn error_messages_read_naturally() {
        let err = Policy::parse("2 of (a:b@c d:e@f)").unwrap_err();
        assert_eq!(err.to_string(), "at byte 12: expected 'and', 'or', ',' or ')' but found 'd'");
        let err = Policy::parse("x@a in [2026-02-30, 2026-03-01]").unwrap_err();
        assert_eq!(err.to_string(), "at byte 8: '2026-02-30' is not a valid date on or after 1970-01-01");
    }
}
