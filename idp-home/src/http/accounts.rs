//! Registration, e-mail verification (JSON or, for a browser, an HTML page) and the data
//! owner's tokens (`/api/users`, `/api/users/verify`, `/api/token`, `/api/upload-token`).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{no_store, ApiJson, ApiQuery, ClientAddr};
use federation::api::{RegisterRequest, Registered, TokenRequest, UploadTokenRequest, Verified};

use crate::model::User;
use crate::service::accounts;
use crate::service::passwords::Password;
use crate::service::{api_tokens, upload_tokens};
use crate::state::AppState;

/// The routes of this area (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/users", post(register))
        .route("/api/users/verify", get(verify))
        .route("/api/token", post(token))
        .route("/api/upload-token", post(upload_token))
}

/// A user as the admin API lists it (never the password hash).
#[derive(Serialize)]
pub(super) struct UserView {
    uid: String,
    email: String,
    verified: bool,
    groups: Vec<String>,
    created: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView { uid: u.uid, email: u.email, verified: u.verified, groups: u.groups, created: u.created }
    }
}

async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let RegisterRequest { uid, email, password } = req;
    let registered = accounts::register(&state, &uid, &email, Password::from(password)).await?;
    let view = UserView::from(registered.user);
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            uid: view.uid,
            email: view.email,
            verified: false,
            message: "registered; open the verification link sent to the e-mail address before signing in"
                .into(),
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
struct VerifyQuery {
    token: String,
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

fn html_page(state: &AppState, status: StatusCode, title: &str, text: &str) -> Response {
    let (role, more): (&str, &[service_kit::html::Link<'_>]) = if status.is_success() {
        ("status", &[("/account", "Sign in")])
    } else {
        ("alert", &[("/register", "Register again"), ("/account", "Sign in")])
    };
    let body = format!(
        "<p role=\"{role}\">{}</p>{}",
        service_kit::html::escape(text),
        service_kit::html::links(more)
    );
    crate::saml::html::idp_page(state, status, title, &body)
}

async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<ApiQuery<VerifyQuery>, ApiError>,
) -> Response {
    let html = wants_html(&headers);
    let result = match query {
        Ok(ApiQuery(q)) => accounts::verify_email(&state, &q.token, state.now()).map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match (result, html) {
        (Ok(_), true) => html_page(
            &state,
            StatusCode::OK,
            "E-mail address verified",
            "Your e-mail address is verified. You can now sign in.",
        ),
        (Ok(user), false) => no_store(StatusCode::OK, Json(Verified { uid: user.uid, verified: true })),
        (Err(ApiError::InvalidInput(_)), true) => html_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Verification failed",
            "This verification link is invalid, expired or was already used.",
        ),
        (Err(e), _) => e.into_response(),
    }
}

async fn token(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Response, ApiError> {
    let user = accounts::authenticate_async(&state, req.uid, Password::from(req.password), client).await?;
    let issued = api_tokens::issue_api_token(&state, &user.uid, state.now())?;
    Ok(no_store(StatusCode::OK, Json(issued)))
}

/// `POST /api/upload-token` {uid, password, code?}: a short-lived token for uploads and
/// deletions (issue 20), after the password and, for a user with an authenticator, a code.
async fn upload_token(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<UploadTokenRequest>,
) -> Result<Response, ApiError> {
    let UploadTokenRequest { uid, password, code } = req;
    let issued = upload_tokens::issue(&state, uid, Password::from(password), code, client).await?;
    Ok(no_store(StatusCode::OK, Json(issued)))
}
