//! Access requests for sensitive paths (issue 20), in people's pages. The logic is
//! [`crate::service::access`]'s.
//!
//! - `GET /account/access/request?sp=…&path=…&group=…&valid_for=…&return=…`: where a web
//!   agent sends a person whose path needs an owner's approval. Shows what would be asked and
//!   a button; nothing is stored by the GET (the link is not authenticated: anyone could craft
//!   one, so the person confirms what they ask, and the owners see exactly that).
//! - `POST /account/access/request`: asks (owners mailed).
//! - `POST /account/access/decide` (`decision=approve|refuse`), `POST /account/access/withdraw`.
//! - [`section`]: the account page's part: requests waiting for this person's decision, and
//!   their own requests with their state.
//!
//! Every POST carries the account page's CSRF token (bound to the IdP session cookie).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use service_kit::html::{escape, links};

use super::account::{account_error, signed_in, AccountForm, WithCsrf, PAGE_PURPOSE};
use super::account_page::human_time;
use crate::model::{AccessRequest, RequestStatus};
use crate::service::access::{self, human_duration, sp_name, AccessError, Ask};
use crate::state::AppState;
use crate::store::{Requests, StoreError};

/// The routes (merged into [`super::app`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/access/request", get(show_request).post(make_request))
        .route("/account/access/decide", post(decide))
        .route("/account/access/withdraw", post(withdraw))
}

/// What the agent's link and the confirmation form carry.
#[derive(Deserialize, Default)]
struct AskFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sp: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    valid_for: String,
    /// Where to go back to (shown only if it is at an origin of one of the SP's ACS URLs).
    #[serde(default, rename = "return")]
    return_to: String,
}

impl AskFields {
    fn ask(&self) -> Result<Ask, AccessError> {
        let valid_for = self.valid_for.trim().parse::<i64>().map_err(|_| AccessError::InvalidDuration)?;
        Ok(Ask { sp: self.sp.clone(), prefix: self.path.clone(), group: self.group.clone(), valid_for })
    }
}

fn hidden(name: &str, value: &str) -> String {
    format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value))
}

fn page(state: &AppState, status: StatusCode, body: &str) -> Response {
    crate::saml::html::idp_page(state, status, "Access request", body)
}

fn not_signed_in() -> Response {
    account_error(
        StatusCode::UNAUTHORIZED,
        "You are not signed in here. Sign in on your account page, then follow the service's link again.",
    )
}

/// The way back to the service, if `url` is at the origin of one of its ACS URLs (never an
/// open redirect: only a link, and only to where the SP's registration points).
fn return_link(state: &AppState, sp: &str, url: &str) -> Option<String> {
    let target = url::Url::parse(url).ok()?;
    if !matches!(target.scheme(), "http" | "https") {
        return None;
    }
    let sp = state.store.get_sp(sp).ok()??;
    sp.acs_urls
        .iter()
        .filter_map(|a| url::Url::parse(a).ok())
        .any(|a| a.origin() == target.origin())
        .then(|| target.to_string())
}

/// The answer to an access error, as a page.
fn error_page(e: &AccessError) -> Response {
    let status = match e {
        AccessError::NotFound => StatusCode::NOT_FOUND,
        AccessError::NotOwner | AccessError::OwnRequest => StatusCode::FORBIDDEN,
        AccessError::AlreadyDecided | AccessError::TooManyPending => StatusCode::CONFLICT,
        AccessError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    if let AccessError::Store(s) = e {
        tracing::warn!(error = %s, "access request storage failed");
        return account_error(status, "The request could not be stored. Try again later.");
    }
    account_error(status, &e.to_string())
}

async fn show_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AskFields>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(fields)) = query else {
        return account_error(StatusCode::BAD_REQUEST, "The link is malformed.");
    };
    let Some((cookie_value, session)) = signed_in(&state, &headers) else { return not_signed_in() };
    let ask = match fields.ask().and_then(|a| access::check_ask(&state, &a).map(|()| a)) {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    let csrf = state.sso.form_token(PAGE_PURPOSE, &cookie_value);
    let body = format!(
        "<p class=\"lead\">Signed in as <strong>{uid}</strong>.</p>\
         <p>You ask the owners of the group <strong>{group}</strong> to let you use <code>{path}</code> at \
         <strong>{sp}</strong> for <strong>{d}</strong> from their approval. They get an e-mail and decide on \
         their account page; you get an e-mail with the answer.</p>\
         <form method=\"post\" action=\"/account/access/request\">{h}\
         <p><button type=\"submit\">Ask for access</button></p></form>{links}",
        uid = escape(&session.uid),
        group = escape(&ask.group),
        path = escape(&ask.prefix),
        sp = escape(&sp_name(&state, &ask.sp)),
        d = escape(&human_duration(ask.valid_for)),
        h = [
            hidden("csrf", &csrf),
            hidden("sp", &ask.sp),
            hidden("path", &ask.prefix),
            hidden("group", &ask.group),
            hidden("valid_for", &ask.valid_for.to_string()),
            hidden("return", &fields.return_to),
        ]
        .concat(),
        links = links(&[("/account#access", "Your access requests")]),
    );
    page(&state, StatusCode::OK, &body)
}

impl WithCsrf for AskFields {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn make_request(
    State(state): State<AppState>,
    AccountForm { session, fields }: AccountForm<AskFields>,
) -> Response {
    let ask = match fields.ask() {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    let st = state.clone();
    let uid = session.uid.clone();
    let made = tokio::task::spawn_blocking(move || access::request(&st, &uid, ask)).await;
    let r = match made {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return error_page(&e),
        Err(_) => return error_page(&AccessError::Store(StoreError::Encode("task failed".into()))),
    };
    let back = return_link(&state, &r.sp, &fields.return_to)
        .map(|u| {
            format!(
                "<p><a href=\"{}\">Back to {}</a> (sign in there again once approved)</p>",
                escape(&u),
                escape(&sp_name(&state, &r.sp))
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<p role=\"status\">Your request was sent to the owners of the group <strong>{}</strong>. \
         You will get an e-mail when one of them decides; then sign in to the service again.</p>{back}{}",
        escape(&r.group),
        links(&[("/account#access", "Your access requests")]),
    );
    page(&state, StatusCode::OK, &body)
}

#[derive(Deserialize)]
struct DecideFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    decision: String,
}

impl WithCsrf for DecideFields {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn decide(
    State(state): State<AppState>,
    AccountForm { session, fields: f }: AccountForm<DecideFields>,
) -> Response {
    let approve = match f.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => return account_error(StatusCode::BAD_REQUEST, "Choose approve or refuse."),
    };
    let st = state.clone();
    match tokio::task::spawn_blocking(move || access::decide(&st, &session.uid, &f.id, approve)).await {
        Ok(Ok(_)) => Redirect::to("/account#access").into_response(),
        Ok(Err(e)) => error_page(&e),
        Err(_) => error_page(&AccessError::Store(StoreError::Encode("task failed".into()))),
    }
}

async fn withdraw(
    State(state): State<AppState>,
    AccountForm { session, fields: f }: AccountForm<DecideFields>,
) -> Response {
    let st = state.clone();
    match tokio::task::spawn_blocking(move || access::withdraw(&st, &session.uid, &f.id)).await {
        Ok(Ok(_)) => Redirect::to("/account#access").into_response(),
        Ok(Err(e)) => error_page(&e),
        Err(_) => error_page(&AccessError::Store(StoreError::Encode("task failed".into()))),
    }
}

fn button(action: &str, csrf: &str, id: &str, decision: Option<&str>, label: &str, class: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{action}\">{}{}{}\
         <button type=\"submit\" class=\"{class}\">{label}</button></form>",
        hidden("csrf", csrf),
        hidden("id", id),
        decision.map(|d| hidden("decision", d)).unwrap_or_default(),
    )
}

fn state_text(r: &AccessRequest, now: i64) -> String {
    match (r.status, r.until) {
        (RequestStatus::Approved, Some(u)) if u > now => format!("approved until {}", human_time(u)),
        (RequestStatus::Approved, _) => "approved, expired".into(),
        (s, _) => s.name().into(),
    }
}

/// The account page's "Access requests" part for `uid`: empty when they own no group and
/// never asked.
pub fn section(state: &AppState, uid: &str, csrf: &str) -> Result<String, StoreError> {
    let now = state.clock.now();
    let owned = access::groups_owned_by(state, uid).map_err(|e| match e {
        AccessError::Store(s) => s,
        other => StoreError::Encode(other.to_string()),
    })?;
    let waiting = if owned.is_empty() {
        Vec::new()
    } else {
        state.store.list_access_requests(Requests::PendingFor(&owned))?
    };
    let mine = state.store.list_access_requests(Requests::Of(uid))?;
    if owned.is_empty() && mine.is_empty() {
        return Ok(String::new());
    }
    let mut out = String::from("<h2 id=\"access\">Access requests</h2>");
    if !owned.is_empty() {
        out.push_str(&format!("<p>You own the groups: {}.</p>", escape(&owned.join(", "))));
        if waiting.is_empty() {
            out.push_str("<p>No request waits for your decision.</p>");
        } else {
            out.push_str(
                "<table><caption>Waiting for your decision</caption><thead><tr><th scope=\"col\">Who</th>\
                 <th scope=\"col\">Asks to use</th><th scope=\"col\">For</th><th scope=\"col\">Asked</th>\
                 <th scope=\"col\"><span class=\"muted\">Decision</span></th></tr></thead><tbody>",
            );
            for r in &waiting {
                out.push_str(&format!(
                    "<tr><th scope=\"row\">{who}</th><td><code>{p}</code> at {sp} (group {g})</td><td>{d}</td><td>{t}</td><td>{a}{x}</td></tr>",
                    who = escape(&r.uid),
                    p = escape(&r.prefix),
                    sp = escape(&sp_name(state, &r.sp)),
                    g = escape(&r.group),
                    d = escape(&human_duration(r.valid_for)),
                    t = escape(&human_time(r.created)),
                    a = button("/account/access/decide", csrf, &r.id, Some("approve"), "Approve", ""),
                    x = button("/account/access/decide", csrf, &r.id, Some("refuse"), "Refuse", "danger"),
                ));
            }
            out.push_str("</tbody></table>");
        }
    }
    if !mine.is_empty() {
        out.push_str(
            "<table><caption>Your requests</caption><thead><tr><th scope=\"col\">Path</th>\
             <th scope=\"col\">Service</th><th scope=\"col\">State</th>\
             <th scope=\"col\"><span class=\"muted\">Action</span></th></tr></thead><tbody>",
        );
        for r in mine.iter().rev() {
            let live = r.status == RequestStatus::Pending
                || (r.status == RequestStatus::Approved && r.until.is_some_and(|u| u > now));
            let action = if live {
                button("/account/access/withdraw", csrf, &r.id, None, "Withdraw", "secondary")
            } else {
                String::new()
            };
            out.push_str(&format!(
                "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{action}</td></tr>",
                escape(&r.prefix),
                escape(&sp_name(state, &r.sp)),
                escape(&state_text(r, now)),
            ));
        }
        out.push_str("</tbody></table>");
    }
    Ok(out)
}
