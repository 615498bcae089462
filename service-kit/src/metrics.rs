//! Prometheus metrics of one service (`/metrics`, OpenMetrics text), with the official
//! `prometheus-client` crate.
//!
//! Every label value comes from a bounded set, so no client can grow the series: the route is
//! axum's matched route *template* (`/admin/sps/{entity_id}`, never the path itself; requests
//! that match no route — the web agent's proxied requests, 404s at the IdPs — count under
//! `fallback`), the method is one of the standard ones or
//! `other`, the status is a number, and the event labels are `&'static str`s chosen in the code.
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `idaas_http_requests_total` | `route`, `method`, `status` | requests answered |
//! | `idaas_http_request_duration_seconds` | `route`, `method` | from the request to the response head |
//! | `idaas_sign_ins_total` | `outcome` | password sign-ins at the home IdP (`success`, `failure`, `throttled`, `busy`: no hashing slot) |
//! | `idaas_assertions_issued_total` | — | SAML responses with an assertion issued by the home IdP |
//! | `idaas_pats_issued_total` | — | Purpose Access Tokens issued by the visitor IdP |
//! | `idaas_decryptions_total` | `outcome` | PII values at a web agent: `opened`, `closed` (the keys do not satisfy the policy), `broken` |
//! | `idaas_refusals_total` | `reason` | requests refused for a security reason (forged or replayed assertion, bad client, …) |
//! | `idaas_throttled_total` | `limiter` | requests refused by a throttle or a queue bound |
//!
//! Every series carries the constant label `service` (`home`, `visitor`, `agent`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimiterLabels {
    limiter: &'static str,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    backend: &'static str,
    op: &'static str,
}

type StoreLatency = Family<StoreLabels, Histogram, fn() -> Histogram>;

/// Store operations of this process. The stores time themselves where every operation of a
/// kind passes (a sled write with its flush, holding the backup gate; a PostgreSQL query, in
/// `PgPool::run`), and know nothing of a service's `Metrics`: so this one family is shared
/// and registered in every service's registry (one service per process in production; the
/// quickstart's services all show the process's stores).
static STORE_LATENCY: std::sync::LazyLock<StoreLatency> =
    std::sync::LazyLock::new(|| Family::new_with_constructor(store_histogram));

fn store_histogram() -> Histogram {
    // 50 µs … ~1.6 s: a sled flush takes tens of microseconds to milliseconds.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Records one store operation: `backend` `sled` or `postgres`, `op` `write` or `query`.
pub fn observe_store(backend: &'static str, op: &'static str, seconds: f64) {
    STORE_LATENCY.get_or_create(&StoreLabels { backend, op }).observe(seconds);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

type PhaseLatency = Family<PhaseLabels, Histogram, fn() -> Histogram>;

/// The steps inside the costly requests (issue 22: "record where each request's time
/// goes"), e.g. `sso_tat` or `sso_sign`. Process-wide like [`STORE_LATENCY`], for the same
/// reason: the code that knows a phase (building a response on a blocking thread) has no
/// service's `Metrics` at hand. The phase names are static, so the label set is bounded.
static PHASE_LATENCY: std::sync::LazyLock<PhaseLatency> =
    std::sync::LazyLock::new(|| Family::new_with_constructor(store_histogram));

/// Records that one step named `phase` took `seconds`.
pub fn observe_phase(phase: &'static str, seconds: f64) {
    PHASE_LATENCY.get_or_create(&PhaseLabels { phase }).observe(seconds);
}

/// Runs `f`, recording its duration as `phase`.
pub fn timed<T>(phase: &'static str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    observe_phase(phase, started.elapsed().as_secs_f64());
    out
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~4 s: the pairing-heavy requests take milliseconds, the argon2 ones tenths.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latency,
    sign_ins: Family<OutcomeLabels, Counter>,
    assertions: Counter,
    pats: Counter,
    decryptions: Family<OutcomeLabels, Counter>,
    refusals: Family<ReasonLabels, Counter>,
    throttled: Family<LimiterLabels, Counter>,
}

/// The metrics of one service; cheap to clone (shared).
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// An empty set for `service` (`home`, `visitor`, `agent`).
    pub fn new(service: &'static str) -> Self {
        let mut registry =
            Registry::with_prefix_and_labels("idaas", [("service".into(), service.into())].into_iter());
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let latency: Latency = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from the request to the response head",
            latency.clone(),
        );
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        registry.register("sign_ins", "Password sign-ins by outcome", sign_ins.clone());
        let assertions = Counter::default();
        registry.register("assertions_issued", "SAML responses with an assertion issued", assertions.clone());
        let pats = Counter::default();
        registry.register("pats_issued", "Purpose Access Tokens issued", pats.clone());
        let decryptions = Family::<OutcomeLabels, Counter>::default();
        registry.register("decryptions", "PII values by outcome at a web agent", decryptions.clone());
        let refusals = Family::<ReasonLabels, Counter>::default();
        registry.register("refusals", "Requests refused for a security reason", refusals.clone());
        registry.register(
            "store_duration_seconds",
            "Time of store operations in this process (sled writes with their flush, PostgreSQL queries)",
            STORE_LATENCY.clone(),
        );
        registry.register(
            "phase_duration_seconds",
            "Time of the steps inside costly requests in this process (SSO: accept, consent, tat, seal, sign, …)",
            PHASE_LATENCY.clone(),
        );
        let throttled = Family::<LimiterLabels, Counter>::default();
        registry.register("throttled", "Requests refused by a throttle or a queue bound", throttled.clone());
        Metrics(Arc::new(Inner {
            registry,
            requests,
            latency,
            sign_ins,
            assertions,
            pats,
            decryptions,
            refusals,
            throttled,
        }))
    }

    /// A password sign-in: `success`, `failure` or `throttled`.
    pub fn sign_in(&self, outcome: &'static str) {
        self.0.sign_ins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// A SAML response with an assertion was issued.
    pub fn assertion_issued(&self) {
        self.0.assertions.inc();
    }

    /// A Purpose Access Token was issued.
    pub fn pat_issued(&self) {
        self.0.pats.inc();
    }

    /// `count` PII values with `outcome`: `opened`, `closed` or `broken`.
    pub fn decryptions(&self, outcome: &'static str, count: u64) {
        if count > 0 {
            self.0.decryptions.get_or_create(&OutcomeLabels { outcome }).inc_by(count);
        }
    }

    /// A request refused for a security reason (a short fixed slug).
    pub fn refusal(&self, reason: &'static str) {
        self.0.refusals.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// A request refused by the throttle or queue bound `limiter`.
    pub fn throttled(&self, limiter: &'static str) {
        self.0.throttled.get_or_create(&LimiterLabels { limiter }).inc();
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }

    fn observe(&self, route: String, method: &'static str, status: u16, seconds: f64) {
        self.0.latency.get_or_create(&RouteLabels { route: route.clone(), method }).observe(seconds);
        self.0.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    }
}

/// A method as a bounded label.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware counting every request (put it on the router with
/// `axum::middleware::from_fn_with_state(metrics, metrics::track)`; it reads the matched route
/// set by the router).
pub async fn track(State(metrics): State<Metrics>, req: Request<Body>, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("fallback", MatchedPath::as_str).to_owned();
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    metrics.observe(route, method, res.status().as_u16(), started.elapsed().as_secs_f64());
    res
}

/// `GET /metrics`: the exposition, to loopback clients only unless `public`; anyone else gets
/// 404 (the numbers tell an attacker how the service is doing). Put it behind a reverse proxy
/// with authentication, or scrape from the same host, when it must leave the machine.
pub fn exposition(metrics: &Metrics, client: Option<std::net::IpAddr>, public: bool) -> Response {
    if !public && !client.is_some_and(|ip| ip.is_loopback()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut res = metrics.render().into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_named_labelled_and_bounded() {
        let m = Metrics::new("home");
        m.sign_in("success");
        m.sign_in("success");
        m.sign_in("failure");
        m.pat_issued();
        m.decryptions("opened", 2);
        m.decryptions("closed", 0);
        m.refusal("forged_assertion");
        m.throttled("sign_in");
        m.observe("/saml/sso".into(), "GET", 200, 0.002);
        let text = m.render();
        assert!(text.contains(r#"idaas_sign_ins_total{service="home",outcome="success"} 2"#), "{text}");
        assert!(text.contains(r#"idaas_sign_ins_total{service="home",outcome="failure"} 1"#));
        assert!(text.contains(r#"idaas_pats_issued_total{service="home"} 1"#));
        assert!(text.contains(r#"idaas_decryptions_total{service="home",outcome="opened"} 2"#));
        assert!(!text.contains(r#"outcome="closed""#), "a zero count makes no series");
        assert!(text.contains(
            r#"idaas_http_requests_total{service="home",route="/saml/sso",method="GET",status="200"} 1"#
        ));
        assert!(text.contains("idaas_http_request_duration_seconds_bucket"));
        assert!(text.trim_end().ends_with("# EOF"));
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }

    #[test]
    fn only_loopback_clients_see_the_exposition_unless_public() {
        let m = Metrics::new("agent");
        let local = Some(std::net::IpAddr::from([127, 0, 0, 1]));
        let remote = Some(std::net::IpAddr::from([192, 0, 2, 1]));
        assert_eq!(exposition(&m, local, false).status(), StatusCode::OK);
        assert_eq!(exposition(&m, remote, false).status(), StatusCode::NOT_FOUND);
        assert_eq!(exposition(&m, None, false).status(), StatusCode::NOT_FOUND);
        assert_eq!(exposition(&m, remote, true).status(), StatusCode::OK);
    }
}
