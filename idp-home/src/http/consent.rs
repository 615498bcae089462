//! Consent before disclosure (issue 18): between a sign-in and the SAML response, the page
//! that shows a service's name and exactly what it will be able to read, and `POST
//! /saml/consent` with the answer.
//!
//! The pending request travels as during sign-in: in a MAC'd cookie (`idaas_consent`,
//! `__Host-` over https; [`crate::sso_sessions::SsoState::begin`]), never in a server-side
//! table. The form carries that cookie's CSRF token and a second token binding it to this
//! browser's IdP session, so the answer counts only from the browser and the person it was
//! asked of; and the fingerprint of what was shown, so that "Allow" never covers more than
//! the person saw (if the set changed meanwhile, the page is shown again). Allow records the
//! consent ([`crate::service::consent::grant`]) and releases what the service is registered
//! for; Deny signs in with the NameID and groups only ([`Release::Withheld`]) and is
//! remembered too (later sign-ins with the same set withhold without asking, until the set
//! changes or the person withdraws the answer on the account page).

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;
use service_kit::html::escape;

use super::error::SsoError;
use super::sso::{cookie, cookie_names, refuse, respond, set_cookie};
use crate::model::ServiceProvider;
use crate::saml::request::AcceptedRequest;
use crate::saml::response::Release;
use crate::saml::status::Refusal;
use crate::service::consent::{self, Decision, Disclosure};
use crate::service::disclosure_view::describe;
use crate::sso_sessions::{self, IdpSession};
use crate::state::AppState;

/// Cookie carrying the sign-in waiting for consent (`__Host-idaas_consent` over https).
pub const CONSENT_COOKIE: &str = "idaas_consent";
/// The purpose label of the token binding the form to the IdP session.
const PURPOSE: &str = "consent";

/// The consent route (merged into [`super::app`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/saml/consent", post(answer))
}

fn cookie_name(state: &AppState) -> String {
    if state.config.public_url.starts_with("https://") {
        format!("__Host-{CONSENT_COOKIE}")
    } else {
        CONSENT_COOKIE.to_owned()
    }
}

fn bind_token(state: &AppState, session_cookie: &str, csrf: &str) -> String {
    state.sso.form_token(PURPOSE, &format!("{session_cookie}\0{csrf}"))
}

/// The signed-in `session` (whose cookie is `session_cookie`) answers `request`: the
/// response when consent is implied or given for exactly what the SP could read, else the
/// consent page (or, for an `IsPassive` request, a `NoPassive` status: asking is interacting).
pub(super) async fn continue_sign_in(
    state: &AppState,
    request: &AcceptedRequest,
    relay_state: Option<&str>,
    session: &IdpSession,
    session_cookie: &str,
) -> Response {
    let sp = match state.store.get_sp(&request.sp_entity_id) {
        Ok(Some(sp)) => sp,
        Ok(None) => return SsoError::ResponseFailed("the service provider is gone".into()).into_response(),
        Err(e) => return SsoError::ResponseFailed(format!("store: {e}")).into_response(),
    };
    // The authentication context first: a second factor may be missing (issue 20).
    if let Some(resp) = super::mfa::gate(state, request, relay_state, &sp, session).await {
        return resp;
    }
    match service_kit::metrics::timed("sso_consent", || consent::decide(state, &sp, &session.uid)) {
        Ok(Decision::Release) => respond(state, request, relay_state, session, Release::Registered).await,
        Ok(Decision::Withhold) => respond(state, request, relay_state, session, Release::Withheld).await,
        Ok(Decision::Ask(_)) if request.flags.is_passive => {
            refuse(state, request, relay_state, Refusal::NoPassive).await
        }
        Ok(Decision::Ask(d)) => ask(state, request, relay_state, &sp, &d, session, session_cookie),
        Err(e) => SsoError::ResponseFailed(format!("consent: {e}")).into_response(),
    }
}

/// The consent page, with a fresh pending cookie for `request`.
fn ask(
    state: &AppState,
    request: &AcceptedRequest,
    relay_state: Option<&str>,
    sp: &ServiceProvider,
    d: &Disclosure,
    session: &IdpSession,
    session_cookie: &str,
) -> Response {
    let now = state.clock.now();
    let Some((pending_cookie, csrf)) = state.sso.begin(request, relay_state.map(str::to_owned), now) else {
        return SsoError::TooLargeForCookie.into_response();
    };
    let bind = bind_token(state, session_cookie, &csrf);
    let rules: Vec<(String, String)> = match state.store.list_pii(&session.uid) {
        Ok(records) => records
            .into_iter()
            .filter(|r| d.pii.contains(&r.attribute))
            .map(|r| {
                let text = describe(&r.policy, &state.config.authority).text;
                (r.attribute, text)
            })
            .collect(),
        Err(e) => return SsoError::ResponseFailed(format!("store: {e}")).into_response(),
    };
    let view = PageView {
        idp: &state.config.display_name,
        logo: state.logo.is_some(),
        sp: &sp.shown_name(),
        uid: &session.uid,
        disclosure: d,
        rules: &rules,
        csrf: &csrf,
        bind: &bind,
        fingerprint: &d.fingerprint(&sp.entity_id),
    };
    let mut resp = page(&view);
    let (_, _, path) = cookie_names(state);
    set_cookie(&mut resp, state, &cookie_name(state), &pending_cookie, path, sso_sessions::PENDING_LIFETIME);
    resp
}

/// What the consent page shows.
struct PageView<'a> {
    idp: &'a str,
    logo: bool,
    sp: &'a str,
    uid: &'a str,
    disclosure: &'a Disclosure,
    /// (PII name, its rules in plain words) of what the SP could open.
    rules: &'a [(String, String)],
    csrf: &'a str,
    bind: &'a str,
    fingerprint: &'a str,
}

fn plain_words(attribute: &str) -> &'static str {
    match attribute {
        "groups" => "your groups (they decide what you may do there)",
        "email" => "your e-mail address",
        _ => "another account attribute",
    }
}

/// The page: the service's name, each thing it will be able to read (PII with its rules in
/// plain words), what it cannot read, Allow / Deny.
fn page(v: &PageView<'_>) -> Response {
    let mut items = String::new();
    for a in &v.disclosure.plain {
        items.push_str(&format!("<li>{}</li>", escape(plain_words(a))));
    }
    for (name, rules) in v.rules {
        items.push_str(&format!(
            "<li><strong>{}</strong> <span class=\"muted\">— {}</span></li>",
            escape(name),
            escape(rules)
        ));
    }
    let closed = if v.disclosure.closed.is_empty() {
        String::new()
    } else {
        format!("<p>It cannot read, under your rules today: {}.</p>", escape(&v.disclosure.closed.join(", ")))
    };
    let body = format!(
        "<p class=\"lead\"><strong>{sp}</strong> asks to read, about you (<strong>{uid}</strong>):</p>\
         <ul>{items}</ul>{closed}\
         <p>Allow it once and {idp} will not ask again until what {sp} can read changes. \
         You can withdraw it on <a href=\"/account\">your account page</a>.</p>\
         <form method=\"post\" action=\"/saml/consent\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"bind\" value=\"{bind}\">\
         <input type=\"hidden\" name=\"fingerprint\" value=\"{fp}\">\
         <p><button type=\"submit\" name=\"decision\" value=\"allow\" autofocus>Allow</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></p></form>\
         <p class=\"muted\">Deny signs you in to {sp} with your user name and groups only: none of your \
         personal data is released to it.</p>",
        sp = escape(v.sp),
        uid = escape(v.uid),
        idp = escape(v.idp),
        csrf = escape(v.csrf),
        bind = escape(v.bind),
        fp = escape(v.fingerprint),
    );
    let title = format!("Allow {} to read your data?", v.sp);
    crate::saml::html::branded(StatusCode::OK, v.idp, v.logo, &title, &body)
}

#[derive(Deserialize)]
struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    bind: String,
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    decision: String,
}

async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ConsentForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return crate::saml::html::error_page(
            StatusCode::BAD_REQUEST,
            "The consent form is missing or malformed.",
        );
    };
    let now = state.clock.now();
    let (session_name, _, path) = cookie_names(&state);
    let consent_name = cookie_name(&state);
    let Some(pending_cookie) = cookie(&headers, &consent_name, sso_sessions::MAX_PENDING_COOKIE) else {
        return SsoError::FormExpired.into_response();
    };
    let Some((session_cookie, session)) =
        cookie(&headers, &session_name, 128).and_then(|c| state.sso.session(&c, now).map(|s| (c, s)))
    else {
        return crate::saml::html::error_page(
            StatusCode::UNAUTHORIZED,
            "Your sign-in at the identity provider has ended. Go back to the service and sign in again.",
        );
    };
    let store = state.store.clone();
    let acs_url =
        move |sp: &str, i: usize| store.get_sp(sp).ok().flatten().and_then(|sp| sp.acs_urls.get(i).cloned());
    let Some(pending) = state.sso.pending(&pending_cookie, &form.csrf, now, &acs_url) else {
        return SsoError::BadCsrf.into_response();
    };
    if !state.sso.check_form_token(PURPOSE, &format!("{session_cookie}\0{}", pending.csrf), &form.bind) {
        return SsoError::BadCsrf.into_response();
    }
    let sp = match state.store.get_sp(&pending.request.sp_entity_id) {
        Ok(Some(sp)) => sp,
        Ok(None) => return SsoError::BadCsrf.into_response(),
        Err(e) => return SsoError::ResponseFailed(format!("store: {e}")).into_response(),
    };
    let (request, relay) = (&pending.request, pending.relay_state.as_deref());
    let mut resp = match form.decision.as_str() {
        "allow" => {
            let d = match consent::disclosure(&state, &sp, &session.uid) {
                Ok(d) => d,
                Err(e) => return SsoError::ResponseFailed(format!("consent: {e}")).into_response(),
            };
            if d.fingerprint(&sp.entity_id) != form.fingerprint {
                // What the service could read changed since the page was shown: show it again.
                return ask(&state, request, relay, &sp, &d, &session, &session_cookie);
            }
            if let Err(e) = consent::grant(&state, &session.uid, &sp, &d) {
                return SsoError::ResponseFailed(format!("consent: {e}")).into_response();
            }
            tracing::info!(sp = %sp.entity_id, "consent given");
            respond(&state, request, relay, &session, Release::Registered).await
        }
        "deny" => {
            // Remembered for the set that was shown (a set changed meanwhile is asked again
            // next time); withheld either way.
            match consent::disclosure(&state, &sp, &session.uid) {
                Ok(d) if d.fingerprint(&sp.entity_id) == form.fingerprint => {
                    if let Err(e) = consent::deny(&state, &session.uid, &sp, &d) {
                        return SsoError::ResponseFailed(format!("consent: {e}")).into_response();
                    }
                }
                Ok(_) => {}
                Err(e) => return SsoError::ResponseFailed(format!("consent: {e}")).into_response(),
            }
            tracing::info!(sp = %sp.entity_id, "consent denied: signing in without personal data");
            respond(&state, request, relay, &session, Release::Withheld).await
        }
        _ => {
            return crate::saml::html::error_page(StatusCode::BAD_REQUEST, "Choose Allow or Deny.");
        }
    };
    // The pending sign-in is used up: the browser forgets it.
    set_cookie(&mut resp, &state, &consent_name, "", path, 0);
    resp
}
