//! Single Logout endpoints: `/saml/slo` (GET: HTTP-Redirect, POST: HTTP-POST) receives
//! LogoutRequests from SPs and the LogoutResponses of the participants a chain asked; `/logout`
//! (GET: a confirmation form, POST: the sign-out) signs the user out at the IdP. The chain
//! itself is [`crate::slo`]'s; refusals are [`SloError`] pages and change nothing.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use federation::logout::{Inbound, LogoutError, Outbound, Peer, PostForm, Verified};
use serde::Deserialize;

use super::error::SloError;
use super::sso::{cookie, cookie_names, set_cookie};
use crate::saml::html;
use crate::slo::{self, Initiator, Step, CHAIN_LIFETIME};
use crate::state::AppState;

/// Cookie naming the browser's single-logout chain (`__Host-idaas_slo` over https), so that
/// `/logout` can go on when a participant does not answer.
pub const CHAIN_COOKIE: &str = "idaas_slo";
/// Most services asked to sign out by one "sign out everywhere" (over all the user's sessions).
pub const MAX_EVERYWHERE: usize = 4 * crate::sso_sessions::MAX_PARTICIPANTS;
/// Clock skew allowed on received logout messages, seconds.
pub const SKEW: i64 = 60;

/// The single-logout routes (merged into [`super::app`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(slo::SLO_PATH, get(slo_redirect).post(slo_post))
        .route("/logout", get(logout_page).post(logout))
}

fn chain_cookie_name(state: &AppState) -> String {
    if state.config.public_url.starts_with("https://") {
        format!("__Host-{CHAIN_COOKIE}")
    } else {
        CHAIN_COOKIE.to_owned()
    }
}

async fn slo_redirect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let inbound = Inbound::from_redirect(raw.as_deref().unwrap_or_default());
    handle(&state, &headers, inbound).await
}

async fn slo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PostForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return SloError::Refused(LogoutError::Malformed("not a form")).into_response();
    };
    let inbound = Inbound::from_post_form(form);
    handle(&state, &headers, inbound).await
}

async fn handle(state: &AppState, headers: &HeaderMap, inbound: Result<Inbound, LogoutError>) -> Response {
    match receive(state, headers, inbound) {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// Verifies the message against the SP it claims to come from, then acts on it.
fn receive(
    state: &AppState,
    headers: &HeaderMap,
    inbound: Result<Inbound, LogoutError>,
) -> Result<Response, SloError> {
    let inbound = inbound?;
    let sp = state.store.get_sp(inbound.claimed_issuer()).ok().flatten().ok_or(SloError::UnknownSp)?;
    let der = sp
        .authn_request_cert_pem
        .as_deref()
        .and_then(crate::keys::pem_to_der)
        .ok_or(SloError::NoCertificate)?;
    let now = state.clock.now();
    let certs = [der];
    let peer = Peer { entity_id: &sp.entity_id, certs_der: &certs };
    match inbound.verify(&peer, &slo::endpoint(state), now, SKEW)? {
        Verified::Request(request, relay_state) => {
            if !state.slo.first_time(&sp.entity_id, &request.id, request.not_on_or_after + SKEW, now) {
                return Err(SloError::Replayed);
            }
            let (session_name, _, path) = cookie_names(state);
            let by_index =
                state.sso.end_by_participant(&sp.entity_id, &request.name_id, &request.session_indexes, now);
            // The browser's own session for the same user (say its participant list lost
            // the SP after 64 sign-ins) ends too.
            let by_cookie = cookie(headers, &session_name, 128)
                .filter(|c| state.sso.session(c, now).is_some_and(|s| s.uid == request.name_id))
                .and_then(|c| state.sso.end_by_cookie(&c, now));
            let participants =
                by_index.into_iter().chain(by_cookie).flat_map(|s| s.participants).collect::<Vec<_>>();
            tracing::info!(participants = participants.len(), "single logout requested by a service");
            let initiator = Initiator { sp: sp.entity_id.clone(), request_id: request.id, relay_state };
            let (chain, step) = slo::begin(state, Some(initiator), participants, now);
            let mut resp = render(state, chain.as_deref(), step);
            set_cookie(&mut resp, state, &session_name, "", path, 0);
            Ok(resp)
        }
        Verified::Response(response, _) => {
            let (chain, step) =
                slo::on_response(state, &sp.entity_id, &response, now).ok_or(SloError::UnknownChain)?;
            Ok(render(state, chain.as_deref(), step))
        }
    }
}

/// A step as a response; the chain cookie is set while a participant is being asked and
/// cleared when the chain is over.
fn render(state: &AppState, chain: Option<&str>, step: Step) -> Response {
    let mut resp = match step {
        Step::Send(Outbound::Redirect { url }) => match HeaderValue::from_str(&url) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => html::signed_out(true),
        },
        Step::Send(Outbound::Post { url, field, value, relay_state }) => {
            html::post_form("Signing you out", &url, field, &value, relay_state.as_deref())
        }
        Step::Done { partial } => html::signed_out(partial),
        Step::Waiting(seconds) => html::logout_waiting(seconds),
    };
    let name = chain_cookie_name(state);
    match chain {
        Some(id) => set_cookie(&mut resp, state, &name, id, "/", CHAIN_LIFETIME),
        None => set_cookie(&mut resp, state, &name, "", "/", 0),
    }
    resp
}

/// `GET /logout`: goes on with this browser's chain if one is under way; otherwise shows the
/// confirmation form (a link or image elsewhere cannot sign anyone out).
async fn logout_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    if let Some(chain_id) = cookie(&headers, &chain_cookie_name(&state), 128) {
        if let Some((chain, step)) = slo::resume(&state, &chain_id, now) {
            return render(&state, chain.as_deref(), step);
        }
    }
    let (session_name, _, _) = cookie_names(&state);
    match cookie(&headers, &session_name, 128).filter(|c| state.sso.session(c, now).is_some()) {
        Some(c) => html::logout_form(&state.sso.logout_token(&c)),
        None => html::not_signed_in(),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
    /// "Sign out everywhere" (the account page): every IdP session of the user ends, and the
    /// services each of them signed in to are asked to sign out.
    #[serde(default)]
    everywhere: Option<String>,
}

/// `POST /logout` with the form's CSRF token: ends the IdP session, then signs every
/// participant out and ends on the IdP's "signed out" page.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let now = state.clock.now();
    let (session_name, _, path) = cookie_names(&state);
    let Some(c) = cookie(&headers, &session_name, 128) else {
        return html::not_signed_in();
    };
    let Ok(Form(form)) = form else {
        return SloError::BadCsrf.into_response();
    };
    if !state.sso.check_logout_token(&c, &form.csrf) {
        return SloError::BadCsrf.into_response();
    }
    let ended = state.sso.end_by_cookie(&c, now);
    let mut participants = Vec::new();
    if let Some(s) = ended {
        let uid = s.uid.clone();
        // This browser's services first: they are kept if the list is cut.
        participants.extend(s.participants);
        if form.everywhere.is_some() {
            for other in state.sso.end_all_of(&uid, now) {
                participants.extend(other.participants);
            }
            // Bounded: the other sessions' services beyond this are not asked (their agents'
            // sessions then end at their own expiry).
            participants.truncate(MAX_EVERYWHERE);
        }
    }
    tracing::info!(participants = participants.len(), "single logout at the identity provider");
    let (chain, step) = slo::begin(&state, None, participants, now);
    let mut resp = render(&state, chain.as_deref(), step);
    set_cookie(&mut resp, &state, &session_name, "", path, 0);
    resp
}
