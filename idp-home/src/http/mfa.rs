//! The second sign-in step (issue 20): after the password, a page asking for the code of the
//! user's authenticator (or a recovery code), `POST /login/mfa`; and the gate every SAML
//! answer passes ([`gate`]): a `RequestedAuthnContext` no sign-in satisfies, or an SP that
//! requires a second factor the user does not have, is answered `NoAuthnContext`; a session
//! signed in with the password only steps up when the SP requires more.
//!
//! # The pending second step lives in the browser
//!
//! As the pending SAML sign-in ([`crate::sso_sessions`]), it is no server-side table that
//! anonymous clients could fill: the user id, the time, "stay signed in", the session to step
//! up (if any) and the SHA-256 of the browser's pending-sign-in cookie are in the
//! `idaas_mfa` cookie (`__Host-` over https), authenticated with HMAC-SHA-256 under the IdP's
//! cookie key. The form's CSRF token is bound to a nonce in it, so the code counts only with
//! that cookie, from that browser, for [`mfa::PENDING_LIFETIME`] seconds. Wrong codes are
//! throttled per user ([`crate::service::mfa`]).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use service_kit::html::{escape, links};

use super::error::SsoError;
use super::extract::ClientAddr;
use super::sso::{cookie, cookie_names, refuse, set_cookie, set_session_cookie};
use crate::model::ServiceProvider;
use crate::saml::html;
use crate::saml::request::AcceptedRequest;
use crate::saml::status::Refusal;
use crate::service::mfa::{self, MfaError, Need};
use crate::sso_sessions::{self, IdpSession};
use crate::state::AppState;

/// Cookie of the pending second step (`__Host-idaas_mfa` over https).
pub const MFA_COOKIE: &str = "idaas_mfa";
const SEAL_LABEL: &str = "idaas mfa v1\0";
const PURPOSE: &str = "mfa";
/// Longest `idaas_mfa` value read.
const MAX_COOKIE: usize = 1024;

/// The route (merged into [`super::app`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/login/mfa", post(answer))
}

fn cookie_name(state: &AppState) -> String {
    if state.config.public_url.starts_with("https://") {
        format!("__Host-{MFA_COOKIE}")
    } else {
        MFA_COOKIE.to_owned()
    }
}

/// What the `idaas_mfa` cookie carries.
#[derive(Serialize, Deserialize)]
struct Claims {
    /// Nonce the form's CSRF token is bound to.
    n: String,
    /// Creation time.
    t: i64,
    /// The user (the password was checked, or the session is theirs).
    u: String,
    /// "Stay signed in".
    #[serde(default)]
    r: bool,
    /// The session stepping up, if any (its id, the SHA-256 of its cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    /// SHA-256 of the pending SAML sign-in cookie this step belongs to (none: the account
    /// page's sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b: Option<String>,
}

/// Where the second step starts from.
pub(super) struct Ask<'a> {
    /// The user.
    pub(super) uid: &'a str,
    /// "Stay signed in" was ticked.
    pub(super) remember: bool,
    /// The session stepping up.
    pub(super) step_up: Option<&'a str>,
    /// The pending SAML sign-in: its cookie value and CSRF token (none: the account page).
    pub(super) login: Option<(&'a str, &'a str)>,
    /// The service asking, for the page.
    pub(super) sp: Option<String>,
}

#[derive(Deserialize, Default)]
struct Fields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login_csrf: String,
    #[serde(default)]
    code: String,
    /// A passkey's answer (JSON, from `/.idaas/passkey.js`) instead of a code.
    #[serde(default)]
    passkey: String,
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fields([redacted])")
    }
}

/// Whether `uid` can answer the second step with a passkey here.
fn passkey_offered(state: &AppState, uid: &str) -> bool {
    state.webauthn.is_some()
        && state.store.get_user(uid).ok().flatten().is_some_and(|u| !u.security.passkeys.is_empty())
}

/// The pending second step of this browser, if `csrf` is its form's token: the user and the
/// step's nonce (a passkey ceremony for the step is bound to it).
pub(super) fn pending_step(state: &AppState, headers: &HeaderMap, csrf: &str) -> Option<(String, String)> {
    let now = state.clock.now();
    let claims = cookie(headers, &cookie_name(state), MAX_COOKIE)
        .and_then(|v| state.sso.open::<Claims>(SEAL_LABEL, &v))
        .filter(|c| c.t <= now && now - c.t < mfa::PENDING_LIFETIME)?;
    state.sso.check_form_token(PURPOSE, &claims.n, csrf).then_some((claims.u, claims.n))
}

fn page(
    state: &AppState,
    csrf: &str,
    login_csrf: &str,
    sp: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
    passkey: bool,
) -> Response {
    let lead = match sp {
        Some(sp) => format!(
            "<p class=\"lead\"><strong>{}</strong> needs a second step: the code your authenticator app shows.</p>",
            escape(sp)
        ),
        None => "<p class=\"lead\">Enter the code your authenticator app shows.</p>".to_owned(),
    };
    let (required, passkey_part) = if passkey {
        (
            "",
            format!(
                "<input type=\"hidden\" name=\"passkey\" value=\"\">{}",
                html::passkey_button("mfa", "Use a passkey instead", "data-start=\"/login/passkey/start\"")
            ),
        )
    } else {
        (" required", String::new())
    };
    let alert = error.map(|e| format!("<p role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "{lead}{alert}<form method=\"post\" action=\"/login/mfa\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"login_csrf\" value=\"{login}\">\
         <p><label for=\"code\">Code</label><br><input id=\"code\" name=\"code\" autocomplete=\"one-time-code\" \
         inputmode=\"numeric\" autocapitalize=\"none\" maxlength=\"32\"{required} autofocus><br>\
         <span class=\"muted\">Lost your phone? A recovery code works too, once.</span></p>\
         <p><button type=\"submit\">Continue</button></p>{passkey_part}</form>",
        csrf = escape(csrf),
        login = escape(login_csrf),
    );
    if passkey {
        return html::idp_page_scripted(state, status, "Second step", &body);
    }
    html::idp_page(state, status, "Second step", &body)
}

/// The code page, with the `idaas_mfa` cookie for this step.
pub(super) fn ask(state: &AppState, a: Ask<'_>) -> Response {
    let nonce = sso_sessions::random_token();
    let claims = Claims {
        n: nonce.clone(),
        t: state.clock.now(),
        u: a.uid.to_owned(),
        r: a.remember,
        s: a.step_up.map(str::to_owned),
        b: a.login.map(|(c, _)| sso_sessions::digest(c)),
    };
    let Some(value) = state.sso.seal(SEAL_LABEL, &claims) else {
        return SsoError::SignInUnavailable("sealing the second step".into()).into_response();
    };
    let csrf = state.sso.form_token(PURPOSE, &nonce);
    let login_csrf = a.login.map(|(_, c)| c).unwrap_or_default();
    let passkey = passkey_offered(state, a.uid);
    let mut resp = page(state, &csrf, login_csrf, a.sp.as_deref(), None, StatusCode::OK, passkey);
    set_cookie(&mut resp, state, &cookie_name(state), &value, "/", mfa::PENDING_LIFETIME);
    resp
}

/// Checked before every SAML answer for `session` (`None`: go on). See the module doc.
pub(super) async fn gate(
    state: &AppState,
    request: &AcceptedRequest,
    relay_state: Option<&str>,
    sp: &ServiceProvider,
    session: &IdpSession,
) -> Option<Response> {
    let requested = request.flags.requested;
    if !requested.satisfiable() {
        return Some(refuse(state, request, relay_state, Refusal::NoAuthnContext).await);
    }
    if session.mfa {
        return None;
    }
    let user = match state.store.get_user(&session.uid) {
        Ok(Some(u)) => u,
        Ok(None) => return Some(SsoError::ResponseFailed("the user is gone".into()).into_response()),
        Err(e) => return Some(SsoError::ResponseFailed(format!("store: {e}")).into_response()),
    };
    match mfa::needed(&user, sp.require_mfa, requested.needs_mfa()) {
        Need::Nothing => None,
        Need::Unavailable => {
            tracing::info!(sp = %sp.entity_id, "no second factor for a service that needs one");
            Some(refuse(state, request, relay_state, Refusal::NoAuthnContext).await)
        }
        Need::MustEnrol => Some(must_enrol(state)),
        Need::SecondFactor if request.flags.is_passive => {
            Some(refuse(state, request, relay_state, Refusal::NoPassive).await)
        }
        Need::SecondFactor => {
            let now = state.clock.now();
            let Some((login, login_csrf)) = state.sso.begin(request, relay_state.map(str::to_owned), now)
            else {
                return Some(SsoError::TooLargeForCookie.into_response());
            };
            let ask = Ask {
                uid: &session.uid,
                remember: false,
                step_up: Some(&session.id),
                login: Some((&login, &login_csrf)),
                sp: Some(sp.shown_name()),
            };
            let mut resp = self::ask(state, ask);
            let (_, login_name, path) = cookie_names(state);
            set_cookie(&mut resp, state, &login_name, &login, path, sso_sessions::PENDING_LIFETIME);
            Some(resp)
        }
    }
}

/// The page for a user whose policy requires a second factor they have not set up.
fn must_enrol(state: &AppState) -> Response {
    let body = format!(
        "<p role=\"alert\">Your account needs a second factor before you can sign in to services. \
         Set up an authenticator app on your account's security page, then try again.</p>{}",
        links(&[("/account/security", "Set up a second factor")])
    );
    html::idp_page(state, StatusCode::FORBIDDEN, "Second factor needed", &body)
}

fn expired(state: &AppState) -> Response {
    let mut resp = SsoError::FormExpired.into_response();
    set_cookie(&mut resp, state, &cookie_name(state), "", "/", 0);
    resp
}

async fn answer(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let now = state.clock.now();
    let Some(claims) = cookie(&headers, &cookie_name(&state), MAX_COOKIE)
        .and_then(|v| state.sso.open::<Claims>(SEAL_LABEL, &v))
    else {
        return expired(&state);
    };
    if !(claims.t <= now && now - claims.t < mfa::PENDING_LIFETIME) {
        return expired(&state);
    }
    if !state.sso.check_form_token(PURPOSE, &claims.n, &form.csrf) {
        return SsoError::BadCsrf.into_response();
    }
    let (session_name, login_name, path) = cookie_names(&state);
    // A SAML sign-in: the pending request of this same browser.
    let pending = match &claims.b {
        None => None,
        Some(b) => {
            let store = state.store.clone();
            let acs_url = move |sp: &str, i: usize| {
                store.get_sp(sp).ok().flatten().and_then(|sp| sp.acs_urls.get(i).cloned())
            };
            let found = cookie(&headers, &login_name, sso_sessions::MAX_PENDING_COOKIE)
                .filter(|c| sso_sessions::digest(c) == *b)
                .and_then(|c| state.sso.pending(&c, &form.login_csrf, now, &acs_url));
            match found {
                Some(p) => Some(p),
                None => return expired(&state),
            }
        }
    };
    let checked = if form.passkey.is_empty() {
        mfa::verify(&state, &claims.u, &form.code, client, now)
    } else {
        super::passkeys::second_factor(&state, &headers, &claims.u, &claims.n, &form.passkey).map_err(|e| {
            tracing::info!(reason = %e, "passkey second step refused");
            MfaError::WrongCode
        })
    };
    if let Err(e) = checked {
        let sp = pending.as_ref().and_then(|p| super::sso::sp_display_name(&state, &p.request.sp_entity_id));
        let (status, message, retry) = match e {
            MfaError::WrongCode => (
                StatusCode::UNAUTHORIZED,
                "That code is wrong, expired or was used already. Wait for the next one and try again."
                    .to_owned(),
                None,
            ),
            MfaError::Throttled { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many wrong codes. Wait {retry_after} seconds, then try again."),
                Some(retry_after),
            ),
            MfaError::NotEnrolled | MfaError::NoUser => {
                return html::error_page_titled(
                    StatusCode::FORBIDDEN,
                    "Second step",
                    "No authenticator is set up for this account any more. Start the sign-in again.",
                );
            }
            e => return SsoError::SignInUnavailable(format!("second factor: {e}")).into_response(),
        };
        let passkey = passkey_offered(&state, &claims.u);
        let resp = page(&state, &form.csrf, &form.login_csrf, sp.as_deref(), Some(&message), status, passkey);
        return super::security::with_retry_after(resp, retry);
    }
    let lifetime = i64::from(state.config.session_lifetime_minutes) * 60;
    let (cookie_value, session, created) = match &claims.s {
        Some(id) => {
            let current = cookie(&headers, &session_name, 128)
                .and_then(|c| state.sso.session(&c, now).map(|s| (c, s)))
                .filter(|(_, s)| s.id == *id && s.uid == claims.u);
            let Some((c, mut s)) = current else {
                return expired(&state);
            };
            state.sso.mark_mfa(id);
            s.mfa = true;
            (c, s, false)
        }
        None => {
            let (c, s) = state.sso.create_session_with(&claims.u, now, lifetime, true);
            (c, s, true)
        }
    };
    let mut resp = match &pending {
        Some(p) => {
            super::consent::continue_sign_in(
                &state,
                &p.request,
                p.relay_state.as_deref(),
                &session,
                &cookie_value,
            )
            .await
        }
        None => Redirect::to("/account").into_response(),
    };
    if created {
        set_session_cookie(&mut resp, &state, &session_name, &cookie_value, claims.r.then_some(lifetime));
    }
    if pending.is_some() {
        set_cookie(&mut resp, &state, &login_name, "", path, 0);
    }
    super::devices::remember(&mut resp, &state, &headers, &claims.u, client);
    set_cookie(&mut resp, &state, &cookie_name(&state), "", "/", 0);
    resp
}
