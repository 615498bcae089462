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
