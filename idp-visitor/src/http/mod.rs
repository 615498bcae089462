//! The HTTP routes (documented in `docs/visitor-idp.md`). Handlers are thin: extract, call
//! [`crate::grant`] or the store, map the result; the token endpoint writes one audit entry
//! for every answer to an authenticated client, and only counts the others in memory.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use federation::pat::GRANT_TYPE_SAML2_BEARER;
use rand_core::OsRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::audit::{AuditEntry, Outcome};
use crate::clients::{generate_secret, hash_secret, normalize_purposes, validate_registration, Client};
use crate::error::{no_store, ApiError, OAuthError};
use crate::grant::{self, token_hash, AuthMethod, Params};
use crate::state::AppState;
use crate::throttle::{addr_key, client_key};

/// How long one request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most audit entries returned by one `GET /admin/audit`.
pub const MAX_AUDIT_PAGE: usize = 1000;

/// The routes (without layers; see [`app`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/introspect", post(introspect))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/pbe/authority", get(authority))
        .route("/healthz", get(healthz))
        .route("/admin/clients", get(list_clients).post(create_client))
        .route("/admin/clients/{client_id}", get(get_client).put(put_client).delete(delete_client))
        .route("/admin/audit", get(audit_log))
}

/// The whole app: routes, a problem-document 404, a request timeout and request tracing
/// (method and path only). Body limits are applied by the handlers that read bodies, so each
/// answers an oversized body in its own error format.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(router())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(axum::middleware::map_response(|res: Response| async move {
            let bare = !res.headers().contains_key(header::CONTENT_TYPE);
            if res.status() == StatusCode::REQUEST_TIMEOUT && bare {
                ApiError::Timeout.into_response()
            } else {
                res
            }
        }))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |req: &Request| tracing::info_span!("request", method = %req.method(), path = %req.uri().path()),
        ))
        .with_state(state)
}

/// The body, at most `limit` bytes: `Err(true)` if larger, `Err(false)` if unreadable.
async fn read_body(req: Request, limit: usize) -> Result<Bytes, bool> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(true);
    }
    axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit exceeded") {
                return true;
            }
            source = s.source();
        }
        false
    })
}

fn content_type_is(headers: &HeaderMap, want: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
}

fn client_ip(req: &Request) -> Option<IpAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, OAuthError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| OAuthError::ServerError(format!("worker task: {e}")))
}

/// Reads the form of an OAuth endpoint: content type, size, parameters.
async fn read_form(state: &AppState, req: Request) -> Result<Params, OAuthError> {
    if !content_type_is(req.headers(), "application/x-www-form-urlencoded") {
        return Err(OAuthError::InvalidRequest(
            "send the parameters as application/x-www-form-urlencoded".into(),
        ));
    }
    let limit = state.config.max_body_bytes;
    let body = read_body(req, limit).await.map_err(|too_large| {
        if too_large {
            OAuthError::PayloadTooLarge { limit }
        } else {
            OAuthError::InvalidRequest("the request body could not be read".into())
        }
    })?;
    Params::parse(&body)
}

/// Authenticates the client of an OAuth request, with throttling.
async fn authenticate_client(
    state: &AppState,
    authorization: Option<&str>,
    params: &Params,
    ip: Option<IpAddr>,
    audit: &mut AuditEntry,
) -> Result<Client, OAuthError> {
    let creds = grant::credentials(authorization, params)?.ok_or(OAuthError::InvalidClient)?;
    audit.client_id = Some(creds.client_id.chars().take(128).collect());
    let method = creds.method;
    // A secret verified before is recognised by its HMAC without argon2 and without the
    // throttle: no guess can match it, and a client locked by someone else's guesses keeps
    // working with its real secret.
    if let Some(client) = state.store.get_client(&creds.client_id)? {
        if state.secrets.remembered(&client, &creds.secret) {
            audit.client_authenticated = true;
            return Ok(client);
        }
    }
    let now = state.now();
    let (ck, ak) = (client_key(&creds.client_id), addr_key(ip));
    let params = state.throttle.params();
    // Reserve before hashing: parallel guesses cannot all pass a check that has not counted
    // them yet (federation::throttle).
    let reservation = state
        .throttle
        .reserve(&[(&ck, params), (&ak, params)], now)
        .map_err(|retry_after| OAuthError::Throttled { retry_after })?;
    let st = state.clone();
    let result = blocking(move || grant::authenticate(&st, &creds)).await?;
    match result {
        Ok(client) => {
            reservation.succeeded(&[&ck]);
            audit.client_authenticated = true;
            tracing::debug!(client_id = %client.client_id, basic = method == AuthMethod::Basic, "client authenticated");
            Ok(client)
        }
        Err(e) => {
            reservation.failed();
            Err(e)
        }
    }
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u32,
    scope: String,
    #[serde(flatten)]
    pat: federation::pat::PatFields,
}

/// `POST /oauth2/token`: the RFC 7522 grant.
async fn token(State(state): State<AppState>, req: Request) -> Response {
    let mut audit = AuditEntry::new(state.now(), Outcome::Refused);
    match token_inner(&state, req, &mut audit).await {
        Ok(grant) => {
            tracing::info!(client_id = ?audit.client_id, purposes = ?audit.purposes, "PAT issued");
            let body = TokenResponse {
                access_token: grant.access_token,
                token_type: "Bearer",
                expires_in: grant.expires_in,
                scope: grant.scope,
                pat: grant.fields,
            };
            let mut res = (StatusCode::OK, Json(body)).into_response();
            no_store(&mut res);
            res
        }
        Err(e) => {
            audit.error = Some(e.code().to_owned());
            audit.reason = Some(match &e {
                OAuthError::ServerError(_) => "server error".to_owned(),
                other => other.description(),
            });
            if !audit.client_authenticated {
                // Anonymous: counted in memory only (shown by /healthz), so junk traffic cannot
                // grow the database. Logged at debug level for the same reason.
                state.refused_unauthenticated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(error = e.code(), "token request refused before client authentication");
                return e.into_response();
            }
            tracing::info!(client_id = ?audit.client_id, error = e.code(), "token request refused");
            if let Err(store_err) = state.store.append_audit(&audit) {
                tracing::error!(error = %store_err, "could not write the audit entry");
                return OAuthError::ServerError("audit".into()).into_response();
            }
            e.into_response()
        }
    }
}

async fn token_inner(
    state: &AppState,
    req: Request,
    audit: &mut AuditEntry,
) -> Result<grant::Grant, OAuthError> {
    let ip = client_ip(&req);
    let authorization =
        req.headers().get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
    let params = read_form(state, req).await?;
    grant::check_grant_type(&params)?;
    let client = authenticate_client(state, authorization.as_deref(), &params, ip, audit).await?;
    let assertion = params
        .get("assertion")
        .ok_or_else(|| OAuthError::InvalidRequest("the assertion parameter is missing".into()))?;
    let scope = params.get("scope").map(str::to_owned);
    let assertion = assertion.to_owned();
    let st = state.clone();
    let mut a = audit.clone();
    let (result, a) = blocking(move || {
        let now = st.now();
        let r = grant::verify_assertion(&st, &assertion).and_then(|verified| {
            grant::exchange(&st, &client, &verified, scope.as_deref(), now, &mut a, &mut OsRng)
        });
        (r, a)
    })
    .await?;
    *audit = a;
    result
}

/// `POST /oauth2/introspect` (RFC 7662): client-authenticated; a client sees only its own
/// tokens as active.
async fn introspect(State(state): State<AppState>, req: Request) -> Response {
    let ip = client_ip(&req);
    let authorization =
        req.headers().get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
    let result = async {
        let params = read_form(&state, req).await?;
        let mut audit = AuditEntry::new(state.now(), Outcome::Refused);
        let client = authenticate_client(&state, authorization.as_deref(), &params, ip, &mut audit)
            .await
            .inspect_err(|_| {
                state.refused_unauthenticated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            })?;
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::InvalidRequest("the token parameter is missing".into()))?;
        let now = state.now();
        let record = state
            .store
            .get_token(&token_hash(token))?
            .filter(|t| t.exp > now && t.client_id == client.client_id);
        Ok::<_, OAuthError>(match record {
            Some(t) => serde_json::json!({
                "active": true,
                "client_id": t.client_id,
                "scope": t.scope.join(" "),
                "token_type": "Bearer",
                "exp": t.exp,
                "iat": t.iat,
                "sub": t.sub,
                "iss": state.config.entity_id,
                "idp": t.idp,
            }),
            None => serde_json::json!({"active": false}),
        })
    }
    .await;
    match result {
        Ok(v) => {
            let mut res = Json(v).into_response();
            no_store(&mut res);
            res
        }
        Err(e) => e.into_response(),
    }
}

/// RFC 8414 authorization server metadata.
async fn metadata(State(state): State<AppState>) -> Json<serde_json::Value> {
    let base = &state.config.public_url;
    Json(serde_json::json!({
        "issuer": base,
        "token_endpoint": state.config.token_endpoint(),
        "introspection_endpoint": format!("{base}/oauth2/introspect"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": [GRANT_TYPE_SAML2_BEARER],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "saml2_entity_id": state.config.entity_id,
        "pbe_authority": state.keys.authority_name(),
        "pbe_suite": state.keys.suite().name(),
        "pbe_authority_endpoint": format!("{base}/pbe/authority"),
        "transaction_purposes": state.config.transaction_purposes,
        "max_assertion_age_days": state.config.max_assertion_age_days,
    }))
}

/// The grant-receipt verification key (JWK set).
async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"keys": [state.keys.receipt().public_jwk()]}))
}

/// The ABE authority: same shape as the home IdP's `/pbe/authority`.
async fn authority(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "suite": state.keys.suite().name(),
        "authority": state.keys.authority_name(),
        "public_key": state.keys.authority_public_key_text(),
    }))
}

/// Liveness, and the in-memory count of requests refused before client authentication.
async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    let refused = state.refused_unauthenticated.load(std::sync::atomic::Ordering::Relaxed);
    Json(serde_json::json!({"status": "ok", "refused_unauthenticated": refused}))
}

// ---- admin ----

/// An admin request (the configured admin token, compared in constant time).
#[derive(Debug, Clone, Copy)]
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.config.admin_token.as_ref().ok_or(ApiError::AdminDisabled)?;
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or(ApiError::Unauthorized("the admin bearer token is required"))?;
        if bool::from(token_hash(given).ct_eq(&token_hash(expected.expose()))) {
            Ok(AdminAuth)
        } else {
            tracing::warn!("admin request with a wrong token");
            Err(ApiError::Unauthorized("the admin bearer token is wrong"))
        }
    }
}

/// A JSON body of at most `max_body_bytes`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !content_type_is(req.headers(), "application/json") {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = state.config.max_body_bytes;
        let bytes = read_body(req, limit).await.map_err(|too_large| {
            if too_large {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::InvalidInput("the request body could not be read".into())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::InvalidInput(format!("malformed JSON body: {e}")))
    }
}

/// A client registration as sent to `/admin/clients`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    client_id: String,
    #[serde(default)]
    name: String,
    purposes: Vec<String>,
    #[serde(default)]
    pat_public_key: Option<String>,
    #[serde(default)]
    entity_id: Option<String>,
    #[serde(default)]
    may_exchange_for: Vec<String>,
    /// Optional: generated (and returned once) when absent on creation; kept when absent on
    /// replacement.
    #[serde(default)]
    client_secret: Option<crate::config::Secret>,
}

/// A client as shown by the admin API (no secret hash).
#[derive(Serialize)]
struct ClientView {
    client_id: String,
    name: String,
    purposes: Vec<String>,
    pat_public_key: Option<String>,
    created: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    may_exchange_for: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        ClientView {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            purposes: c.purposes.clone(),
            pat_public_key: c.pat_public_key.clone(),
            created: c.created,
            entity_id: c.entity_id.clone(),
            may_exchange_for: c.may_exchange_for.clone(),
            client_secret: None,
        }
    }
}

async fn list_clients(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<Vec<ClientView>>, ApiError> {
    Ok(Json(state.store.list_clients()?.iter().map(ClientView::from).collect()))
}

async fn get_client(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(client_id): Path<String>,
) -> Result<Json<ClientView>, ApiError> {
    let c = state.store.get_client(&client_id)?.ok_or_else(|| ApiError::NotFound("no such client".into()))?;
    Ok(Json(ClientView::from(&c)))
}

/// Validates, hashes the secret (or generates one, or keeps `existing`'s), stores, audits.
async fn store_client(
    state: &AppState,
    body: ClientBody,
    existing: Option<Client>,
) -> Result<(Client, Option<String>), ApiError> {
    validate_registration(
        &body.client_id,
        &body.name,
        &body.purposes,
        body.pat_public_key.as_deref(),
        state.keys.suite(),
    )
    .map_err(|(field, reason)| ApiError::InvalidInput(format!("{field}: {reason}")))?;
    crate::clients::validate_exchange_fields(body.entity_id.as_deref(), &body.may_exchange_for)
        .map_err(|(field, reason)| ApiError::InvalidInput(format!("{field}: {reason}")))?;
    let (hash, shown) = match (body.client_secret, &existing) {
        (Some(s), _) => {
            if s.expose().len() < crate::config::MIN_SECRET_LEN || s.expose().len() > 512 {
                return Err(ApiError::InvalidInput("client_secret must be 32-512 characters".into()));
            }
            let h = tokio::task::spawn_blocking(move || hash_secret(s.expose()))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map_err(ApiError::Internal)?;
            (h, None)
        }
        (None, Some(e)) => (e.secret_hash.clone(), None),
        (None, None) => {
            let secret = generate_secret();
            let s2 = secret.clone();
            let h = tokio::task::spawn_blocking(move || hash_secret(&s2))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map_err(ApiError::Internal)?;
            (h, Some(secret))
        }
    };
    let now = state.now();
    let client = Client {
        client_id: body.client_id,
        name: body.name,
        secret_hash: hash,
        purposes: normalize_purposes(&body.purposes),
        pat_public_key: body.pat_public_key,
        created: existing.as_ref().map_or(now, |e| e.created),
        entity_id: body.entity_id,
        may_exchange_for: body.may_exchange_for,
    };
    state.store.put_client(&client)?;
    state.secrets.forget(&client.client_id);
    let mut entry = AuditEntry::new(now, Outcome::ClientStored);
    entry.client_id = Some(client.client_id.clone());
    entry.purposes = client.purposes.clone();
    state.store.append_audit(&entry)?;
    Ok((client, shown))
}

async fn create_client(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiJson(body): ApiJson<ClientBody>,
) -> Result<Response, ApiError> {
    if state.store.get_client(&body.client_id)?.is_some() {
        return Err(ApiError::Conflict(
            "the client exists; use PUT /admin/clients/{client_id} to replace it".into(),
        ));
    }
    let (client, secret) = store_client(&state, body, None).await?;
    let mut view = ClientView::from(&client);
    view.client_secret = secret;
    let mut res = (StatusCode::CREATED, Json(view)).into_response();
    no_store(&mut res);
    Ok(res)
}

async fn put_client(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(client_id): Path<String>,
    ApiJson(body): ApiJson<ClientBody>,
) -> Result<Response, ApiError> {
    if body.client_id != client_id {
        return Err(ApiError::InvalidInput("client_id in the body differs from the one in the path".into()));
    }
    let existing = state.store.get_client(&client_id)?;
    let created = existing.is_none();
    let (client, secret) = store_client(&state, body, existing).await?;
    let mut view = ClientView::from(&client);
    view.client_secret = secret;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let mut res = (status, Json(view)).into_response();
    no_store(&mut res);
    Ok(res)
}

async fn delete_client(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.store.delete_client(&client_id)? {
        return Err(ApiError::NotFound("no such client".into()));
    }
    state.secrets.forget(&client_id);
    let mut entry = AuditEntry::new(state.now(), Outcome::ClientDeleted);
    entry.client_id = Some(client_id);
    state.store.append_audit(&entry)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<usize>,
    /// A NameID to look for (hashed server-side with the audit key); needs `idp`.
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    idp: Option<String>,
}

/// `GET /admin/audit?after=SEQ&limit=N[&subject=NAMEID&idp=ENTITY_ID]`.
async fn audit_log(
    State(state): State<AppState>,
    _: AdminAuth,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::InvalidInput(format!("bad query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_AUDIT_PAGE);
    let subject = match (&q.subject, &q.idp) {
        (Some(s), Some(i)) => Some(state.keys.audit_hash("sub", &[i, s])),
        (None, None) => None,
        _ => return Err(ApiError::InvalidInput("subject and idp go together".into())),
    };
    let mut entries = Vec::new();
    let mut after = q.after;
    // Scan forward until `limit` matching entries or the end of the log.
    loop {
        let page = state.store.list_audit(after, MAX_AUDIT_PAGE)?;
        let done = page.len() < MAX_AUDIT_PAGE;
        for (seq, e) in page {
            after = seq;
            if subject.is_none() || e.subject == subject {
                entries.push(serde_json::json!({"seq": seq, "entry": e}));
                if entries.len() == limit {
                    break;
                }
            }
        }
        if done || entries.len() == limit {
            break;
        }
    }
    let mut res = Json(serde_json::json!({"entries": entries, "next_after": after})).into_response();
    no_store(&mut res);
    Ok(res)
}
