//! Problem documents (RFC 9457 style, `application/problem+json`), the response side: every
//! service's API error renders through [`response`], so the body, content type and caching
//! are the same everywhere.
//!
//! The body is `federation::api::Problem`, the wire type the CLI and the data-owner client
//! read: writer and readers share one type.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use federation::api::Problem;

/// The content type of problem documents (the wire type is `federation::api::Problem`).
pub use federation::api::PROBLEM_JSON;

/// A problem document: `type` is `urn:idaas:problem:<slug>`; not cached (`no-store`). The
/// caller adds its own headers (`WWW-Authenticate`, `Retry-After`).
pub fn response(status: StatusCode, slug: &str, title: &str, detail: &str) -> Response {
    let body = Problem::new(slug, title, status.as_u16(), detail);
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut res = (status, bytes).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The detail of a 500: the cause is logged here (for the operator) and never sent (it may name
/// paths, keys or stored values).
pub fn internal_detail(cause: &str) -> String {
    tracing::error!(%cause, "internal error");
    "the server could not complete the request; the operator can find the cause in the log".to_owned()
}

/// Sets `Retry-After` to `seconds` (at least 1: a 0 would invite an immediate retry storm).
pub fn set_retry_after(res: &mut Response, seconds: u64) {
    if let Ok(v) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

/// Whether `res` is a bare answer of a tower layer (a 408 or 413 without a body type of its
/// own, or tower-http's plain-text 413), which the service should answer in its own format.
pub fn is_bare(res: &Response) -> bool {
    let ct = res.headers().get(header::CONTENT_TYPE).map(HeaderValue::as_bytes);
    match res.status() {
        StatusCode::REQUEST_TIMEOUT => ct.is_none(),
        StatusCode::PAYLOAD_TOO_LARGE => ct.is_none_or(|c| c.starts_with(b"text/plain")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_problem_has_its_type_status_and_no_store() {
        let res = response(StatusCode::REQUEST_TIMEOUT, "timeout", "Request timeout", "too slow");
        assert_eq!(res.status(), 408);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert!(!is_bare(&res));
        let body = axum::body::to_bytes(res.into_body(), 1 << 10).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["type"], "urn:idaas:problem:timeout");
        assert_eq!(v["status"], 408);
        assert!(is_bare(&StatusCode::REQUEST_TIMEOUT.into_response()));
    }
}
