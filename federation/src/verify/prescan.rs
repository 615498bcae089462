//! The pre-scan: size limit, DOCTYPE, encoding and well-formedness, read with quick-xml (no
//! entity expansion, no network) before libxml sees the document.

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

use super::ValidationError;
use crate::assertion::{NS_ASSERTION, NS_DSIG, NS_PROTOCOL};

/// The root element a document must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Root {
    Assertion,
    Response,
}

/// What the pre-scan learnt from an untrusted document.
pub(super) struct Prescan {
    pub(super) root: Option<Root>,
    /// The root element's `ID`.
    pub(super) root_id: Option<String>,
    /// The `ID`s of the `saml:Assertion` children of the root.
    pub(super) child_assertion_ids: Vec<Option<String>>,
    pub(super) claimed_issuer: Option<String>,
    pub(super) signatures: usize,
    pub(super) weak_algorithm: bool,
    /// The `Value`s of the top-level `samlp:Status/samlp:StatusCode` of a Response root (one
    /// expected; several are refused by the caller).
    pub(super) status_codes: Vec<Option<String>>,
}

fn is(ns: &ResolveResult<'_>, local: &[u8], want_ns: &str, want_local: &str) -> bool {
    matches!(ns, ResolveResult::Bound(Namespace(n)) if *n == want_ns.as_bytes())
        && local == want_local.as_bytes()
}

/// The unqualified `ID` attribute of an element.
fn id_attribute(start: &quick_xml::events::BytesStart<'_>) -> Result<Option<String>, ValidationError> {
    plain_attribute(start, b"ID")
}

/// The unqualified attribute `name` of an element.
fn plain_attribute(
    start: &quick_xml::events::BytesStart<'_>,
    name: &[u8],
) -> Result<Option<String>, ValidationError> {
    for a in start.attributes().with_checks(true) {
        let a = a.map_err(|_| ValidationError::Malformed("attribute"))?;
        if a.key.as_ref() == name {
            let v = a.unescape_value().map_err(|_| ValidationError::Malformed("attribute"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Refuses an element carrying a prefixed attribute whose local name is `ID` (`foo:ID`):
/// libxmlsec resolves a reference by the first attribute whose local name is `ID`, in any
/// namespace, while this pre-scan (and samael) read the unprefixed one. Two readers must
/// never disagree on which element an `ID` names.
fn refuse_namespaced_id(start: &quick_xml::events::BytesStart<'_>) -> Result<(), ValidationError> {
    for a in start.attributes().with_checks(true) {
        let a = a.map_err(|_| ValidationError::Malformed("attribute"))?;
        if a.key.local_name().as_ref() == b"ID" && a.key.as_ref() != b"ID" {
            return Err(ValidationError::Malformed("an attribute named ID has a namespace prefix"));
        }
    }
    Ok(())
}

/// Size limit, DOCTYPE, encoding and well-formedness, with quick-xml (no entity expansion, no
/// network): nothing reaches libxml before this passes.
pub(super) fn prescan(xml: &str, max_bytes: usize) -> Result<Prescan, ValidationError> {
    if xml.len() > max_bytes {
        return Err(ValidationError::TooLarge { limit: max_bytes });
    }
    crate::xml::check_utf8_xml_text(xml)
        .map_err(|_| ValidationError::Malformed("the encoding must be UTF-8"))?;
    let mut reader = NsReader::from_str(xml);
    let mut out = Prescan {
        root: None,
        root_id: None,
        child_assertion_ids: Vec::new(),
        claimed_issuer: None,
        signatures: 0,
        weak_algorithm: false,
        status_codes: Vec::new(),
    };
    let mut depth = 0usize;
    let mut in_issuer = false;
    // Inside the Response's top-level samlp:Status (depth 1).
    let mut in_status = false;
    let mut roots = 0usize;
    loop {
        let (ns, event) =
            reader.read_resolved_event().map_err(|_| ValidationError::Malformed("not well-formed XML"))?;
        match event {
            Event::DocType(_) => return Err(ValidationError::Doctype),
            Event::Decl(d) => {
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|_| ValidationError::Malformed("XML declaration"))?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err(ValidationError::Malformed("the encoding must be UTF-8"));
                    }
                }
            }
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(event, Event::Empty(_));
                let local = s.local_name();
                let local = local.as_ref();
                refuse_namespaced_id(s)?;
                if out.root == Some(Root::Response) && depth == 1 && is(&ns, local, NS_PROTOCOL, "Status") {
                    in_status = !empty;
                    if empty {
                        out.status_codes.push(None);
                    }
                }
                if in_status && depth == 2 && is(&ns, local, NS_PROTOCOL, "StatusCode") {
                    out.status_codes.push(plain_attribute(s, b"Value")?);
                }
                if depth == 0 {
                    roots += 1;
                    out.root = if is(&ns, local, NS_ASSERTION, "Assertion") {
                        Some(Root::Assertion)
                    } else if is(&ns, local, NS_PROTOCOL, "Response") {
                        Some(Root::Response)
                    } else {
                        None
                    };
                    out.root_id = id_attribute(s)?;
                }
                if depth == 1 && is(&ns, local, NS_ASSERTION, "Assertion") {
                    out.child_assertion_ids.push(id_attribute(s)?);
                }
                if is(&ns, local, NS_DSIG, "Signature") {
                    out.signatures += 1;
                }
                if is(&ns, local, NS_DSIG, "SignatureMethod") || is(&ns, local, NS_DSIG, "DigestMethod") {
                    for a in s.attributes().with_checks(true) {
                        let a = a.map_err(|_| ValidationError::Malformed("attribute"))?;
                        if a.key.local_name().as_ref() == b"Algorithm" {
                            let v =
                                a.unescape_value().map_err(|_| ValidationError::Malformed("attribute"))?;
                            let v = v.to_ascii_lowercase();
                            if v.contains("sha1") || v.contains("md5") {
                                out.weak_algorithm = true;
                            }
                        }
                    }
                }
                if out.claimed_issuer.is_none() && !empty && is(&ns, local, NS_ASSERTION, "Issuer") {
                    in_issuer = true;
                    out.claimed_issuer = Some(String::new());
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                in_issuer = false;
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    in_status = false;
                }
            }
            Event::Text(t) if in_issuer => {
                let text = t.unescape().map_err(|_| ValidationError::Malformed("text"))?;
                if let Some(i) = out.claimed_issuer.as_mut() {
                    i.push_str(&text);
                }
            }
            Event::Text(t) if depth == 0 => {
                let text = t.unescape().map_err(|_| ValidationError::Malformed("text"))?;
                if !text.trim().is_empty() {
                    return Err(ValidationError::Malformed("text outside the root element"));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if roots != 1 || depth != 0 {
        return Err(ValidationError::Malformed("not exactly one root element"));
    }
    if let Some(i) = out.claimed_issuer.as_mut() {
        *i = i.trim().to_owned();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prescan_refuses_doctype_size_encoding_and_garbage() {
        let doctype = "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>";
        assert_eq!(prescan(doctype, 1000).err(), Some(ValidationError::Doctype));
        assert_eq!(prescan("<a/>", 3).err(), Some(ValidationError::TooLarge { limit: 3 }));
        let utf16 = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>";
        assert!(matches!(prescan(utf16, 1000), Err(ValidationError::Malformed(_))));
        for bad in ["", "garbage", "<a>", "<a/><b/>", "<a></b>", "x<a/>"] {
            assert!(matches!(prescan(bad, 1000), Err(ValidationError::Malformed(_))), "{bad}");
        }
    }
}
