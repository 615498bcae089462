//! A web agent on an ephemeral port in front of a recording backend (which also plays a
//! propagation partner), signed in against a throw-away IdP key, and a raw TCP client so
//! that nothing is normalised on the client side.
#![allow(dead_code)] // helpers for the test modules that need them

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::http::{HeaderMap, Uri};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use federation::assertion::{build_signed_response, AttributeValues, Recipient, ResponseParams};
use federation::testing::TestSigner;
use service_kit::ManualClock;
use web_agent::session::{Propagation, Session};
use web_agent::{AppState, Config};

/// 2025-10-09, noon UTC.
pub const T0: i64 = 1_760_011_200;
/// The IdP's entity ID.
pub const IDP: &str = "https://idp.example";

/// What the recording server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request target exactly as received (path and query).
    pub target: String,
    /// The headers.
    pub headers: HeaderMap,
}

/// A server that records every request and answers 200 with hostile headers: an idaas
/// `Set-Cookie`, identity headers, a header named in `Connection`.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub url: String,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let app =
            axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: axum::body::Body| {
                let log = log.clone();
                async move {
                    // Read the whole body first, as an upload endpoint does: a backend that answered
                    // before reading would race the agent's detection of a malformed client body.
                    let _ = axum::body::to_bytes(body, 64 << 20).await;
                    let target = uri.path_and_query().map_or(String::new(), |p| p.as_str().to_owned());
                    log.lock().unwrap().push(Seen { target, headers });
                    let mut h = HeaderMap::new();
                    h.append("set-cookie", "idaas_idp_session=planted; Path=/".parse().unwrap());
                    h.append(
                        "set-cookie",
                        "__Host-idaas_agent_00000000=planted; Path=/; Secure".parse().unwrap(),
                    );
                    h.append("set-cookie", "theme=light; Path=/".parse().unwrap());
                    h.append("x-idaas-user", "mallory".parse().unwrap());
                    h.append("x-idaas-pii-dob", "1900-01-01".parse().unwrap());
                    h.append("x_idaas_user", "mallory".parse().unwrap());
                    h.append("connection", "x-hop-secret".parse().unwrap());
                    h.append("x-hop-secret", "1".parse().unwrap());
                    h.append("x-kept", "yes".parse().unwrap());
                    (h, "recorded")
                }
            });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await });
        Recorder { seen, url }
    }

    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn metadata(cert_b64: &str) -> String {
    format!(
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"{IDP}\">\
         <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
         <md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
         <ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
         <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{IDP}/saml/sso\"/>\
         </md:IDPSSODescriptor></md:EntityDescriptor>"
    )
}

fn signer() -> &'static TestSigner {
    static S: OnceLock<TestSigner> = OnceLock::new();
    S.get_or_init(|| TestSigner::new(14))
}

/// A running agent.
pub struct Agent {
    pub url: String,
    pub addr: SocketAddr,
    pub state: AppState,
    /// The backend (base path `/base`).
    pub backend: Recorder,
    /// The partner `p` (its agent's `/.idaas/call/…` is recorded).
    pub partner: Recorder,
    /// Fires the agent's shutdown.
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The serving task.
    pub served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Options of [`Agent::start`].
#[derive(Default)]
pub struct Opts {
    /// `public_url` scheme https (TLS terminated in front of the agent).
    pub https: bool,
    /// `egress_allowed_sources`.
    pub egress_sources: Vec<IpAddr>,
    /// `request_timeout_secs` (the default when `None`).
    pub request_timeout_secs: Option<u64>,
    /// More top-level TOML lines (e.g. the listener time bounds).
    pub extra_toml: String,
    /// The data directory (another instance's: the same key files); a fresh one when `None`.
    pub data_dir: Option<std::path::PathBuf>,
    /// `public_url` (one name for several instances behind a load balancer); the listener's
    /// address when `None`.
    pub public_url: Option<String>,
    /// More `[[access.rules]]` entries (after the default rule).
    pub access_toml: String,
    /// The agent's clock (a fresh one at [`T0`] when `None`).
    pub clock: Option<Arc<ManualClock>>,
}

impl Agent {
    pub async fn start(opts: Opts) -> Agent {
        let backend = Recorder::start().await;
        let partner = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let public = match &opts.public_url {
            Some(p) => p.clone(),
            None if opts.https => format!("https://{addr}"),
            None => format!("http://{addr}"),
        };
        let tat_key = web_agent::keys::load_or_create(
            &dir.path().join("partner"),
            federation::seal::SealSuite::X25519Aes128,
        )
        .unwrap()
        .public_text();
        let sources: Vec<String> = opts.egress_sources.iter().map(|a| format!("\"{a}\"")).collect();
        let toml = format!(
            "public_url = \"{public}\"\nbackend_url = \"{backend}/base\"\ndata_dir = \"{data}\"\n\
             public_paths = [\"/pub\"]\negress_allowed_sources = [{sources}]\n{timeout}{extra}\
             [home_idp]\nmetadata_file = \"unused.xml\"\n\
             [access]\ndefault_level = \"none\"\nadmin_paths = [\"/admin\"]\n\
             [[access.rules]]\nprefix = \"/\"\ngroups = {{ customers = \"read_write\" }}\n{access}\
             [[partners]]\nname = \"p\"\nurl = \"{partner}\"\ntat_key = \"{tat_key}\"\n",
            backend = backend.url,
            partner = partner.url,
            data = opts.data_dir.clone().unwrap_or_else(|| dir.path().join("agent")).display(),
            sources = sources.join(", "),
            timeout =
                opts.request_timeout_secs.map_or(String::new(), |t| format!("request_timeout_secs = {t}\n")),
            extra = opts.extra_toml,
            access = opts.access_toml,
        );
        let config = Config::from_toml(&toml).unwrap();
        let clock = opts.clock.clone().unwrap_or_else(|| Arc::new(ManualClock::new(T0)));
        let state = AppState::new(config, &metadata(&signer().cert_base64()), clock).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(web_agent::serve(state.clone(), l, async {
            let _ = stopped.await;
        }));
        Agent {
            url: format!("http://{addr}"),
            addr,
            state,
            backend,
            partner,
            stop: Some(stop),
            served: Some(served),
            _dir: dir,
        }
    }

    /// A signed IdP response for this agent answering `request_id`.
    pub fn response(&self, request_id: &str) -> String {
        self.response_with(
            request_id,
            vec![AttributeValues::uri(
                federation::assertion::ATTR_IS_MEMBER_OF,
                "isMemberOf",
                vec!["customers".into()],
            )],
        )
    }

    /// [`Agent::response`] with other attributes (as another IdP would name them).
    pub fn response_with(&self, request_id: &str, attributes: Vec<AttributeValues>) -> String {
        let acs = self.state.config.acs_url();
        let params = ResponseParams {
            signed_parts: Default::default(),
            issuer: IDP.into(),
            destination: acs.clone(),
            in_response_to: Some(request_id.to_owned()),
            name_id: "bob".into(),
            recipients: vec![Recipient { url: acs, in_response_to: Some(request_id.to_owned()) }],
            audiences: vec![self.state.config.entity_id.clone()],
            now: T0,
            lifetime: 300,
            session_index: "s1".into(),
            session_not_on_or_after: T0 + 3600,
            authn_instant: T0,
            attributes,
        };
        let s =
            build_signed_response(&params, &signer().key_der, &signer().cert_base64(), &mut rand_core::OsRng)
                .unwrap();
        s.xml
    }

    /// A session with propagation material, created directly; returns (cookie, handle).
    pub fn propagatable_session(&self) -> (String, String) {
        let cookie = self.state.sessions.create(
            Session {
                user: "bob".into(),
                name_id: "bob".into(),
                groups: vec!["customers".into()],
                pii: BTreeMap::new(),
                session_index: "s1".into(),
                expires: T0 + 3600,
                closed: 0,
                missing: Vec::new(),
                approvals: Vec::new(),
                handle: String::new(),
                propagation: Some(Propagation::new(
                    "<a/>".into(),
                    "_a".into(),
                    vec![1, 2, 3],
                    String::new(),
                    Vec::new(),
                )),
            },
            T0,
        );
        let handle = self.state.sessions.get(&cookie, T0).unwrap().handle.clone();
        (cookie, handle)
    }
}

/// An HTTP answer read off the wire.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// Every value of header `name` (case-insensitive).
    pub fn headers(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

/// Sends `request` (bytes, exactly) over a fresh TCP connection, optionally from `source`,
/// and reads the answer (the request should say `Connection: close`). 20 s at most.
pub async fn raw(to: SocketAddr, source: Option<IpAddr>, request: Vec<u8>) -> Answer {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
    }
    let stream = socket.connect(to).await.unwrap().into_std().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // The server may answer and close before reading everything (413, 431): keep going.
        let _ = stream.write_all(&request);
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        Answer { status, head: head.to_owned(), body: body.to_owned() }
    })
    .await
    .unwrap()
}

/// A GET of `target` exactly as written, with extra header lines.
pub async fn get(agent: &Agent, target: &str, extra: &[(&str, &str)]) -> Answer {
    request(agent, None, "GET", target, extra, b"").await
}

/// Any request of `target` exactly as written.
pub async fn request(
    agent: &Agent,
    source: Option<IpAddr>,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut req =
        format!("{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", agent.addr).into_bytes();
    for (k, v) in extra {
        req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    if !body.is_empty() || method == "POST" {
        req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    raw(agent.addr, source, req).await
}

/// A browser: a cookie jar for one agent, each cookie by name.
#[derive(Default, Clone)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    /// The `Cookie` header value.
    pub fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// Takes the `Set-Cookie`s of an answer.
    pub fn absorb(&mut self, a: &Answer) {
        for c in a.headers("set-cookie") {
            let first = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = first.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
    }

    /// A request with this browser's cookies; its `Set-Cookie`s are kept.
    pub async fn send(
        &mut self,
        agent: &Agent,
        method: &str,
        target: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let cookie = self.cookie_header();
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if !cookie.is_empty() {
            headers.push(("Cookie", &cookie));
        }
        let a = request(agent, None, method, target, &headers, body).await;
        self.absorb(&a);
        a
    }

    /// Starts a sign-in; returns the AuthnRequest ID.
    pub async fn start_sign_in(&mut self, agent: &Agent, return_to: &str) -> String {
        let a = self.send(agent, "GET", &format!("/saml/login?return_to={return_to}"), &[], b"").await;
        assert_eq!(a.status, 302, "{a:?}");
        request_id(&a.headers("location")[0])
    }

    /// Posts a SAML response (XML) to the ACS.
    pub async fn post_response(&mut self, agent: &Agent, xml: &str) -> Answer {
        let form = format!("SAMLResponse={}", urlencode(&STANDARD.encode(xml)));
        self.send(
            agent,
            "POST",
            "/saml/acs",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
        .await
    }

    /// A full sign-in; returns the session cookie's value.
    pub async fn sign_in(&mut self, agent: &Agent) -> String {
        let id = self.start_sign_in(agent, "/x").await;
        let a = self.post_response(agent, &agent.response(&id)).await;
        assert_eq!(a.status, 303, "{a:?}");
        self.cookies.get(&*agent.state.cookie_name).cloned().expect("a session cookie")
    }
}

/// Percent-encodes for a form value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// The AuthnRequest ID in an HTTP-Redirect URL.
pub fn request_id(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    let encoded = url.query_pairs().find(|(k, _)| k == "SAMLRequest").unwrap().1.into_owned();
    let deflated = STANDARD.decode(encoded).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&deflated[..]), &mut xml).unwrap();
    let at = xml.find(" ID=\"").unwrap() + 5;
    xml[at..at + xml[at..].find('"').unwrap()].to_owned()
}

/// The paths access decisions were made on (tracing target `idaas_agent::decision`), in order.
pub fn decisions() -> &'static Mutex<Vec<(String, String)>> {
    static LOG: OnceLock<Mutex<Vec<(String, String)>>> = OnceLock::new();
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt as _;
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture));
    });
    LOG.get_or_init(Mutex::default)
}

struct Capture;

#[derive(Default)]
struct Fields {
    route: String,
    path: String,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "route" => self.route = value.to_owned(),
            "path" => self.path = value.to_owned(),
            _ => {}
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "idaas_agent::decision" {
            let mut f = Fields::default();
            event.record(&mut f);
            decisions().lock().unwrap().push((f.route, f.path));
        }
    }
}
