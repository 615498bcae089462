//! What a browser does that the quickstart's order demo, the end-to-end tests and the
//! benchmarks all need: a client with a cookie jar that does not follow redirects (each hop is
//! looked at), and reading the hidden inputs of a form (the CSRF token, the auto-posted
//! `SAMLResponse`).

/// A client with a cookie jar that does not follow redirects. An error (TLS back end) is
/// returned, never papered over with a default client that would follow redirects.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()
}

/// [`client`], trusting `extra_ca` (a PEM CA file) besides the system's roots.
pub fn client_trusting(
    extra_ca: Option<&std::path::Path>,
) -> Result<reqwest::Client, service_kit::tls::TlsError> {
    service_kit::tls::client_builder(extra_ca)?
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(service_kit::tls::TlsError::Client)
}

/// The `Location` of a redirect.
pub fn location(r: &reqwest::Response) -> Option<String> {
    r.headers().get(reqwest::header::LOCATION)?.to_str().ok().map(str::to_owned)
}

/// The HTML-unescaped value of `<input … name="NAME" value="…">` in a page.
pub fn form_input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Whether `page` is the home IdP's consent page (issue 18).
pub fn is_consent_page(page: &str) -> bool {
    page.contains("action=\"/saml/consent\"")
}

/// What a person who allows does: if `page` is the home IdP's consent page, posts "Allow"
/// to `home_url` and returns the page that comes back (the auto-post form); any other page is
/// returned as it is. The automated clients (quickstart's order demo, tests, benchmarks) sign
/// bob in through it.
pub async fn through_consent(
    b: &reqwest::Client,
    home_url: &str,
    page: String,
) -> Result<String, reqwest::Error> {
    if !is_consent_page(&page) {
        return Ok(page);
    }
    let field = |name| form_input(&page, name).unwrap_or_default();
    let form = [
        ("csrf", field("csrf")),
        ("bind", field("bind")),
        ("fingerprint", field("fingerprint")),
        ("decision", "allow".to_owned()),
    ];
    b.post(format!("{home_url}/saml/consent")).form(&form).send().await?.text().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_escaped_hidden_inputs() {
        let page = "<input type=\"hidden\" name=\"RelayState\" value=\"/a?b=1&amp;c=&lt;x&gt;&quot;\">";
        assert_eq!(form_input(page, "RelayState").as_deref(), Some("/a?b=1&c=<x>\""));
        assert_eq!(form_input(page, "csrf"), None);
        assert_eq!(form_input("name=\"csrf\" value=\"unterminated", "csrf"), None);
    }
}
