//! Splits policy text into tokens, each with its byte position for error messages.

use super::error::excerpt;
use super::PolicyError;

/// What a token is. Words cover identifiers, numbers, dates and keywords alike: which one a
/// word is depends on where it appears, so the parser decides (keywords are contextual, which
/// lets an attribute be named `in` or a value be `or`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TokenKind {
    /// A run of `[A-Za-z0-9_.-]`.
    Word,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One token: its kind, its text and where it starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Token<'a> {
    pub(crate) kind: TokenKind,
    pub(crate) text: &'a str,
    /// Byte offset of the token's first character.
    pub(crate) position: usize,
}

impl Token<'_> {
    /// Whether this token is the keyword `keyword` (given in lower case), ignoring case.
    pub(crate) fn is_keyword(&self, keyword: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(keyword)
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Tokenises `text`. ASCII whitespace separates tokens and is otherwise ignored; any other
/// character outside the token alphabet is a syntax error at its position.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token<'_>>, PolicyError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while let Some(&b) = bytes.get(pos) {
        let start = pos;
        let kind = match b {
            b if b.is_ascii_whitespace() => {
                pos += 1;
                continue;
            }
            b if is_word_byte(b) => {
                while bytes.get(pos).copied().is_some_and(is_word_byte) {
                    pos += 1;
                }
                TokenKind::Word
            }
            b'<' | b'>' => {
                let or_equal = bytes.get(pos + 1) == Some(&b'=');
                pos += if or_equal { 2 } else { 1 };
                match (b, or_equal) {
                    (b'<', false) => TokenKind::Lt,
                    (b'<', true) => TokenKind::Le,
                    (_, false) => TokenKind::Gt,
                    (_, true) => TokenKind::Ge,
                }
            }
            _ => {
                pos += 1;
                match b {
                    b'(' => TokenKind::LParen,
                    b')' => TokenKind::RParen,
                    b'[' => TokenKind::LBracket,
                    b']' => TokenKind::RBracket,
                    b',' => TokenKind::Comma,
                    b':' => TokenKind::Colon,
                    b'@' => TokenKind::At,
                    _ => {
                        // Quote the whole (possibly multi-byte) character, not one byte of it.
                        let found = text
                            .get(start..)
                            .and_then(|rest| rest.chars().next())
                            .map(String::from)
                            .unwrap_or_default();
                        return Err(PolicyError::Syntax {
                            position: start,
                            expected: "a name, number, keyword or one of ( ) [ ] , : @ < <= > >=",
                            found: excerpt(&found),
                        });
                    }
                }
            }
        };
        // Token boundaries are ASCII bytes, so slicing here cannot split a character.
        let token_text = text.get(start..pos).unwrap_or_default();
        tokens.push(Token { kind, text: token_text, position: start });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(TokenKind, &str, usize)> {
        tokenize(text).unwrap().into_iter().map(|t| (t.kind, t.text, t.position)).collect()
    }

    #[test]
    fn splits_attributes_ranges_and_operators() {
        use TokenKind::*;
        assert_eq!(
            kinds("a:B@c AND(t@x<=2026-01-01)"),
            vec![
                (Word, "a", 0),
                (Colon, ":", 1),
                (Word, "B", 2),
                (At, "@", 3),
                (Word, "c", 4),
                (Word, "AND", 6),
                (LParen, "(", 9),
                (Word, "t", 10),
                (At, "@", 11),
                (Word, "x", 12),
                (Le, "<=", 13),
                (Word, "2026-01-01", 15),
                (RParen, ")", 25),
            ]
        );
        assert_eq!(
            kinds("<>>=[,]").into_iter().map(|t| t.0).collect::<Vec<_>>(),
            vec![Lt, Gt, Ge, LBracket, Comma, RBracket]
        );
    }

    #[test]
    fn keywords_match_case_insensitively() {
        let tokens = tokenize("Or oF").unwrap();
        assert!(tokens[0].is_keyword("or"));
        assert!(tokens[1].is_keyword("of"));
        assert!(!tokens[1].is_keyword("or"));
    }

    #[test]
    fn rejects_unknown_characters_with_their_position() {
        assert_eq!(
            tokenize("a:b@c é"),
            Err(PolicyError::Syntax {
                position: 6,
                expected: "a name, number, keyword or one of ( ) [ ] , : @ < <= > >=",
                found: "é".into()
            })
        );
        assert!(matches!(tokenize("a = b"), Err(PolicyError::Syntax { position: 2, .. })));
    }
}
