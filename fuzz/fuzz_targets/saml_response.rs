//! SAML response verification (`federation::verify`, what the web agent's ACS and the visitor
//! IdP's token endpoint run): parse a Response (or a bare Assertion), verify its XML signature
//! against a trust store, then read every field the services read. The seeds are real
//! responses signed by the trusted key (`federation/tests/it/fuzz_seeds.rs`), so mutations start
//! inside a valid signature's reach; the XML dictionary (`fuzz/xml.dict`) supplies the tokens.
#![no_main]
use std::sync::OnceLock;

use federation::fuzzing;
use federation::verify::{TrustStore, UnverifiedAssertion, DEFAULT_MAX_XML_BYTES};
use libfuzzer_sys::fuzz_target;

fn trust() -> &'static TrustStore {
    static T: OnceLock<TrustStore> = OnceLock::new();
    T.get_or_init(fuzzing::trust)
}

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    for parsed in [
        UnverifiedAssertion::parse_response(xml, DEFAULT_MAX_XML_BYTES),
        UnverifiedAssertion::parse(xml, DEFAULT_MAX_XML_BYTES),
    ] {
        let Ok(unverified) = parsed else { continue };
        let _ = unverified.claimed_issuer();
        let Ok(a) = unverified.verify(trust()) else { continue };
        let _ = (a.issuer(), a.id(), a.name_id(), a.session_index(), a.attributes());
        let _ = a.check_not_before(fuzzing::NOW, 60);
        let _ = a.check_not_expired(fuzzing::NOW, 60);
        let _ = a.check_session(fuzzing::NOW, 60);
        let _ = a.check_age(fuzzing::NOW, 600);
        let _ = a.check_audience(&[fuzzing::SP]);
        let _ = a.replay_horizon(60);
        for c in a.bearer_confirmations() {
            let _ = c.check_time(fuzzing::NOW, 60);
        }
    }
});
