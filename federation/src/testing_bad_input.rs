//! Test support (feature `test-support`): one sweep of hostile input over every public
//! endpoint of a running service — empty, huge, wrongly typed and non-UTF-8 bodies, oversized
//! headers, cookies, credentials and queries — asserting a clean answer: never a 5xx, never a
//! hang, and a 4xx for every bad body. The home and visitor IdPs' edge tests share it, so a
//! variant added here is tried everywhere.
#![allow(clippy::panic)] // a failed sweep is a failed test

use reqwest::Method;

/// What a sweep sends, tailored to one service.
#[derive(Debug)]
pub struct BadInputSweep<'a> {
    /// `(method, path, takes a body)` of every public endpoint.
    pub endpoints: &'a [(Method, &'a str, bool)],
    /// A body in the service's own format, sent without a content type.
    pub untyped_body: &'a [u8],
    /// Bytes that are not UTF-8, sent as JSON and as a form.
    pub invalid_utf8: &'a [u8],
    /// Cookie names, each sent with a ~60 KiB value in one `Cookie` header.
    pub long_cookies: &'a [&'a str],
    /// Authorization schemes, each sent with a ~60 KiB credential.
    pub long_auth_schemes: &'a [&'a str],
    /// The two query parameters a ~60 KiB query fills (close to the longest URI the HTTP
    /// types represent, 64 KiB).
    pub long_query_params: [&'a str; 2],
    /// A query of percent-encoded bytes that are not UTF-8.
    pub invalid_utf8_query: &'a str,
}

/// One request shape: name, content type, body, extra header, query, whether it is a bad body.
struct Variant {
    name: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    header: Option<(&'static str, String)>,
    query: String,
    bad_body: bool,
}

impl BadInputSweep<'_> {
    fn variants(&self) -> Vec<Variant> {
        let long = "x".repeat(60 * 1024);
        let v = |name: &str, content_type, body: Vec<u8>, header, query: String, bad_body| Variant {
            name: name.to_owned(),
            content_type,
            body,
            header,
            query,
            bad_body,
        };
        let form = Some("application/x-www-form-urlencoded");
        let mut out = vec![
            v("empty body", Some("application/json"), Vec::new(), None, String::new(), true),
            v("empty form", form, Vec::new(), None, String::new(), true),
            v("huge body", form, vec![b'a'; 3 << 20], None, String::new(), true),
            v("wrong content type", Some("image/png"), b"\x89PNG\r\n".to_vec(), None, String::new(), true),
            v("no content type", None, self.untyped_body.to_vec(), None, String::new(), true),
            v(
                "invalid UTF-8 JSON",
                Some("application/json"),
                self.invalid_utf8.to_vec(),
                None,
                String::new(),
                true,
            ),
            v("invalid UTF-8 form", form, self.invalid_utf8.to_vec(), None, String::new(), true),
            v("long header", None, Vec::new(), Some(("x-junk", long.clone())), String::new(), false),
        ];
        let cookies: Vec<String> = self.long_cookies.iter().map(|c| format!("{c}={long}")).collect();
        out.push(v(
            "long cookie",
            None,
            Vec::new(),
            Some(("cookie", cookies.join("; "))),
            String::new(),
            false,
        ));
        for scheme in self.long_auth_schemes {
            let header = Some(("authorization", format!("{scheme} {long}")));
            out.push(v(
                &format!("long {scheme} authorization"),
                None,
                Vec::new(),
                header,
                String::new(),
                false,
            ));
        }
        let [a, b] = self.long_query_params;
        let q = &long[..30 * 1024];
        out.push(v("long query", None, Vec::new(), None, format!("?{a}={q}&{b}={q}"), false));
        out.push(v(
            "invalid UTF-8 query",
            None,
            Vec::new(),
            None,
            format!("?{}", self.invalid_utf8_query),
            false,
        ));
        out
    }

    /// Sends every variant to every endpoint of the service at `base` and panics, naming the
    /// request, on a 5xx, on a bad body that is not refused with a 4xx, or on a timeout.
    pub async fn run(&self, http: &reqwest::Client, base: &str) {
        let variants = self.variants();
        for (method, path, takes_body) in self.endpoints {
            for v in &variants {
                let mut req = http.request(method.clone(), format!("{base}{path}{}", v.query));
                if let Some(ct) = v.content_type {
                    req = req.header(reqwest::header::CONTENT_TYPE, ct);
                }
                if let Some((k, value)) = &v.header {
                    req = req.header(*k, value.as_str());
                }
                if *takes_body {
                    req = req.body(v.body.clone());
                }
                let what = format!("{method} {path}: {}", v.name);
                match req.send().await {
                    Ok(r) => {
                        let status = r.status();
                        assert!(!status.is_server_error(), "{what}: {status}");
                        if *takes_body && v.bad_body {
                            assert!(status.is_client_error(), "{what}: {status}");
                        }
                    }
                    // A server that answers 413 and closes before a 3 MiB upload is finished.
                    Err(e) => {
                        assert!(v.name == "huge body" && !e.is_timeout(), "{what}: {}", e.without_url())
                    }
                }
            }
        }
    }
}
