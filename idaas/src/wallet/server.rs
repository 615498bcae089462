//! The wallet's routes and the guard in front of them.
//!
//! Every request must name this wallet in `Host` (`127.0.0.1:PORT` or `localhost:PORT`): a
//! page of another site that rebinds its DNS name to 127.0.0.1 is refused (DNS rebinding). A
//! state-changing request with an `Origin` other than this wallet's is refused, and every form
//! carries a CSRF token. Everything but `GET /open` needs the session cookie, which only the
//! one-time token of the printed URL gives (once). Bodies are bounded, requests time out, pages
//! carry a strict CSP, and nothing about values is logged (tracing sees method and path).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use pbe_core::disclosure_view::Reader;
use serde::Deserialize;
use service_kit::html::{message_page, message_page_with};

use super::body::read_form;
use super::form::FormInput;
use super::pages::{self, Preview};
use super::Inner;
use crate::owner::{OwnerError, PolicySource};

/// The session cookie's name.
pub const COOKIE: &str = "idaas_wallet";
/// The largest request body (a value of up to this size, form-encoded).
pub const BODY_LIMIT: usize = 256 * 1024;
/// The request timeout (the home IdP's answers included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

type Shared = Arc<Inner>;

/// The answer to a save or delete without the code an upload token needs.
const CODE_NEEDED: &str =
    "Type the code from your authenticator app: saving and deleting need a fresh sign-in \
                           every few minutes.";

/// The wallet's router, guarded.
pub fn router(inner: Shared) -> Router {
    let routes = Router::new()
        .route("/open", get(open))
        .route("/", get(index))
        .route("/edit", get(edit))
        .route("/preview", post(preview))
        .route("/save", post(save))
        .route("/delete", post(delete))
        .route(service_kit::html::STYLESHEET_PATH, get(|| async { service_kit::html::stylesheet() }))
        .route(SCRIPT_PATH, get(script))
        .layer(axum::middleware::from_fn_with_state(inner.clone(), guard))
        .with_state(inner);
    let layers = service_kit::layers::Layers {
        request_timeout: REQUEST_TIMEOUT,
        body_limit: Some(BODY_LIMIT),
        metrics: None,
        hsts: false,
    };
    service_kit::layers::stack(routes, layers, |status| {
        message_page(status, "Request refused", "The request was too large or too slow.")
    })
}

/// Compares two secrets without an early exit.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn ours(value: &str, port: u16, scheme: &str) -> bool {
    [format!("{scheme}127.0.0.1:{port}"), format!("{scheme}localhost:{port}")].iter().any(|v| v == value)
}

fn refused(why: &str) -> Response {
    message_page(StatusCode::FORBIDDEN, "Refused", why)
}

fn cookie_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

async fn guard(State(inner): State<Shared>, req: Request<Body>, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !ours(host, inner.port, "") {
        return refused("This wallet answers only on 127.0.0.1 and localhost.");
    }
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
    if changes {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            if !origin.to_str().is_ok_and(|o| ours(o, inner.port, "http://")) {
                return refused("A request from another site was refused.");
            }
        }
    }
    let path = req.uri().path();
    let public = path == "/open" || path == service_kit::html::STYLESHEET_PATH || path == SCRIPT_PATH;
    if !public && !cookie_of(req.headers()).is_some_and(|c| same(c.as_bytes(), inner.session.as_bytes())) {
        return refused("Open the wallet with the link idaas wallet printed when it started.");
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // Not `no-referrer`: browsers then send `Origin: null` on the wallet's own forms.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(service_kit::html::CSP_FORMS_SELF));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

#[derive(Deserialize)]
struct OpenQuery {
    token: Option<String>,
}

/// `GET /open?token=…`: the one-time token for the session cookie (single use).
async fn open(State(inner): State<Shared>, Query(q): Query<OpenQuery>) -> Response {
    let given = q.token.unwrap_or_default();
    let taken = inner.start_token.lock().ok().and_then(|mut slot| {
        let ok = slot.as_deref().is_some_and(|t| same(t.as_bytes(), given.as_bytes()));
        if ok {
            slot.take()
        } else {
            None
        }
    });
    if taken.is_none() {
        return refused("This link was already used or is wrong. Restart idaas wallet for a new one.");
    }
    let mut resp = Redirect::to("/").into_response();
    let cookie = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", inner.session);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

fn home_failed(e: &OwnerError) -> Response {
    message_page(StatusCode::BAD_GATEWAY, "The home IdP did not answer as expected", &e.to_string())
}

/// What the pages need from the home IdP.
struct Federation {
    home: String,
    domains: Vec<String>,
    services: Vec<federation::api::ServiceSummary>,
}

async fn federation(inner: &Inner, token: &str) -> Result<Federation, OwnerError> {
    let (_, home, keys) = inner.client.authorities().await?;
    let domains = keys.into_iter().map(|(a, _)| a).filter(|a| *a != home).collect();
    let services = inner.client.services(token).await?;
    Ok(Federation { home, domains, services })
}

/// The services that could open a value under `policy` today.
pub fn readers(
    policy: &str,
    services: &[federation::api::ServiceSummary],
    home: &str,
    today: u64,
) -> Vec<String> {
    services
        .iter()
        .filter(|s| match (&s.domain, &s.country) {
            (Some(domain), Some(country)) => {
                let r = Reader { domain, country, purposes: &s.purposes };
                pbe_core::disclosure_view::could_open(policy, &r, home, today)
            }
            _ => false,
        })
        .map(|s| s.name.clone())
        .collect()
}

#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
}

async fn index(State(inner): State<Shared>, Query(n): Query<Notice>) -> Response {
    let result = async {
        let token = inner.token().await?;
        let list = inner.client.list(&token).await?;
        let fed = federation(&inner, &token).await?;
        Ok::<_, OwnerError>((list, fed))
    }
    .await;
    match result {
        Ok((list, fed)) => pages::index(&pages::IndexData {
            user: &inner.user,
            list: &list,
            services: &fed.services,
            home: &fed.home,
            today: inner.today(),
            csrf: &inner.csrf,
            vault: inner.has_vault(),
            ask_code: inner.asks_code(),
            notice: n.done.as_deref(),
        }),
        Err(e) => home_failed(&e),
    }
}

#[derive(Deserialize)]
struct EditQuery {
    attr: Option<String>,
}

/// `GET /edit[?attr=NAME]`: the form, pre-filled with the stored rules of `NAME`.
async fn edit(State(inner): State<Shared>, Query(q): Query<EditQuery>) -> Response {
    let result = async {
        let token = inner.token().await?;
        let fed = federation(&inner, &token).await?;
        let mut form = FormInput { life: "days".into(), days: "30".into(), ..FormInput::default() };
        if let Some(attr) = q.attr.as_deref().filter(|a| !a.is_empty()) {
            let list = inner.client.list(&token).await?;
            form.attr = attr.to_owned();
            if let Some(rules) = list
                .iter()
                .find(|p| p.attribute == attr)
                .and_then(|p| pbe_core::disclosure_view::recover(&p.policy, &fed.home))
            {
                form = FormInput::from_policy(attr, &rules);
            }
        }
        Ok::<_, OwnerError>((fed, form))
    }
    .await;
    match result {
        Ok((fed, form)) => form_page(&inner, &fed, &form, None, None, StatusCode::OK),
        Err(e) => home_failed(&e),
    }
}

fn form_page(
    inner: &Inner,
    fed: &Federation,
    form: &FormInput,
    preview: Option<&Preview>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let kept =
        inner.vault.lock().ok().is_some_and(|v| v.as_ref().is_some_and(|v| v.get(&form.attr).is_some()));
    pages::form(&pages::FormData {
        form,
        domains: &fed.domains,
        preview,
        error,
        csrf: &inner.csrf,
        vault: inner.has_vault(),
        kept,
        ask_code: inner.asks_code(),
        status,
    })
}

fn csrf_ok(inner: &Inner, form: &FormInput) -> bool {
    same(form.csrf.as_bytes(), inner.csrf.as_bytes())
}

/// The path of the live preview's script.
pub const SCRIPT_PATH: &str = "/wallet.js";

/// `GET /wallet.js`: the live preview (a static file; the pages' CSP allows only scripts of
/// this origin, none inline).
async fn script() -> Response {
    let mut resp = include_str!("wallet.js").into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `POST /preview`: the compiled policy and who could open it, under the form (no JS needed;
/// the live preview's script posts here on every change and shows the answer's preview area).
async fn preview(State(inner): State<Shared>, req: Request<Body>) -> Response {
    let form = match read_form(req).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    if !csrf_ok(&inner, &form) {
        return refused("The form was stale or forged; reload the page.");
    }
    let fed = match async { federation(&inner, &inner.token().await?).await }.await {
        Ok(f) => f,
        Err(e) => return home_failed(&e),
    };
    let today = inner.today();
    match form.policy().and_then(|p| p.compile(&fed.home, today).map(|c| (p, c)).map_err(|e| e.to_string())) {
        Ok((p, compiled)) => {
            let policy = compiled.to_string();
            let preview = Preview {
                short: super::rules::print(&p),
                sentence: pbe_core::disclosure_view::describe(&policy, &fed.home).text,
                readers: readers(&policy, &fed.services, &fed.home, today),
                policy,
            };
            form_page(&inner, &fed, &form, Some(&preview), None, StatusCode::OK)
        }
        Err(e) => form_page(&inner, &fed, &form, None, Some(e.as_str()), StatusCode::UNPROCESSABLE_ENTITY),
    }
}

/// `POST /save`: encrypt here, upload the ciphertext, keep the value in the vault when on.
/// The value is the file's bytes when one was chosen, else the typed text, else the vault's.
async fn save(State(inner): State<Shared>, req: Request<Body>) -> Response {
    let form = match read_form(req).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    if !csrf_ok(&inner, &form) {
        return refused("The form was stale or forged; reload the page.");
    }
    let fed = match async { federation(&inner, &inner.token().await?).await }.await {
        Ok(f) => f,
        Err(e) => return home_failed(&e),
    };
    let bad = |msg: &str| form_page(&inner, &fed, &form, None, Some(msg), StatusCode::UNPROCESSABLE_ENTITY);
    if !federation::claims::is_pii_name(&form.attr) {
        return bad("Give the value a name: lower-case letters, digits, '_', '-', '.' (at most 64).");
    }
    let policy = match form.policy() {
        Ok(p) => p,
        Err(e) => return bad(e.as_str()),
    };
    let value: zeroize::Zeroizing<Vec<u8>> = if let Some(file) = &form.file {
        file.clone()
    } else if form.value.is_empty() {
        let kept = inner
            .vault
            .lock()
            .ok()
            .and_then(|v| v.as_ref().and_then(|v| v.get(&form.attr).map(<[u8]>::to_vec)));
        match kept {
            Some(v) => zeroize::Zeroizing::new(v),
            None if inner.has_vault() => {
                return bad("Type the value: the vault does not keep one under this name.")
            }
            None => return bad("Type the value again: without the vault, changing rules needs it."),
        }
    } else {
        zeroize::Zeroizing::new(form.value.as_bytes().to_vec())
    };
    let source = PolicySource::Disclosure(Box::new(policy), inner.today());
    let uploaded = async {
        let token = inner.upload_token(&form.code).await?;
        let (ct, _) = inner.client.encrypt(&source, &value).await?;
        inner.client.put(&token, &form.attr, &ct).await
    }
    .await;
    match uploaded {
        Err(OwnerError::CodeRequired) => return bad(CODE_NEEDED),
        Err(e) => return bad(e.to_string().as_str()),
        Ok(_) => {}
    }
    let kept = inner.vault.lock().ok().and_then(|mut v| v.as_mut().map(|v| v.set(&form.attr, &value)));
    if let Some(Err(e)) = kept {
        tracing::warn!(error = %e, "the wallet's vault could not be written");
        return message_page_with(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Saved, but not kept in the vault",
            &format!("The ciphertext was uploaded; the local vault failed: {e}"),
            &[("/", "Back to your data")],
        );
    }
    Redirect::to(&format!("/?done=saved+{}", form.attr)).into_response()
}

/// `POST /delete`: remove an attribute at the home IdP and from the vault.
async fn delete(State(inner): State<Shared>, Form(pairs): Form<Vec<(String, String)>>) -> Response {
    let form = FormInput::from_pairs(pairs);
    if !csrf_ok(&inner, &form) {
        return refused("The form was stale or forged; reload the page.");
    }
    if !federation::claims::is_pii_name(&form.attr) {
        return message_page(
            StatusCode::BAD_REQUEST,
            "No such value",
            "That is not the name of a stored value.",
        );
    }
    let removed =
        async { inner.client.remove(&inner.upload_token(&form.code).await?, &form.attr).await }.await;
    match removed {
        Err(OwnerError::CodeRequired) => {
            return message_page_with(
                StatusCode::UNAUTHORIZED,
                "A code is needed",
                CODE_NEEDED,
                &[("/", "Back to your data")],
            )
        }
        Err(e) => return home_failed(&e),
        Ok(()) => {}
    }
    if let Ok(mut v) = inner.vault.lock() {
        if let Some(Err(e)) = v.as_mut().map(|v| v.remove(&form.attr)) {
            tracing::warn!(error = %e, "the wallet's vault could not be written");
        }
    }
    Redirect::to(&format!("/?done=deleted+{}", form.attr)).into_response()
}
