//! Reading a logout message with quick-xml (no entity expansion, no network): the pre-scan
//! that runs before libxml sees the text, and the fields of the message. The same reader
//! reads the signed pre-digest content after verification.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{LogoutError, MAX_SESSION_INDEXES};
use crate::assertion::{NS_ASSERTION, NS_DSIG, NS_PROTOCOL};

/// Which message the root element is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `samlp:LogoutRequest`.
    Request,
    /// `samlp:LogoutResponse`.
    Response,
}

/// Everything read from one document.
#[derive(Debug, Default)]
pub(super) struct Fields {
    pub(super) kind: Option<Kind>,
    pub(super) id: Option<String>,
    pub(super) version: Option<String>,
    pub(super) issue_instant: Option<String>,
    pub(super) destination: Option<String>,
    pub(super) not_on_or_after: Option<String>,
    pub(super) in_response_to: Option<String>,
    pub(super) issuer: Option<String>,
    pub(super) name_id: Option<String>,
    pub(super) encrypted_id: bool,
    pub(super) session_indexes: Vec<String>,
    /// `Status/StatusCode/@Value` and the nested one.
    pub(super) status: Option<String>,
    pub(super) second_status: Option<String>,
    pub(super) signatures: usize,
    pub(super) weak_algorithm: bool,
}

fn is(ns: &ResolveResult<'_>, local: &[u8], want_ns: &str, want_local: &str) -> bool {
    matches!(ns, ResolveResult::Bound(Namespace(n)) if *n == want_ns.as_bytes())
        && local == want_local.as_bytes()
}

fn attr(start: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, LogoutError> {
    let mut found = None;
    for a in start.attributes().with_checks(true) {
        let a = a.map_err(|_| LogoutError::Malformed("attribute"))?;
        // libxmlsec resolves a reference by any attribute whose local name is ID: a prefixed
        // one would let two readers disagree on which element an ID names.
        if a.key.local_name().as_ref() == b"ID" && a.key.as_ref() != b"ID" {
            return Err(LogoutError::Malformed("an attribute named ID has a namespace prefix"));
        }
        if a.key.as_ref() == name {
            found = Some(a.unescape_value().map_err(|_| LogoutError::Malformed("attribute"))?.into_owned());
        }
    }
    Ok(found)
}

/// Which text node is being collected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Text {
    None,
    Issuer,
    NameId,
    SessionIndex,
}

/// Reads `xml` (at most `max_bytes`): refuses DOCTYPE, encodings other than UTF-8, malformed
/// XML, more than one root, text outside it, and a root that is not a logout message.
pub(super) fn read(xml: &str, max_bytes: usize) -> Result<Fields, LogoutError> {
    if xml.len() > max_bytes {
        return Err(LogoutError::Malformed("too large"));
    }
    crate::xml::check_utf8_xml_text(xml).map_err(|_| LogoutError::Malformed("the encoding must be UTF-8"))?;
    let mut reader = NsReader::from_str(xml);
    let mut f = Fields::default();
    let mut depth = 0usize;
    let mut roots = 0usize;
    let mut text = Text::None;
    let mut buf = String::new();
    let mut in_status = false;
    loop {
        let (ns, event) =
            reader.read_resolved_event().map_err(|_| LogoutError::Malformed("not well-formed XML"))?;
        match event {
            Event::DocType(_) => return Err(LogoutError::Malformed("DOCTYPE is not allowed")),
            Event::Decl(d) => {
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|_| LogoutError::Malformed("XML declaration"))?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err(LogoutError::Malformed("the encoding must be UTF-8"));
                    }
                }
            }
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(event, Event::Empty(_));
                let local = s.local_name();
                let local = local.as_ref();
                let id = attr(s, b"ID")?;
                if depth == 0 {
                    roots += 1;
                    f.kind = if is(&ns, local, NS_PROTOCOL, "LogoutRequest") {
                        Some(Kind::Request)
                    } else if is(&ns, local, NS_PROTOCOL, "LogoutResponse") {
                        Some(Kind::Response)
                    } else {
                        return Err(LogoutError::Malformed(
                            "the root is not a LogoutRequest or LogoutResponse",
                        ));
                    };
                    f.id = id;
                    f.version = attr(s, b"Version")?;
                    f.issue_instant = attr(s, b"IssueInstant")?;
                    f.destination = attr(s, b"Destination")?;
                    f.not_on_or_after = attr(s, b"NotOnOrAfter")?;
                    f.in_response_to = attr(s, b"InResponseTo")?;
                } else if depth == 1 {
                    let seen = |v: &Option<String>| v.is_some();
                    text = Text::None;
                    if is(&ns, local, NS_ASSERTION, "Issuer") {
                        if seen(&f.issuer) {
                            return Err(LogoutError::Malformed("two Issuers"));
                        }
                        f.issuer = Some(String::new());
                        text = Text::Issuer;
                    } else if is(&ns, local, NS_ASSERTION, "NameID") {
                        if seen(&f.name_id) {
                            return Err(LogoutError::Malformed("two NameIDs"));
                        }
                        f.name_id = Some(String::new());
                        text = Text::NameId;
                    } else if is(&ns, local, NS_ASSERTION, "EncryptedID")
                        || is(&ns, local, NS_ASSERTION, "BaseID")
                    {
                        f.encrypted_id = true;
                    } else if is(&ns, local, NS_PROTOCOL, "SessionIndex") {
                        if f.session_indexes.len() >= MAX_SESSION_INDEXES {
                            return Err(LogoutError::Malformed("too many SessionIndexes"));
                        }
                        f.session_indexes.push(String::new());
                        text = Text::SessionIndex;
                    } else if is(&ns, local, NS_PROTOCOL, "Status") {
                        if f.status.is_some() || in_status {
                            return Err(LogoutError::Malformed("two Statuses"));
                        }
                        in_status = !empty;
                    }
                } else if in_status && is(&ns, local, NS_PROTOCOL, "StatusCode") {
                    let value = attr(s, b"Value")?.unwrap_or_default();
                    match depth {
                        2 if f.status.is_none() => f.status = Some(value),
                        3 if f.second_status.is_none() => f.second_status = Some(value),
                        2 | 3 => return Err(LogoutError::Malformed("two StatusCodes")),
                        _ => {}
                    }
                }
                if is(&ns, local, NS_DSIG, "Signature") {
                    f.signatures += 1;
                }
                if is(&ns, local, NS_DSIG, "SignatureMethod") || is(&ns, local, NS_DSIG, "DigestMethod") {
                    let alg = attr(s, b"Algorithm")?.unwrap_or_default().to_ascii_lowercase();
                    if alg.contains("sha1") || alg.contains("md5") {
                        f.weak_algorithm = true;
                    }
                }
                if empty {
                    text = Text::None;
                } else {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    in_status = false;
                    let value = std::mem::take(&mut buf).trim().to_owned();
                    match text {
                        Text::Issuer => f.issuer = Some(value),
                        Text::NameId => f.name_id = Some(value),
                        Text::SessionIndex => {
                            if let Some(last) = f.session_indexes.last_mut() {
                                *last = value;
                            }
                        }
                        Text::None => {}
                    }
                    text = Text::None;
                }
            }
            Event::Text(t) => {
                let t = t.unescape().map_err(|_| LogoutError::Malformed("text"))?;
                if depth == 0 && !t.trim().is_empty() {
                    return Err(LogoutError::Malformed("text outside the root element"));
                }
                if depth == 2 && text != Text::None {
                    buf.push_str(&t);
                }
            }
            Event::CData(_) if depth == 0 => {
                return Err(LogoutError::Malformed("text outside the root element"))
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if roots != 1 || depth != 0 {
        return Err(LogoutError::Malformed("not exactly one root element"));
    }
    Ok(f)
}

/// An `xs:dateTime` (UTC, RFC 3339) as Unix seconds.
pub(super) fn parse_time(s: &str) -> Result<i64, LogoutError> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| LogoutError::Malformed("a time is not an xs:dateTime"))
}
