//! The admin API (`/admin/*`, the configured admin bearer token): client registrations and
//! the audit log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::{no_store, ApiError};
use super::extract::{AdminAuth, ApiJson};
use crate::audit::{AuditEntry, Outcome};
use crate::clients::{generate_secret, hash_secret, normalize_purposes, validate_registration, Client};
use crate::state::AppState;

/// Most audit entries returned by one `GET /admin/audit`.
pub const MAX_AUDIT_PAGE: usize = 1000;

/// The routes of this area (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/clients", get(list_clients).post(create_client))
        .route("/admin/clients/{client_id}", get(get_client).put(put_client).delete(delete_client))
        .route("/admin/audit", get(audit_log))
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
