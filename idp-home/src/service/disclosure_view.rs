//! What a person is shown about their own data (the account page, issue 18): the shared
//! computation lives in [`pbe_core::disclosure_view`] (the data owner's wallet uses it too);
//! this module applies it to a service's registration here.

use pbe_core::disclosure_view::Reader;
pub use pbe_core::disclosure_view::{describe, human_date, Rules};

use crate::model::ServiceProvider;

/// Whether `sp` could open a ciphertext under `policy_text` after a sign-in on day `today`
/// (see [`pbe_core::disclosure_view::could_open`]). A plain SAML service (no PBE
/// registration) opens nothing.
pub fn could_open(policy_text: &str, sp: &ServiceProvider, home: &str, today: u64) -> bool {
    let Some(pbe) = &sp.pbe else { return false };
    let reader = Reader { domain: &pbe.domain, country: &pbe.country, purposes: &sp.purposes };
    pbe_core::disclosure_view::could_open(policy_text, &reader, home, today)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::model::PbeBinding;

    const DAY: u64 = 20_423; // 2025-12-01

    fn sp(purposes: &[&str], domain: &str) -> ServiceProvider {
        ServiceProvider {
            entity_id: "https://shop.example".into(),
            display_name: Some("Shop".into()),
            purposes: purposes.iter().map(|s| (*s).to_owned()).collect(),
            acs_urls: vec!["https://shop.example/acs".into()],
            authn_request_cert_pem: None,
            pbe: Some(PbeBinding {
                tat_public_key: String::new(),
                visitor_entity_id: String::new(),
                visitor_token_endpoint: String::new(),
                domain: domain.into(),
                country: "eu".into(),
            }),
            release: vec![],
            attribute_names: Default::default(),
            sign: Default::default(),
            authn_requests_signed: true,
            slo: None,
            consent: None,
            require_mfa: false,
        }
    }

    #[test]
    fn table1_rules_read_as_sentences_and_open_exactly_as_the_paper_says() {
        let rows = pbe_core::disclosure::table1();
        let texts: Vec<String> =
            rows.iter().map(|(_, _, d)| d.compile("telekom", DAY).unwrap().to_string()).collect();
        let addresses = describe(&texts[2], "telekom");
        assert!(
            addresses.text.starts_with("Services of salesforce may read this for contact"),
            "{addresses:?}"
        );
        assert!(addresses.text.contains("primarily for delivery") && addresses.text.contains("only in EU"));
        assert_eq!(addresses.closes, Some(DAY + 13));
        assert!(addresses.text.contains("until 14 Dec 2025"), "{addresses:?}");
        let shopping = sp(&["purpose:current", "ppurpose:purchase"], "salesforce");
        let delivery = sp(&["purpose:current", "purpose:contact", "ppurpose:delivery"], "salesforce");
        let opens = |s: &ServiceProvider, day| {
            texts.iter().map(|t| could_open(t, s, "telekom", day)).collect::<Vec<_>>()
        };
        assert_eq!(opens(&shopping, DAY), [true, true, false]);
        assert_eq!(opens(&delivery, DAY), [true, false, true]);
        assert_eq!(opens(&delivery, DAY + 14), [true, false, false], "addresses close after 14 days");
        assert_eq!(opens(&sp(&["purpose:current", "ppurpose:purchase"], "elsewhere"), DAY), [false; 3]);
        let plain = ServiceProvider { pbe: None, ..shopping };
        assert_eq!(opens(&plain, DAY), [false; 3]);
    }

    #[test]
    fn other_policies_are_shown_as_rules_and_garbage_is_not_a_panic() {
        let r = describe("2 of (a:b@x, c:d@y, e:f@z)", "telekom");
        assert!(r.text.contains("2 of"), "{r:?}");
        assert_eq!(describe("((((", "telekom").closes, None);
        assert!(!could_open("((((", &sp(&[], "salesforce"), "telekom", DAY));
        assert_eq!(human_date(0), "1 Jan 1970");
    }
}
