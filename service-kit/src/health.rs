//! `/readyz`: whether a service can do its work now (its store answers, its keys are loaded),
//! for a load balancer or an orchestrator; `/healthz` stays "the process is alive". A failed
//! check is logged with its reason and shown only as `failed`: the reason may name paths.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// Each check: `ok` or `failed`.
    pub checks: BTreeMap<&'static str, &'static str>,
}

/// 200 with every check `ok`, else 503 naming the failed ones.
pub fn readiness(checks: Vec<(&'static str, Result<(), String>)>) -> Response {
    let mut out = BTreeMap::new();
    let mut ready = true;
    for (name, result) in checks {
        match result {
            Ok(()) => {
                out.insert(name, "ok");
            }
            Err(reason) => {
                tracing::warn!(check = name, %reason, "readiness check failed");
                ready = false;
                out.insert(name, "failed");
            }
        }
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Readiness { status: if ready { "ready" } else { "not_ready" }, checks: out };
    (status, [(axum::http::header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failed_check_makes_it_not_ready() {
        assert_eq!(readiness(vec![("store", Ok(())), ("keys", Ok(()))]).status(), StatusCode::OK);
        let r = readiness(vec![("store", Err("/secret/path: io".into())), ("keys", Ok(()))]);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
