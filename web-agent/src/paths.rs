//! One canonical form for request paths (issue 14, item 1).
//!
//! The agent decides public paths, access rules and propagation prefixes on a path, and a
//! URL library then builds the backend URL from it. If the two read the path differently —
//! dot-segments resolved by one and not the other, `%2e` taken for `.`, `//` merged, `;`
//! parameters cut, a backslash taken for a slash — a request is decided on one path and
//! served from another (`/pub/../admin`). So every path is brought to one form **once**, the
//! decision is made on that form, and exactly that form is forwarded. What cannot be brought
//! to a form every backend reads the same way is refused (400).
//!
//! The rules, in order (RFC 3986 §6.2.2):
//!
//! - the path must start with `/` (origin-form; `*` and relative paths are refused);
//! - a percent-encoded *unreserved* character (`A-Z a-z 0-9 - . _ ~`) is decoded (they mean
//!   the same thing either way), the hex digits of every other encoding are upper-cased;
//! - refused in any form, raw or encoded: `\` (some servers take it for `/`), `;` (path
//!   parameters: Tomcat and Jetty cut `/admin;x` to `/admin`), NUL and other control
//!   characters; refused when encoded: `/` (`%2F`: a segment separator that is not one) and
//!   `%` (`%25`: a second decoding by the backend would see a new encoding);
//! - any other byte outside RFC 3986 `pchar` (`"`, `<`, `>`, `` ` ``, `{`, `}`, `|`, `^`,
//!   `[`, `]`, non-ASCII) is percent-encoded, as the URL library would do on the way out;
//! - after that, a `.` or `..` segment (dot-segments, `%2e` included) or an empty segment
//!   (`//`) anywhere but at the end is refused: browsers never send them, and removing them
//!   here while a backend merges or resolves them differently is the defect being fixed.
//!
//! Letter case is kept: paths are case-sensitive (RFC 3986 §6.2.2.1) and rules match them
//! byte for byte, so a backend that treats paths case-insensitively needs rules written for
//! that (docs/web-agent.md). The result is a fixpoint (`normalise(normalise(p)) == normalise(p)`)
//! and the `url` crate sends it unchanged.

/// Why a path was refused (shown on the 400 page; no request data in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request path is not in plain form: {0}")]
pub struct PathError(pub &'static str);

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Raw bytes kept as they are: unreserved, sub-delims without `;`, `:`, `@` and `/`.
fn plain(b: u8) -> bool {
    unreserved(b)
        || matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=')
        || matches!(b, b':' | b'@' | b'/')
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The canonical form of `path` (no query), or why it is refused. See the module docs.
pub fn normalise(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError("it must start with '/'"));
    }
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let value = match (bytes.get(i + 1).and_then(|&h| hex(h)), bytes.get(i + 2).and_then(|&l| hex(l)))
            {
                (Some(h), Some(l)) => h * 16 + l,
                _ => return Err(PathError("a '%' is not followed by two hex digits")),
            };
            match value {
                v if unreserved(v) => out.push(v as char),
                b'/' => return Err(PathError("an encoded '/'")),
                b'%' => return Err(PathError("an encoded '%'")),
                b'\\' => return Err(PathError("a backslash")),
                b';' => return Err(PathError("a ';'")),
                v if v < 0x20 || v == 0x7f => return Err(PathError("a control character")),
                v => out.push_str(&format!("%{v:02X}")),
            }
            i += 3;
            continue;
        }
        match b {
            b'\\' => return Err(PathError("a backslash")),
            b';' => return Err(PathError("a ';'")),
            b if b < 0x20 || b == 0x7f => return Err(PathError("a control character")),
            b if plain(b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
        i += 1;
    }
    let segments: Vec<&str> = out[1..].split('/').collect();
    let last = segments.len() - 1;
    for (n, seg) in segments.iter().enumerate() {
        if *seg == "." || *seg == ".." {
            return Err(PathError("a '.' or '..' segment"));
        }
        if seg.is_empty() && n != last {
            return Err(PathError("an empty segment ('//')"));
        }
    }
    Ok(out)
}

/// Records (at debug level, target `idaas_agent::decision`) the path an access decision was
/// made on: what operators compare with the backend's access log, and what the tests compare
/// with the path the backend received.
pub fn record_decision(route: &'static str, path: &str) {
    tracing::debug!(target: "idaas_agent::decision", route, path, "access decision");
}

/// Whether `path_and_query`'s path is already in canonical form (what a signed propagated
/// call must carry: the signature covers the exact text, so nothing may be rewritten).
pub fn is_canonical(path_and_query: &str) -> bool {
    let path = path_and_query.split('?').next().unwrap_or_default();
    normalise(path).is_ok_and(|p| p == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_kept() {
        for p in ["/", "/cart", "/cart/", "/a.b/c", "/a-b_c~d", "/x:y@z", "/%C3%BC", "/a+b=c,d!$&'()*"] {
            assert_eq!(normalise(p).as_deref(), Ok(p), "{p}");
        }
    }

    #[test]
    fn equivalent_forms_become_one() {
        assert_eq!(normalise("/%61dmin").as_deref(), Ok("/admin"));
        assert_eq!(normalise("/%7euser").as_deref(), Ok("/~user"));
        assert_eq!(normalise("/a%3fb").as_deref(), Ok("/a%3Fb"));
        assert_eq!(normalise("/ü").as_deref(), Ok("/%C3%BC"));
        assert_eq!(normalise("/{x}").as_deref(), Ok("/%7Bx%7D"));
        assert_eq!(normalise("/Admin").as_deref(), Ok("/Admin"), "case is kept");
    }

    #[test]
    fn what_backends_read_differently_is_refused() {
        for bad in [
            "",
            "*",
            "admin",
            "/x/../admin",
            "/pub/../admin",
            "/./admin",
            "/admin/.",
            "/x/..",
            "/x/%2e%2e/admin",
            "/x/%2E./admin",
            "/x/.%2e/admin",
            "/pub%2f..%2fadmin",
            "/pub%2Fadmin",
            "/pub\\..\\admin",
            "/pub%5c..%5cadmin",
            "/admin;x=1",
            "/pub/..;/admin",
            "/a%3bb",
            "//admin",
            "/pub//admin",
            "/a%00b",
            "/a\0b",
            "/a%0ab",
            "/a%2541",
            "/a%",
            "/a%4",
            "/a%zz",
        ] {
            assert!(normalise(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn canonical_means_unchanged() {
        assert!(is_canonical("/ship/42?x=../y"));
        assert!(!is_canonical("/%73hip"), "would be rewritten, so a signature over it is ambiguous");
        assert!(!is_canonical("/ship/../admin"));
    }
}
