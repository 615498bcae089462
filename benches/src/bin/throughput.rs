//! The services under load (issue 22 item 3; `make throughput`, not part of `make test`): the
//! whole quickstart stack in this process on loopback ports, driven by a bounded closed-loop
//! client at concurrency 1, 4 and 16 for a fixed duration per step, reporting throughput and
//! the p50/p95/p99 latency each client saw, and where the time went (the services' own
//! request-duration and store-duration histograms from `/metrics`, read before and after).
//!
//! Scenarios (each request is what a real peer sends; nothing is called in-process):
//! - **sso**: a browser with an IdP session (no password) follows the shopping agent's
//!   redirect and fetches the home IdP's SSO answer (TAT, HPKE seal, ciphertexts, XML
//!   signature). The timed request is the IdP hop; the agent's redirect is in the loop.
//! - **token**: `POST /oauth2/token` (RFC 7522) at the visitor IdP with a fresh signed
//!   assertion each time (produced by the home IdP beforehand, not timed).
//! - **acs**: `POST /saml/acs` at the shopping agent with a fresh SAMLResponse and the
//!   sign-in cookie of the browser that asked for it (produced beforehand, not timed): verify,
//!   TAT, the RFC 7522 exchange, PAT, PII fetch and decryption.
//! - **proxy**: `GET /cart` through the shopping agent with a signed-in session.
//! - **password**: the sign-in form with a password (`POST /saml/login`; argon2id dominates it
//!   by design and the IdP bounds concurrent hashes, so it is reported apart).
//!
//! Bounds: loopback only, at most `MAX_PREPARED` prepared inputs per step, every request with
//! a 30 s timeout, and each step stops at its deadline. `THROUGHPUT_SECONDS` sets the
//! duration of a step (default 5).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use idaas::browser::{form_input, location, through_consent};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
type Request = std::pin::Pin<Box<dyn std::future::Future<Output = Res<Duration>> + Send>>;

/// A prepared scenario: `work(i)` performs request `i` (of at most `inputs`) and returns the
/// latency of its timed part.
struct Load {
    inputs: usize,
    work: Arc<dyn Fn(usize) -> Request + Send + Sync>,
}

impl Load {
    fn new(inputs: usize, work: impl Fn(usize) -> Request + Send + Sync + 'static) -> Self {
        Load { inputs, work: Arc::new(work) }
    }
}

const CONCURRENCY: [usize; 3] = [1, 4, 16];
/// Most inputs (assertions, responses) prepared for one step.
const MAX_PREPARED: usize = 4000;

fn client(cookies: bool) -> Res<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// What one step measured.
struct Step {
    ok: usize,
    failed: BTreeMap<String, usize>,
    elapsed: Duration,
    /// Latencies of the successful requests, microseconds, sorted.
    micros: Vec<u64>,
}

impl Step {
    fn percentile(&self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.micros.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.micros.len()) - 1;
        self.micros.get(i).copied().unwrap_or_default() as f64 / 1000.0
    }
}

/// Runs `concurrency` closed-loop workers until `duration` has passed or the inputs ran out.
/// `work(i)` performs request `i` and returns the latency of its timed part.
async fn drive(concurrency: usize, duration: Duration, load: Load) -> Step {
    let Load { inputs, work } = load;
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new((Vec::new(), BTreeMap::<String, usize>::new())));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (work, next, results) = (work.clone(), next.clone(), results.clone());
        workers.spawn(async move {
            let (mut mine, mut failed) = (Vec::new(), BTreeMap::<String, usize>::new());
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= inputs {
                    break;
                }
                match work(i).await {
                    Ok(latency) => mine.push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX)),
                    Err(e) => *failed.entry(e.to_string()).or_default() += 1,
                }
            }
            let mut all = results.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            all.0.extend(mine);
            for (k, v) in failed {
                *all.1.entry(k).or_default() += v;
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let (mut micros, failed) =
        std::mem::take(&mut *results.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    micros.sort_unstable();
    Step { ok: micros.len(), failed, elapsed, micros }
}

/// The sum and count of every `*_seconds` histogram series in a metrics text.
fn histogram_sums(text: &str) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::<String, (f64, f64)>::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        for (suffix, is_sum) in [("_sum", true), ("_count", false)] {
            let Some(name_end) = series.find('{').or(Some(series.len())) else { continue };
            let (name, labels) = series.split_at(name_end);
            if let Some(base) = name.strip_suffix(suffix).filter(|b| b.ends_with("_seconds")) {
                // Status and outcome labels are dropped: the breakdown is by route and op.
                let labels: Vec<&str> = labels
                    .trim_matches(|c| c == '{' || c == '}')
                    .split(',')
                    .filter(|l| !l.starts_with("status=") && !l.starts_with("method=") && !l.is_empty())
                    .collect();
                let entry = out.entry(format!("{base}{{{}}}", labels.join(","))).or_default();
                if is_sum {
                    entry.0 += value;
                } else {
                    entry.1 += value;
                }
            }
        }
    }
    out
}

/// Where the time went during a step: mean server-side time per request of each route or
/// store operation that served requests in it.
fn breakdown(before: &str, after: &str) -> Vec<String> {
    let (b, a) = (histogram_sums(before), histogram_sums(after));
    let mut rows: Vec<(f64, String)> = a
        .iter()
        .filter_map(|(k, (sum, count))| {
            let (s0, c0) = b.get(k).copied().unwrap_or_default();
            let n = count - c0;
            (n >= 1.0).then(|| {
                let total = sum - s0;
                (total, format!("{k}: {n:.0} × {:.3} ms mean, {total:.2} s in all", total / n * 1000.0))
            })
        })
        .collect();
    rows.sort_by(|x, y| y.0.total_cmp(&x.0));
    rows.into_iter().take(14).map(|(_, s)| s).collect()
}

fn report(name: &str, concurrency: usize, step: &Step, before: &str, after: &str) {
    let rate = step.ok as f64 / step.elapsed.as_secs_f64();
    println!(
        "| {name} | {concurrency} | {rate:.0}/s | {:.2} | {:.2} | {:.2} | {} in {:.1} s{} |",
        step.percentile(50.0),
        step.percentile(95.0),
        step.percentile(99.0),
        step.ok,
        step.elapsed.as_secs_f64(),
        if step.failed.is_empty() { String::new() } else { format!(", failed: {:?}", step.failed) },
    );
    for line in breakdown(before, after) {
        println!("|   | | {line} | | | | |");
    }
}

fn main() -> Res<()> {
    let seconds: u64 = std::env::var("THROUGHPUT_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let only = std::env::args().nth(1);
    // The services run on their own runtime (2 workers, as on a 2-core server); the driver on
    // a single thread, so at most one core's worth of client work competes with them.
    let services = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let driver = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let stack = services
        .block_on(idaas::stack::start(benches::quickstart_options(dir.path())))
        .map_err(|e| e.to_string())?;
    let result = driver.block_on(run(&stack, Duration::from_secs(seconds), only.as_deref()));
    services.block_on(stack.stop());
    result
}

/// Everything a scenario needs from the stack.
#[derive(Clone)]
struct Urls {
    home: String,
    visitor: String,
    shop: String,
    password: String,
    secret: String,
}

async fn run(stack: &idaas::stack::Stack, duration: Duration, only: Option<&str>) -> Res<()> {
    let urls = Urls {
        home: stack.home_url.clone(),
        visitor: stack.visitor_url.clone(),
        shop: stack.agent_urls.first().cloned().ok_or("no agent")?,
        password: stack.password.clone(),
        secret: stack.client_secret("shopping").ok_or("no client secret for shopping")?,
    };
    println!(
        "throughput harness (issue 22): quickstart stack in-process, {} s per step, {} CPU(s)",
        duration.as_secs(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| scenario | concurrency | throughput | p50 ms | p95 ms | p99 ms | requests |");
    println!("|---|---|---|---|---|---|---|");
    let wanted = |name: &str| only.is_none_or(|o| o == name);
    for &c in &CONCURRENCY {
        for name in ["sso", "token", "acs", "proxy", "password"] {
            if !wanted(name) {
                continue;
            }
            let load = match name {
                "sso" => sso(&urls, c).await?,
                "token" => token(&urls, duration).await?,
                "acs" => acs(&urls, duration).await?,
                "proxy" => proxy(&urls).await?,
                _ => password(&urls),
            };
            let before = metrics(&urls).await?;
            let step = drive(c, duration, load).await;
            let after = metrics(&urls).await?;
            report(name, c, &step, &before, &after);
        }
    }
    Ok(())
}

/// Every service's metrics (home, visitor, agent), each series once.
async fn metrics(urls: &Urls) -> Res<String> {
    let c = client(false)?;
    let mut series = std::collections::BTreeSet::new();
    for url in [
        format!("{}/metrics", urls.home),
        format!("{}/metrics", urls.visitor),
        format!("{}/.idaas/metrics", urls.shop),
    ] {
        let text = c.get(url).send().await?.text().await?;
        // The store and phase families are process-wide (every service renders them under its own label):
        // without the label, each series counts once.
        series.extend(text.lines().filter(|l| !l.starts_with('#')).map(|l| {
            if l.starts_with("idaas_store_duration_seconds") || l.starts_with("idaas_phase_duration_seconds")
            {
                let mut parts = l.splitn(2, "service=\"");
                let head = parts.next().unwrap_or_default();
                let tail = parts.next().and_then(|t| t.split_once("\",")).map_or("", |(_, rest)| rest);
                format!("{head}{tail}")
            } else {
                l.to_owned()
            }
        }));
    }
    Ok(series.into_iter().collect::<Vec<_>>().join("\n"))
}

/// A browser signed in at the home IdP (and past the consent page for shopping once).
async fn browser_with_idp_session(urls: &Urls) -> Res<reqwest::Client> {
    let b = client(true)?;
    let r = b.get(format!("{}/saml/login?return_to=/cart", urls.shop)).send().await?;
    let sso = location(&r).ok_or("no redirect to the IdP")?;
    let page = b.get(&sso).send().await?.text().await?;
    let page = match form_input(&page, "csrf") {
        Some(csrf) if page.contains("name=\"password\"") => {
            b.post(format!("{}/saml/login", urls.home))
                .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", urls.password.as_str())])
                .send()
                .await?
                .text()
                .await?
        }
        _ => page,
    };
    let page = through_consent(&b, &urls.home, page).await?;
    form_input(&page, "SAMLResponse").ok_or("no SAMLResponse after the password")?;
    Ok(b)
}

/// One SSO hop with an IdP session: the agent's redirect, then the IdP's answer (timed).
/// Returns the latency of the IdP hop, the sign-in cookies the agent set and the answer page.
async fn sso_hop(urls: &Urls, b: &reqwest::Client) -> Res<(Duration, String, String)> {
    let r = client(false)?.get(format!("{}/saml/login?return_to=/cart", urls.shop)).send().await?;
    let cookies: Vec<String> = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let sso = location(&r).ok_or("no redirect to the IdP")?;
    let started = Instant::now();
    let r = b.get(&sso).send().await?;
    if !r.status().is_success() {
        return Err(format!("SSO answered {}", r.status()).into());
    }
    let page = r.text().await?;
    let latency = started.elapsed();
    if !page.contains("SAMLResponse") {
        return Err("SSO asked again (no IdP session?)".into());
    }
    Ok((latency, cookies.join("; "), page))
}

async fn sso(urls: &Urls, c: usize) -> Res<Load> {
    let mut browsers = Vec::new();
    for _ in 0..c {
        browsers.push(browser_with_idp_session(urls).await?);
    }
    let (urls, browsers) = (urls.clone(), Arc::new(browsers));
    Ok(Load::new(usize::MAX, move |i| {
        let (urls, browsers) = (urls.clone(), browsers.clone());
        Box::pin(async move {
            let b = browsers.get(i % browsers.len()).ok_or("no browser")?;
            Ok(sso_hop(&urls, b).await?.0)
        })
    }))
}

/// Fresh SAML answers for shopping, produced through SSO hops before a step (not timed):
/// as many as `rate_guess` requests per second would use, bounded by `MAX_PREPARED`.
async fn prepared_answers(urls: &Urls, duration: Duration, rate_guess: usize) -> Res<Vec<(String, String)>> {
    let n = (rate_guess * duration.as_secs() as usize).clamp(1, MAX_PREPARED);
    let b = browser_with_idp_session(urls).await?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (_, cookies, page) = sso_hop(urls, &b).await?;
        out.push((cookies, form_input(&page, "SAMLResponse").ok_or("no SAMLResponse")?));
    }
    Ok(out)
}

async fn token(urls: &Urls, duration: Duration) -> Res<Load> {
    use base64::Engine as _;
    let answers = prepared_answers(urls, duration, 600).await?;
    let assertions: Vec<String> = answers
        .iter()
        .filter_map(|(_, response)| {
            let xml = base64::engine::general_purpose::STANDARD.decode(response).ok()?;
            let xml = String::from_utf8(xml).ok()?;
            let start = xml.find("<saml:Assertion")?;
            let end = xml.rfind("</saml:Assertion>")? + "</saml:Assertion>".len();
            Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml.get(start..end)?))
        })
        .collect();
    let (http, n) = (client(false)?, assertions.len());
    let (url, secret, assertions) =
        (format!("{}/oauth2/token", urls.visitor), urls.secret.clone(), Arc::new(assertions));
    Ok(Load::new(n, move |i| {
        let (http, url, secret, assertions) = (http.clone(), url.clone(), secret.clone(), assertions.clone());
        Box::pin(async move {
            let assertion = assertions.get(i).ok_or("no assertion")?;
            let started = Instant::now();
            let r = http
                .post(&url)
                .basic_auth("shopping", Some(&secret))
                .form(&[("grant_type", federation::pat::GRANT_TYPE_SAML2_BEARER), ("assertion", assertion)])
                .send()
                .await?;
            let status = r.status();
            r.bytes().await?;
            if status != reqwest::StatusCode::OK {
                return Err(format!("token endpoint answered {status}").into());
            }
            Ok(started.elapsed())
        })
    }))
}

async fn acs(urls: &Urls, duration: Duration) -> Res<Load> {
    let answers = Arc::new(prepared_answers(urls, duration, 200).await?);
    let (http, n, url) = (client(false)?, answers.len(), format!("{}/saml/acs", urls.shop));
    Ok(Load::new(n, move |i| {
        let (http, url, answers) = (http.clone(), url.clone(), answers.clone());
        Box::pin(async move {
            let (cookies, response) = answers.get(i).ok_or("no answer")?;
            let started = Instant::now();
            let r = http
                .post(&url)
                .header(reqwest::header::COOKIE, cookies)
                .form(&[("SAMLResponse", response.as_str()), ("RelayState", "/cart")])
                .send()
                .await?;
            let status = r.status();
            r.bytes().await?;
            if status != reqwest::StatusCode::SEE_OTHER {
                return Err(format!("ACS answered {status}").into());
            }
            Ok(started.elapsed())
        })
    }))
}

async fn proxy(urls: &Urls) -> Res<Load> {
    let b = browser_with_idp_session(urls).await?;
    // Through the ACS once from this browser (its own sign-in cookie), so it has an agent
    // session.
    let r = b.get(format!("{}/saml/login?return_to=/cart", urls.shop)).send().await?;
    let sso = location(&r).ok_or("no redirect")?;
    let page = b.get(&sso).send().await?.text().await?;
    let response = form_input(&page, "SAMLResponse").ok_or("no SAMLResponse")?;
    let r =
        b.post(format!("{}/saml/acs", urls.shop)).form(&[("SAMLResponse", response.as_str())]).send().await?;
    if r.status() != reqwest::StatusCode::SEE_OTHER {
        return Err(format!("ACS answered {}", r.status()).into());
    }
    let url = format!("{}/cart", urls.shop);
    Ok(Load::new(usize::MAX, move |_| {
        let (b, url) = (b.clone(), url.clone());
        Box::pin(async move {
            let started = Instant::now();
            let r = b.get(&url).send().await?;
            let status = r.status();
            let body = r.bytes().await?;
            if status != reqwest::StatusCode::OK || !body.windows(3).any(|w| w == b"bob") {
                return Err(format!("proxy answered {status}").into());
            }
            Ok(started.elapsed())
        })
    }))
}

fn password(urls: &Urls) -> Load {
    let urls = urls.clone();
    Load::new(usize::MAX, move |i| {
        let urls = urls.clone();
        Box::pin(async move {
            // Colleagues behind many addresses, not one: from one address the IdP's
            // per-address throttle (rightly) answers 429 to a burst of sign-ins.
            let from = std::net::Ipv4Addr::new(127, 0, 3, u8::try_from(i % 250).unwrap_or(0) + 1);
            let b = reqwest::Client::builder()
                .cookie_store(true)
                .local_address(std::net::IpAddr::V4(from))
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()?;
            let r = b.get(format!("{}/saml/login?return_to=/cart", urls.shop)).send().await?;
            let sso = location(&r).ok_or("no redirect to the IdP")?;
            let page = b.get(&sso).send().await?.text().await?;
            let csrf = form_input(&page, "csrf").ok_or("no sign-in form")?;
            let started = Instant::now();
            let r = b
                .post(format!("{}/saml/login", urls.home))
                .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", urls.password.as_str())])
                .send()
                .await?;
            let status = r.status();
            let page = r.text().await?;
            let latency = started.elapsed();
            if !page.contains("SAMLResponse") && !idaas::browser::is_consent_page(&page) {
                return Err(format!("sign-in answered {status}").into());
            }
            Ok(latency)
        })
    })
}
