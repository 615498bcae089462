//! AuthnRequest parsing at the home IdP (`idp_home::saml::request`): decoding either binding
//! (base64, raw DEFLATE with a size cap) and accepting the request against the registered
//! service providers (issuer lookup, signature when the SP signs, ACS URL resolution). The
//! first byte picks the path:
//! - 0: HTTP-POST `SAMLRequest` (base64) → decode → accept;
//! - 1: HTTP-Redirect `SAMLRequest` (base64 of raw DEFLATE) → decode → accept;
//! - 2: XML directly → accept as POST; 3: XML directly → accept as Redirect, with a query
//!   string taken from the input after the first NUL (the signed-URL check).
#![no_main]
use federation::fuzzing;
use idp_home::model::ServiceProvider;
use idp_home::saml::request::{accept, decode, Binding};
use libfuzzer_sys::fuzz_target;

/// Registered SPs: one unsigned with two ACS URLs, one that signs its requests.
fn lookup(entity_id: &str) -> Option<ServiceProvider> {
    match entity_id {
        "https://sp.fuzz.example" => Some(ServiceProvider {
            entity_id: entity_id.into(),
            acs_urls: vec!["https://sp.fuzz.example/acs".into(), "https://sp.fuzz.example/acs2".into()],
            authn_request_cert_pem: None,
            pbe: None,
            release: idp_home::model::default_release(),
            attribute_names: Default::default(),
            sign: Default::default(),
            slo: None,
            consent: None,
            require_mfa: false,
            authn_requests_signed: true,
            display_name: None,
            purposes: Vec::new(),
        }),
        "https://signed.fuzz.example" => Some(ServiceProvider {
            entity_id: entity_id.into(),
            acs_urls: vec!["https://signed.fuzz.example/acs".into()],
            authn_request_cert_pem: Some(fuzzing::signer().cert_pem.clone()),
            pbe: None,
            release: idp_home::model::default_release(),
            attribute_names: Default::default(),
            sign: Default::default(),
            slo: None,
            consent: None,
            require_mfa: false,
            authn_requests_signed: true,
            display_name: None,
            purposes: Vec::new(),
        }),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    // samael may panic on hostile input inside `guarded` (caught there, by design); libFuzzer's
    // default hook would abort on the panic before the catch, so only panics that escape the
    // target count (libfuzzer-sys still aborts on those).
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    match mode % 4 {
        0 => {
            if let Ok(xml) = decode(text, Binding::Post) {
                let _ = accept(&xml, Binding::Post, None, &lookup);
            }
        }
        1 => {
            if let Ok(xml) = decode(text, Binding::Redirect) {
                let _ = accept(&xml, Binding::Redirect, None, &lookup);
            }
        }
        2 => {
            let _ = accept(text, Binding::Post, None, &lookup);
        }
        _ => {
            let (xml, query) = text.split_once('\0').unwrap_or((text, ""));
            let _ = accept(xml, Binding::Redirect, Some(query), &lookup);
        }
    }
});
