//! The IdP's SAML metadata: entity ID, signing certificate, persistent NameIDs, both SSO
//! bindings and both Single Logout bindings (`/saml/slo`). Served at `/saml/metadata` and written to `<data_dir>/metadata.xml` at start-up
//! ([`crate::startup`]).

use federation::sp_metadata::{BINDING_POST, BINDING_REDIRECT};
use federation::xml::XmlBuilder;

use crate::state::AppState;

/// The IdP's SAML metadata: signing certificate and both SSO bindings.
pub fn metadata_xml(state: &AppState) -> String {
    let sso = format!("{}/saml/sso", state.config.public_url.trim_end_matches('/'));
    let mut x = XmlBuilder::new();
    x.open(
        "md:EntityDescriptor",
        &[("xmlns:md", "urn:oasis:names:tc:SAML:2.0:metadata"), ("entityID", &state.config.entity_id)],
    );
    x.open(
        "md:IDPSSODescriptor",
        &[
            ("WantAuthnRequestsSigned", "false"),
            ("protocolSupportEnumeration", "urn:oasis:names:tc:SAML:2.0:protocol"),
        ],
    );
    // The current key, and during a rollover the next one (crate::signing_keys): an SP that
    // refreshes this document trusts both before the switch.
    for key in state.keys.signing_keys().published(state.now()) {
        x.open("md:KeyDescriptor", &[("use", "signing")])
            .open("ds:KeyInfo", &[("xmlns:ds", federation::assertion::NS_DSIG)])
            .open("ds:X509Data", &[])
            .leaf("ds:X509Certificate", &[], &key.cert_base64())
            .close()
            .close()
            .close();
    }
    // Schema order: KeyDescriptor, SingleLogoutService, NameIDFormat, SingleSignOnService.
    let slo = crate::slo::endpoint(state);
    for binding in [BINDING_REDIRECT, BINDING_POST] {
        x.empty("md:SingleLogoutService", &[("Binding", binding), ("Location", &slo)]);
    }
    x.leaf("md:NameIDFormat", &[], federation::assertion::NAMEID_PERSISTENT);
    for binding in [BINDING_REDIRECT, BINDING_POST] {
        x.empty("md:SingleSignOnService", &[("Binding", binding), ("Location", &sso)]);
    }
    x.finish()
}
