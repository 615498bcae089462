//! Propagated-call parsing at the receiving web agent (`web_agent::propagation::ingress`, the
//! `/.idaas/call/…` endpoint): caller key, signature, timestamp and nonce headers, path, body,
//! the carried signed assertion (base64url, verified against the home IdP's metadata) and the
//! TAT sealed for this agent. A real agent state is built once (its own HPKE key, one caller).
//!
//! The input is fields separated by 0xFF (never in UTF-8): `mode`, then
//! - signed mode (`mode` even): `path`, `body`, `session_index`, `assertion_xml`,
//!   `assertion_id`, `tat`, `pii bundle` — the target signs the call as the registered caller would
//!   (`call_headers`), so parsing proceeds past the signature into the assertion and the TAT;
//! - raw mode (`mode` odd): `path`, `body`, then the seven header values (key, signature,
//!   timestamp, nonce, assertion, sealed TAT, sealed PII bundle) as sent.
//!
//! The visitor IdP's token endpoint is a closed local port, so a call that gets as far as the
//! PAT exchange fails there without leaving the machine.
#![no_main]
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use federation::fuzzing;
use libfuzzer_sys::fuzz_target;
use rand_core::SeedableRng as _;
use web_agent::config::PartnerConfig;
use web_agent::propagation::{self, CallSigner};
use web_agent::session::Propagation;

struct Fixture {
    state: web_agent::AppState,
    caller: CallSigner,
    partner: PartnerConfig,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let caller = CallSigner::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(0xca11));
        let toml = format!(
            r#"public_url = "https://shop.fuzz.example"
backend_url = "http://127.0.0.1:9"
data_dir = "{}"
[home_idp]
metadata_file = "unused.xml"
[visitor]
token_endpoint = "http://127.0.0.1:9/oauth2/token"
client_id = "shop"
client_secret = "a client secret that is long enough 0123456789"
[[callers]]
name = "partner"
public_key = "{}"
allowed_prefixes = ["/"]
"#,
            dir.path().display(),
            caller.public_text()
        );
        let config = web_agent::Config::from_toml(&toml).expect("agent config");
        let clock = Arc::new(service_kit::ManualClock::new(fuzzing::NOW));
        let state = web_agent::AppState::new(config, &fuzzing::idp_metadata(), clock).expect("agent state");
        let partner = PartnerConfig {
            name: "shop".into(),
            url: "https://shop.fuzz.example".into(),
            entity_id: String::new(),
            tat_key: state.key.current().public_text(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Fixture { state, caller, partner, runtime, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let f = fixture();
    let fields: Vec<&[u8]> = data.split(|b| *b == 0xff).collect();
    let text = |i: usize| fields.get(i).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("");
    let Some(&mode) = fields.first().and_then(|m| m.first()) else { return };
    let path = text(1);
    let body = fields.get(2).copied().unwrap_or_default();
    let headers: Vec<(&str, String)> = if mode % 2 == 0 {
        let tat = fields.get(6).copied().unwrap_or_default().to_vec();
        // The PII bundle the caller fetched from the home IdP (field 7), re-sealed for us.
        let pii_bundle = fields.get(7).copied().unwrap_or_default();
        let material = Propagation::new(text(4).to_owned(), text(5).to_owned(), tat, String::new(), Vec::new());
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(mode));
        let Ok(h) = propagation::call_headers(
            &f.caller,
            &f.partner,
            f.state.key.suite(),
            "POST",
            path,
            body,
            text(3),
            &material,
            pii_bundle,
            fuzzing::NOW,
            rng,
        ) else {
            return;
        };
        h
    } else {
        [
            propagation::KEY_HEADER,
            propagation::SIGNATURE_HEADER,
            propagation::TIMESTAMP_HEADER,
            propagation::NONCE_HEADER,
            propagation::ASSERTION_HEADER,
            propagation::TAT_HEADER,
            propagation::PII_HEADER,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n, text(3 + i).to_owned()))
        .collect()
    };
    let mut req =
        Request::builder().method(Method::POST).uri(format!("{}{path}", propagation::INGRESS_PREFIX));
    for (name, value) in &headers {
        let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) else {
            return;
        };
        req = req.header(n, v);
    }
    let Ok(req) = req.body(Body::from(body.to_vec())) else { return };
    let _ = f.runtime.block_on(propagation::ingress(f.state.clone(), None, req));
});
