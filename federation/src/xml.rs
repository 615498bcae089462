//! A small XML builder that escapes every attribute value and text node.
//!
//! samael 0.0.22 writes attribute values, NameID, Issuer and Audience without escaping
//! (DESIGN.md §9): a value containing `</saml2:AttributeValue>` would add elements to a signed
//! assertion. Everything we sign is built here instead, through quick-xml's escaping writer,
//! and characters XML 1.0 cannot carry at all are refused rather than written.

use std::io::Cursor;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// A value that cannot appear in an XML 1.0 document (a control character, say).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("the {0} contains a character XML cannot carry")]
pub struct XmlCharError(pub &'static str);

/// Whether `c` is a legal XML 1.0 character.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Checks that `value` can be written into XML.
pub fn check_chars(what: &'static str, value: &str) -> Result<(), XmlCharError> {
    if value.chars().all(is_xml_char) {
        Ok(())
    } else {
        Err(XmlCharError(what))
    }
}

/// Why untrusted bytes are not acceptable XML input.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum XmlEncodingError {
    /// A UTF-16 or UTF-32 byte-order mark, or bytes that are not UTF-8.
    #[error("the XML is not UTF-8")]
    NotUtf8,
    /// An XML declaration names an encoding other than UTF-8 (UTF-7, UTF-16, ISO-8859-1, …).
    #[error("the XML declaration names an encoding other than UTF-8")]
    OtherEncoding,
    /// A NUL character (UTF-16 text read as bytes looks like this).
    #[error("the XML contains a NUL character")]
    Nul,
}

/// Accepts only UTF-8 XML: valid UTF-8 (an optional UTF-8 byte-order mark is allowed, no other
/// one), no NUL character, and every `<?xml …?>` declaration either without `encoding` or with
/// `encoding="UTF-8"` (any case). Returns the text.
///
/// # Security
/// Filters that look at the text (the DOCTYPE filter, the pre-scan) must see what libxml will
/// parse. libxml honours a declared encoding: `encoding="UTF-7"` lets `+ADw-!DOCTYPE` become
/// `<!DOCTYPE` *after* a byte-level filter looked. So nothing but UTF-8 gets that far.
pub fn check_utf8_xml(bytes: &[u8]) -> Result<&str, XmlEncodingError> {
    // UTF-32 BE/LE and UTF-16 BE/LE byte-order marks (UTF-32 LE starts like UTF-16 LE).
    const BOMS: [&[u8]; 3] = [b"\x00\x00\xFE\xFF", b"\xFE\xFF", b"\xFF\xFE"];
    if BOMS.iter().any(|b| bytes.starts_with(b)) {
        return Err(XmlEncodingError::NotUtf8);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| XmlEncodingError::NotUtf8)?;
    check_utf8_xml_text(text)?;
    Ok(text)
}

/// [`check_utf8_xml`] for text already known to be UTF-8: no NUL, no declaration of another
/// encoding.
pub fn check_utf8_xml_text(text: &str) -> Result<(), XmlEncodingError> {
    if text.contains('\0') {
        return Err(XmlEncodingError::Nul);
    }
    // Every XML declaration, wherever it is (libxml refuses one that is not first, but the
    // filter must not depend on that): `<?xml` followed by whitespace or `?`.
    let lower = text.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("<?xml") {
        let after = &rest[at + 5..];
        if after.starts_with(|c: char| c.is_ascii_whitespace() || c == '?') {
            let decl = after.find("?>").map_or(after, |end| &after[..end]);
            if let Some(enc) = decl_encoding(decl) {
                if enc != "utf-8" {
                    return Err(XmlEncodingError::OtherEncoding);
                }
            }
        }
        rest = after;
    }
    Ok(())
}

/// The (lower-cased) value of the `encoding` pseudo-attribute of a declaration's body; an
/// `encoding` that cannot be read counts as "not UTF-8".
fn decl_encoding(decl: &str) -> Option<&str> {
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..].trim_start();
    let Some(rest) = rest.strip_prefix('=') else { return Some("?") };
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
    let Some(q) = quote else { return Some("?") };
    let value = &rest[1..];
    Some(value.find(q).map_or("?", |end| &value[..end]))
}

/// An element tree builder; element names are our own constants, values are escaped.
pub struct XmlBuilder {
    writer: Writer<Cursor<Vec<u8>>>,
    stack: Vec<&'static str>,
}

impl Default for XmlBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlBuilder {
    /// An empty document with an XML declaration.
    pub fn new() -> Self {
        let mut writer = Writer::new(Cursor::new(Vec::new()));
        // Writing into a Vec cannot fail.
        let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        XmlBuilder { writer, stack: Vec::new() }
    }

    /// Opens `<name attr="value" …>`; every value is escaped.
    pub fn open(&mut self, name: &'static str, attrs: &[(&str, &str)]) -> &mut Self {
        let mut start = BytesStart::new(name);
        for (k, v) in attrs {
            start.push_attribute((*k, *v));
        }
        let _ = self.writer.write_event(Event::Start(start));
        self.stack.push(name);
        self
    }

    /// Writes `<name attr…/>`.
    pub fn empty(&mut self, name: &'static str, attrs: &[(&str, &str)]) -> &mut Self {
        let mut start = BytesStart::new(name);
        for (k, v) in attrs {
            start.push_attribute((*k, *v));
        }
        let _ = self.writer.write_event(Event::Empty(start));
        self
    }

    /// Writes escaped text.
    pub fn text(&mut self, text: &str) -> &mut Self {
        let _ = self.writer.write_event(Event::Text(BytesText::new(text)));
        self
    }

    /// Writes an element this crate built and signed itself, verbatim (its XML declaration,
    /// if any, dropped). Never for input from outside: nothing is escaped. The signed
    /// Assertion goes into the Response this way, so its bytes — and so its enveloped
    /// signature under exclusive C14N — are exactly what the signer produced.
    pub(crate) fn signed_element(&mut self, xml: &str) -> &mut Self {
        let body = match xml.trim_start().strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or("", |(_, after)| after),
            None => xml,
        };
        let _ = self.writer.write_event(Event::Text(BytesText::from_escaped(body.trim())));
        self
    }

    /// `<name attrs>text</name>`.
    pub fn leaf(&mut self, name: &'static str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.open(name, attrs).text(text).close()
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.stack.pop() {
            let _ = self.writer.write_event(Event::End(BytesEnd::new(name)));
        }
        self
    }

    /// The document, closing anything still open.
    pub fn finish(mut self) -> String {
        while !self.stack.is_empty() {
            self.close();
        }
        String::from_utf8(self.writer.into_inner().into_inner()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_utf8_xml_is_accepted() {
        assert!(check_utf8_xml(b"<a/>").is_ok());
        assert!(check_utf8_xml(b"\xEF\xBB\xBF<a/>").is_ok(), "the UTF-8 BOM is fine");
        assert!(check_utf8_xml(b"<?xml version='1.0' encoding='utf-8'?><a/>").is_ok());
        assert!(check_utf8_xml(b"<?xml version=\"1.0\"?><a/>").is_ok());
        for (bad, why) in [
            (
                &b"<?xml version=\"1.0\" encoding=\"UTF-7\"?>+ADw-!DOCTYPE x+AD4-<a/>"[..],
                XmlEncodingError::OtherEncoding,
            ),
            (b"<?xml version=\"1.0\" encoding = 'ISO-8859-1'?><a/>", XmlEncodingError::OtherEncoding),
            (b"<?xml version=\"1.0\" encoding=UTF-8?><a/>", XmlEncodingError::OtherEncoding),
            (b"<?XML version=\"1.0\" ENCODING=\"utf-16\"?><a/>", XmlEncodingError::OtherEncoding),
            (b" <?xml version=\"1.0\" encoding=\"UTF-7\"?><a/>", XmlEncodingError::OtherEncoding),
            (b"\xFF\xFE<\x00a\x00/\x00>\x00", XmlEncodingError::NotUtf8),
            (b"\xFE\xFF\x00<\x00a\x00/\x00>", XmlEncodingError::NotUtf8),
            (b"<\x00a\x00/\x00>\x00", XmlEncodingError::Nul),
            (b"<a>\xC3</a>", XmlEncodingError::NotUtf8),
        ] {
            assert_eq!(check_utf8_xml(bad).err(), Some(why), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn escapes_markup_in_text_and_attributes() {
        let mut b = XmlBuilder::new();
        b.open("a", &[("x", "\"><b y='1'>")]).text("</a><evil/>&amp;").close();
        let xml = b.finish();
        assert!(!xml.contains("<evil/>"));
        assert!(!xml.contains("<b "));
        assert!(xml.contains("&lt;/a&gt;&lt;evil/&gt;&amp;amp;"));
    }

    #[test]
    fn refuses_control_characters() {
        assert!(check_chars("uid", "bob\u{0}").is_err());
        assert!(check_chars("uid", "bob\u{1b}[31m").is_err());
        assert!(check_chars("uid", "bøb\tok").is_ok());
    }
}
