//! `/account/security` (issue 20): the second factor of the signed-in person. Setting up an
//! authenticator app (`POST /account/security/totp/start`: a fresh secret as a QR code and as
//! text; `POST /account/security/totp/confirm` with a code from the app: then the recovery
//! codes, shown this once), and removing it (`POST /account/security/totp/remove`, with a
//! current code). The logic is [`crate::service::mfa`]'s; every form's CSRF token is bound
//! to the IdP session cookie.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use service_kit::html::{escape, links};

use super::extract::ClientAddr;
use super::sso::{cookie, cookie_names};
use crate::model::{MfaPolicy, User};
use crate::saml::html;
use crate::service::devices;
use crate::service::mfa::{self, MfaError};
use crate::sso_sessions::IdpSession;
use crate::state::AppState;

const PURPOSE: &str = "security";

/// The routes (merged into [`super::app`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/security", get(show))
        .route("/account/security/totp/start", post(start))
        .route("/account/security/totp/confirm", post(confirm))
        .route("/account/security/totp/remove", post(remove))
        .route("/account/security/devices/revoke", post(revoke_device))
}

#[derive(Deserialize, Default)]
struct Fields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    device: String,
}

fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<(String, IdpSession)> {
    let (name, _, _) = cookie_names(state);
    let c = cookie(headers, &name, 128)?;
    let s = state.sso.session(&c, state.clock.now())?;
    Some((c, s))
}

fn shell(state: &AppState, status: StatusCode, body: &str) -> Response {
    html::idp_page_scripted(state, status, "Sign-in security", body)
}

/// Whether `csrf` is this page's form token for the session cookie `c` (the passkey routes).
pub(super) fn check_token(state: &AppState, c: &str, csrf: &str) -> bool {
    state.sso.check_form_token(PURPOSE, c, csrf)
}

/// The passkeys of `user`, each with a remove button, and the button to add one.
fn passkeys_section(state: &AppState, user: &User, csrf: &str) -> String {
    if state.webauthn.is_none() {
        return "<p class=\"muted\">Passkeys need this identity provider to be served under a domain name.</p>"
            .to_owned();
    }
    let rows: String = user
        .security
        .passkeys
        .iter()
        .map(|p| {
            format!(
                "<li>{name} <span class=\"muted\">added {added}{used}</span>\
                 <form method=\"post\" action=\"/account/security/passkey/remove\">{h}\
                 <input type=\"hidden\" name=\"id\" value=\"{id}\"><button type=\"submit\">Remove this passkey</button></form></li>",
                name = escape(&p.name),
                added = escape(&day(p.created)),
                used = if p.last_used > 0 { format!(", last used {}", escape(&day(p.last_used))) } else { String::new() },
                h = hidden(csrf),
                id = escape(&p.id),
            )
        })
        .collect();
    let list = if rows.is_empty() {
        "<p>No passkey is registered.</p>".to_owned()
    } else {
        format!("<ul class=\"passkeys\">{rows}</ul>")
    };
    let add = if user.security.passkeys.len() < crate::service::passkeys::MAX_PER_USER {
        format!(
            "<p><label for=\"idaas-passkey-name\">Name of the new passkey</label><br>\
             <input id=\"idaas-passkey-name\" maxlength=\"{max}\" value=\"Passkey\"></p>{button}",
            max = crate::service::passkeys::MAX_NAME_CHARS,
            button = html::passkey_button(
                "register",
                "Add a passkey",
                &format!(
                    "data-csrf=\"{}\" data-start=\"/account/security/passkey/start\" data-finish=\"/account/security/passkey/finish\"",
                    escape(csrf)
                ),
            ),
        )
    } else {
        String::new()
    };
    format!(
        "<p>A passkey (your phone, computer or security key, unlocked with your fingerprint, face or PIN) \
         is a second factor, and signs you in without a password.</p>{list}{add}"
    )
}

fn hidden(csrf: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", escape(csrf))
}

fn code_field(label: &str) -> String {
    format!(
        "<p><label for=\"code\">{label}</label><br><input id=\"code\" name=\"code\" autocomplete=\"one-time-code\" \
         inputmode=\"numeric\" maxlength=\"32\" required></p>"
    )
}

fn policy_text(p: MfaPolicy) -> &'static str {
    match p {
        MfaPolicy::Off => "Your organisation turned the second factor off for your account: sign-ins ask only for your password.",
        MfaPolicy::Optional => "Once an authenticator app is set up, signing in from a new device asks for its code after your password.",
        MfaPolicy::Required => "Your organisation requires a second factor: set up an authenticator app to sign in to services.",
    }
}

/// The list of known devices, this browser's marked, each with a revoke button.
fn devices_section(state: &AppState, headers: &HeaderMap, user: &User, csrf: &str) -> String {
    let this = super::devices::current(state, headers);
    let devices = match devices::list(state, &user.uid) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "known devices");
            return "<p role=\"alert\">The list of devices is not available right now.</p>".to_owned();
        }
    };
    if devices.is_empty() {
        return "<p>No device is remembered yet.</p>".to_owned();
    }
    let rows: String = devices
        .iter()
        .map(|d| {
            let mark = if this.as_deref() == Some(d.id.as_str()) { " <strong>(this device)</strong>" } else { "" };
            format!(
                "<li><span class=\"device\">{agent}</span>{mark}<br><span class=\"muted\">last sign-in {last} from {addr}, \
                 first {first}</span><form method=\"post\" action=\"/account/security/devices/revoke\">{h}\
                 <input type=\"hidden\" name=\"device\" value=\"{id}\"><button type=\"submit\">Forget this device</button></form></li>",
                agent = escape(&d.agent),
                last = escape(&day(d.last_seen)),
                first = escape(&day(d.first_seen)),
                addr = escape(if d.address.is_empty() { "an unknown address" } else { &d.address }),
                h = hidden(csrf),
                id = escape(&d.id),
            )
        })
        .collect();
    format!(
        "<p>Signing in from a device not on this list asks for your second factor and sends you an e-mail. \
         A forgotten device counts as new again.</p><ul class=\"devices\">{rows}</ul>"
    )
}

fn day(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok()
        })
        .unwrap_or_else(|| t.to_string())
}

fn overview(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    csrf: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let alert = error.map(|e| format!("<p role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let factor = match &user.security.totp {
        Some(t) if t.confirmed => format!(
            "<p role=\"status\">An authenticator app is set up. {left} unused recovery codes are left.</p>\
             <form method=\"post\" action=\"/account/security/totp/remove\">{h}{code}\
             <p><button type=\"submit\">Remove the authenticator</button></p></form>",
            left = t.recovery.len(),
            h = hidden(csrf),
            code = code_field("A current code, to confirm"),
        ),
        _ => format!(
            "<p>No authenticator app is set up.</p><form method=\"post\" action=\"/account/security/totp/start\">{}\
             <p><button type=\"submit\">Set up an authenticator app</button></p></form>",
            hidden(csrf)
        ),
    };
    let body = format!(
        "{alert}<p class=\"lead\">{}</p><h2>Authenticator app</h2>{factor}<h2>Passkeys</h2>{}<h2>Your devices</h2>{}{}",
        policy_text(user.security.mfa),
        passkeys_section(state, user, csrf),
        devices_section(state, headers, user, csrf),
        links(&[("/account", "Back to your account")])
    );
    shell(state, status, &body)
}

fn enrol_page(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    csrf: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let Some(secret) = mfa::pending_secret(user) else {
        return overview(state, headers, user, csrf, error, status);
    };
    let uri = mfa::otpauth_uri(&state.config.display_name, &user.uid, &secret);
    let qr = mfa::qr_svg(&uri).unwrap_or_default();
    let alert = error.map(|e| format!("<p role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "{alert}<p class=\"lead\">Scan this code with your authenticator app, then enter the code it shows.</p>\
         <figure role=\"img\" aria-label=\"QR code of the authenticator secret\">{qr}</figure>\
         <p>Or type this key into the app: <code>{key}</code></p>\
         <form method=\"post\" action=\"/account/security/totp/confirm\">{h}{code}\
         <p><button type=\"submit\">Confirm</button></p></form>{more}",
        key = escape(&mfa::base32(&secret)),
        h = hidden(csrf),
        code = code_field("Code from the app"),
        more = links(&[("/account/security", "Cancel")]),
    );
    shell(state, status, &body)
}

/// The signed-in user and the form token, or the answer for a browser without a session.
fn context(state: &AppState, headers: &HeaderMap) -> Result<(User, String), Box<Response>> {
    let Some((c, session)) = signed_in(state, headers) else {
        return Err(Box::new(Redirect::to("/account").into_response()));
    };
    match state.store.get_user(&session.uid) {
        Ok(Some(u)) => Ok((u, state.sso.form_token(PURPOSE, &c))),
        Ok(None) => Err(Box::new(Redirect::to("/account").into_response())),
        Err(e) => Err(Box::new(
            super::error::SsoError::SignInUnavailable(format!("security page: {e}")).into_response(),
        )),
    }
}

/// [`context`] for a POST, with its CSRF token checked.
fn post_context(state: &AppState, headers: &HeaderMap, csrf: &str) -> Result<(User, String), Box<Response>> {
    let Some((c, _)) = signed_in(state, headers) else {
        return Err(Box::new(html::error_page_titled(
            StatusCode::UNAUTHORIZED,
            "Sign-in security",
            "You are not signed in.",
        )));
    };
    if !state.sso.check_form_token(PURPOSE, &c, csrf) {
        return Err(Box::new(html::error_page_titled(
            StatusCode::FORBIDDEN,
            "Sign-in security",
            "The form's security token is missing or wrong. Open the page again and retry.",
        )));
    }
    context(state, headers)
}

async fn show(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match context(&state, &headers) {
        Ok((user, csrf)) => overview(&state, &headers, &user, &csrf, None, StatusCode::OK),
        Err(resp) => *resp,
    }
}

/// `resp` with `Retry-After` when a throttle said how long to wait.
pub(super) fn with_retry_after(mut resp: Response, retry: Option<u64>) -> Response {
    if let Some(s) = retry {
        service_kit::problem::set_retry_after(&mut resp, s);
    }
    resp
}

fn fields(form: Result<Form<Fields>, axum::extract::rejection::FormRejection>) -> Fields {
    form.map(|Form(f)| f).unwrap_or_default()
}

fn failure(e: MfaError) -> (StatusCode, String, Option<u64>) {
    match e {
        MfaError::WrongCode => {
            (StatusCode::BAD_REQUEST, "That code is wrong or was used already.".into(), None)
        }
        MfaError::Throttled { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many wrong codes. Wait {retry_after} seconds, then try again."),
            Some(retry_after),
        ),
        MfaError::Store(err) => {
            tracing::error!(error = %err, "second factor");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong. Try again later.".into(), None)
        }
        other => (StatusCode::CONFLICT, other.to_string(), None),
    }
}

async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = fields(form);
    let (user, csrf) = match post_context(&state, &headers, &form.csrf) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    match mfa::start(&state, &user.uid, state.clock.now()) {
        Ok(_) => match state.store.get_user(&user.uid) {
            Ok(Some(u)) => enrol_page(&state, &headers, &u, &csrf, None, StatusCode::OK),
            _ => overview(
                &state,
                &headers,
                &user,
                &csrf,
                Some("Something went wrong. Try again."),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        },
        Err(e) => {
            let (status, message, _) = failure(e);
            overview(&state, &headers, &user, &csrf, Some(&message), status)
        }
    }
}

async fn confirm(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = fields(form);
    let (user, csrf) = match post_context(&state, &headers, &form.csrf) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    match mfa::confirm(&state, &user.uid, &form.code, client, state.clock.now()) {
        Ok(codes) => {
            let items: String =
                codes.iter().map(|c| format!("<li><code>{}</code></li>", escape(c))).collect();
            let body = format!(
                "<p role=\"status\">Your authenticator app is set up. From now on, signing in from a new device asks for its code.</p>\
                 <h2>Recovery codes</h2><p>If you lose your phone, each of these codes replaces one app code, once. \
                 Keep them somewhere safe: they are shown only now.</p><ul class=\"recovery\">{items}</ul>{}",
                links(&[("/account/security", "Done")])
            );
            shell(&state, StatusCode::OK, &body)
        }
        Err(e) => {
            let (status, message, retry) = failure(e);
            with_retry_after(enrol_page(&state, &headers, &user, &csrf, Some(&message), status), retry)
        }
    }
}

async fn remove(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = fields(form);
    let (user, csrf) = match post_context(&state, &headers, &form.csrf) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    let now = state.clock.now();
    let result =
        mfa::verify(&state, &user.uid, &form.code, client, now).and_then(|()| mfa::remove(&state, &user.uid));
    match result {
        Ok(_) => {
            tracing::info!(user = %service_kit::redact::log_id(&user.uid), "authenticator removed");
            Redirect::to("/account/security").into_response()
        }
        Err(e) => {
            let (status, message, retry) = failure(e);
            with_retry_after(overview(&state, &headers, &user, &csrf, Some(&message), status), retry)
        }
    }
}

async fn revoke_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = fields(form);
    let (user, csrf) = match post_context(&state, &headers, &form.csrf) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    match devices::revoke(&state, &user.uid, &form.device) {
        Ok(true) => Redirect::to("/account/security").into_response(),
        Ok(false) => overview(
            &state,
            &headers,
            &user,
            &csrf,
            Some("That device is not on your list (any more)."),
            StatusCode::NOT_FOUND,
        ),
        Err(e) => {
            super::error::SsoError::SignInUnavailable(format!("revoking a device: {e}")).into_response()
        }
    }
}
