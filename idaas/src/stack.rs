//! The paper's whole scenario in one process, on 127.0.0.1 (DESIGN.md §4): the home IdP
//! `telekom`, the visitor IdP `salesforce`, and two services — shopping and delivery — each a
//! web agent in front of a demo backend. Used by `idaas quickstart` and by the end-to-end
//! tests (with ephemeral ports and a manual clock).
//!
//! Ports with base `P`: shopping agent `P`, home IdP `P+1`, visitor IdP `P+2`, delivery agent
//! `P+3`, shopping backend `P+4`, delivery backend `P+5`. Base 0 picks free ports.
//!
//! First run in a data directory: the service providers and OAuth clients are registered,
//! `bob` is created in the group `customers` with a random password (`<dir>/bob.password`,
//! mode 0600), and the PII of Table 1 is encrypted **by the data-owner client** and uploaded
//! over HTTP. Later runs reuse everything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use federation::authority::AuthorityKey;
use pbe_core::SuiteId;
use service_kit::Clock;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The data owner of the scenario.
pub const USER: &str = "bob";
/// bob's group.
pub const GROUP: &str = "customers";
/// The home authority.
pub const HOME_AUTHORITY: &str = "telekom";
/// The visitor authority.
pub const VISITOR_AUTHORITY: &str = "salesforce";
/// The second domain of Table 1 (only its public key is needed).
pub const OTHER_DOMAIN: &str = "amazon";

/// One service of the scenario.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// Name (also the OAuth client ID).
    pub name: &'static str,
    /// Registered purposes at the visitor IdP.
    pub purposes: &'static [&'static str],
    /// Which Table 1 attributes it should see (for the printed table and the tests).
    pub expected: &'static [&'static str],
}

/// The name people see for a demo service ("shopping" → "Shopping service").
pub fn display_name(service: &str) -> String {
    let mut chars = service.chars();
    let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    format!("{first}{} service", chars.as_str())
}

/// The shopping and delivery services of DESIGN.md §4.
pub const SERVICES: [ServiceSpec; 2] = [
    ServiceSpec {
        name: "shopping",
        purposes: &["purpose:current", "ppurpose:purchase"],
        expected: &["lastname", "dob"],
    },
    ServiceSpec {
        name: "delivery",
        purposes: &["purpose:current", "purpose:contact", "ppurpose:delivery"],
        expected: &["lastname", "addresses"],
    },
];

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StackError(pub String);

macro_rules! ctx {
    ($e:expr, $what:expr) => {
        $e.map_err(|e| StackError(format!("{}: {}", $what, e)))
    };
}

mod admin;
mod bob;
mod configs;
pub use configs::{agent_toml, caller_toml, partner_toml, REPORTS_APPROVERS};
mod order;
pub use order::demo_order;
pub mod tls;
pub use admin::AdminToken;
use bob::{ensure_bob, store_table1};

/// Options of [`start`].
pub struct Options {
    /// Base port (0: free ports).
    pub base_port: u16,
    /// Data directory.
    pub data_dir: PathBuf,
    /// The clock every service uses.
    pub clock: Arc<dyn Clock>,
    /// The pairing suite of every authority (and so of every key and ciphertext).
    pub suite: SuiteId,
    /// Serve everything over https with certificates of a local CA (`DIR/tls/`, see
    /// [`tls::LocalTls`]).
    pub tls: bool,
    /// Where the home and visitor IdPs keep their records, and the agents their shared state
    /// (`store_url`, e.g.
    /// `postgres://…`: each in its own schema of that database); `None`: sled under the data
    /// directory. Keys stay files in the data directory either way.
    pub store_url: Option<String>,
    /// The public URLs of the services when they run as several instances behind load
    /// balancers (`None`: each service's own address). A second [`start`] with the same data
    /// directory, `store_url` and public URLs is a second instance of every service.
    pub public: Option<PublicUrls>,
}

/// Public base URLs (what entity IDs, ACS URLs and endpoints in metadata name).
#[derive(Debug, Clone)]
pub struct PublicUrls {
    /// The home IdP.
    pub home: String,
    /// The visitor IdP.
    pub visitor: String,
    /// The agents, in [`SERVICES`] order.
    pub agents: Vec<String>,
}

/// The running stack.
pub struct Stack {
    /// Home IdP base URL.
    pub home_url: String,
    /// Visitor IdP base URL.
    pub visitor_url: String,
    /// Agent base URLs, in [`SERVICES`] order.
    pub agent_urls: Vec<String>,
    /// Backend base URLs, in [`SERVICES`] order.
    pub backend_urls: Vec<String>,
    /// bob's password.
    pub password: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Whether this run created the data.
    pub created: bool,
    /// The home IdP's admin token (`/admin/*`) and its file.
    pub home_admin: AdminToken,
    /// The visitor IdP's admin token (`/admin/*`) and its file.
    pub visitor_admin: AdminToken,
    /// The local CA's certificate when the stack speaks https (`--tls`): what a client
    /// must trust.
    pub ca_file: Option<PathBuf>,
    /// Where this run's services listen (the same as the public URLs without load
    /// balancers).
    pub instances: PublicUrls,
    /// The home IdP's configuration (what `idaas home --config` would run as another
    /// instance, once given another `listen`).
    pub home_config: idp_home::Config,
    /// The services in shutdown order, front to back: the agents, the IdPs, the demo backends.
    tiers: Vec<Tier>,
}

/// Services stopped together: their shutdown signal and their serving tasks.
struct Tier {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Tier {
    fn new() -> (Self, impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) {
        let (stop, rx) = watch::channel(false);
        let shutdown = move || {
            let mut rx = rx.clone();
            Box::pin(async move {
                let _ = rx.wait_for(|s| *s).await;
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        };
        (Tier { stop, tasks: Vec::new() }, shutdown)
    }
}

impl Stack {
    /// Stops every service and waits for them, front to back: the agents first (their
    /// requests in flight still reach the IdPs and the backends), then the IdPs, then the demo
    /// backends. Stopping all at once answered in-flight proxied requests with 502 (issue 15).
    pub async fn stop(self) {
        for tier in self.tiers {
            let _ = tier.stop.send(true);
            for t in tier.tasks {
                let _ = t.await;
            }
        }
    }

    /// A browser (cookie jar, no redirects) that trusts the stack's local CA when it speaks
    /// https.
    pub fn browser(&self) -> Result<reqwest::Client, StackError> {
        crate::browser::client_trusting(self.ca_file.as_deref())
            .map_err(|e| StackError(format!("HTTP client: {e}")))
    }

    /// The OAuth client secret of `service` at the visitor IdP.
    pub fn client_secret(&self, service: &str) -> Option<String> {
        std::fs::read_to_string(self.data_dir.join("visitor/client-secrets").join(service))
            .ok()
            .map(|s| s.trim().to_owned())
    }
}

async fn bind(base: u16, offset: u16, tls: bool) -> Result<(TcpListener, String), StackError> {
    let port = if base == 0 {
        0
    } else {
        base.checked_add(offset).ok_or_else(|| StackError("base port too high".into()))?
    };
    let l = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| StackError(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://{}", ctx!(l.local_addr(), "local address")?);
    Ok((l, url))
}

/// The socket address of a base URL of the stack (`http(s)://127.0.0.1:PORT`).
fn listen_address(url: &str) -> Result<SocketAddr, String> {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    authority.parse().map_err(|e| format!("{url}: {e}"))
}

fn random_secret() -> String {
    use rand_core::RngCore;
    let mut b = [0u8; 18];
    rand_core::OsRng.fill_bytes(&mut b);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b)
}

/// Starts the whole scenario.
pub async fn start(opts: Options) -> Result<Stack, StackError> {
    let dir = opts.data_dir.clone();
    ctx!(service_kit::files::ensure_private_dir(&dir), dir.display())?;
    let (agent_l0, agent_u0) = bind(opts.base_port, 0, opts.tls).await?;
    let (home_l, home_own) = bind(opts.base_port, 1, opts.tls).await?;
    let (visitor_l, visitor_own) = bind(opts.base_port, 2, opts.tls).await?;
    let (agent_l1, agent_u1) = bind(opts.base_port, 3, opts.tls).await?;
    let (backend_l0, backend_u0) = bind(opts.base_port, 4, opts.tls).await?;
    let (backend_l1, backend_u1) = bind(opts.base_port, 5, opts.tls).await?;
    let instances = PublicUrls { home: home_own, visitor: visitor_own, agents: vec![agent_u0, agent_u1] };
    let public = opts.public.clone().unwrap_or_else(|| instances.clone());
    let (home_url, visitor_url, agent_urls) = (public.home, public.visitor, public.agents);
    let backend_urls = vec![backend_u0, backend_u1];
    let local_tls = if opts.tls {
        let names: Vec<String> = ["home", "visitor"]
            .into_iter()
            .map(str::to_owned)
            .chain(SERVICES.iter().flat_map(|s| [s.name.to_owned(), format!("{}-backend", s.name)]))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        Some(tls::LocalTls::ensure(&dir.join("tls"), &names)?)
    } else {
        None
    };
    let ca_file = local_tls.as_ref().map(tls::LocalTls::ca_file);
    let tls_of = |service: &str| local_tls.as_ref().map(|t| (t.cert(service), t.key(service)));

    // Keys first: the IdPs need the agents' sealing keys (of the kind of the level:
    // federation::seal::SealSuite) and each other's authority keys.
    let seal_suite = federation::seal::SealSuite::for_suite(opts.suite);
    let agent_keys = SERVICES
        .iter()
        .map(|s| ctx!(web_agent::keys::load_or_create(&dir.join(s.name), seal_suite), "agent key"))
        .collect::<Result<Vec<_>, _>>()?;
    let visitor_keys = ctx!(
        idp_visitor::keys::Keys::load_or_create(&dir.join("visitor"), VISITOR_AUTHORITY, opts.suite),
        "visitor keys"
    )?;
    // Each agent's SAML signing key: the home IdP then requires its AuthnRequests signed and
    // verifies its single-logout messages with the certificate.
    let saml_keys = SERVICES
        .iter()
        .zip(&agent_urls)
        .map(|(s, url)| {
            let name = format!("idaas web agent {url}/saml/metadata SAML signing");
            ctx!(
                federation::signing_key::SigningKey::load_or_create(&dir.join(s.name), &name),
                "agent SAML key"
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Identity propagation (docs/propagation.md): each agent's call-signing key.
    let call_keys = SERVICES
        .iter()
        .map(|s| {
            ctx!(web_agent::propagation::CallSigner::load_or_create(&dir.join(s.name)), "agent call key")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let other_domain =
        ctx!(AuthorityKey::load_or_create(&dir, OTHER_DOMAIN, opts.suite), "amazon authority")?;
    let token_endpoint = format!("{visitor_url}/oauth2/token");
    let home_admin = admin::admin_token(&dir, "home", idp_home::config::ADMIN_TOKEN_ENV)?;
    let visitor_admin = admin::admin_token(&dir, "visitor", idp_visitor::config::ADMIN_TOKEN_ENV)?;

    // The home IdP.
    let home_config = idp_home::Config {
        listen: ctx!(home_l.local_addr(), "address")?,
        public_url: home_url.clone(),
        entity_id: home_url.clone(),
        data_dir: dir.join("home"),
        authority: HOME_AUTHORITY.into(),
        suite: opts.suite,
        service_providers: SERVICES
            .iter()
            .zip(&agent_urls)
            .zip(&agent_keys)
            .zip(&saml_keys)
            .map(|(((service, url), key), saml_key)| idp_home::config::SpConfig {
                entity_id: format!("{url}/saml/metadata"),
                display_name: Some(display_name(service.name)),
                purposes: service.purposes.iter().map(|p| (*p).to_owned()).collect(),
                acs_urls: vec![format!("{url}/saml/acs")],
                authn_request_cert_pem: Some(saml_key.cert_pem().to_owned()),
                // groups for the agents' access rules; no e-mail address (none needs it).
                release: vec!["groups".into()],
                attribute_names: Default::default(),
                sign: Default::default(),
                authn_requests_signed: true,
                consent: None, // required (a PBE service): bots click Allow, browser::through_consent
                require_mfa: false,
                // Single logout, HTTP-Redirect both ways (docs/home-idp.md).
                slo: Some(idp_home::model::SloConfig {
                    url: format!("{url}/saml/slo"),
                    binding: Default::default(),
                    response_url: None,
                }),
                pbe: Some(idp_home::config::PbeConfig {
                    tat_public_key: key.public_text(),
                    visitor_entity_id: visitor_url.clone(),
                    visitor_token_endpoint: token_endpoint.clone(),
                    domain: VISITOR_AUTHORITY.into(),
                    country: "eu".into(),
                }),
            })
            .collect(),
        visitor_authorities: vec![
            idp_home::config::VisitorAuthority {
                name: VISITOR_AUTHORITY.into(),
                public_key: Some(visitor_keys.authority_public_key_text()),
                url: None,
            },
            idp_home::config::VisitorAuthority {
                name: OTHER_DOMAIN.into(),
                public_key: Some(other_domain.public_key_text()),
                url: None,
            },
        ],
        // People who register in the demo are customers of its shops (no administrator step).
        default_groups: vec![GROUP.into()],
        admin_token: Some(home_admin.token.clone()),
        tls_cert: tls_of("home").map(|(c, _)| c),
        tls_key: tls_of("home").map(|(_, k)| k),
        tls_ca_file: ca_file.clone(),
        store_url: opts.store_url.clone().map(idp_home::config::Secret::new),
        ..idp_home::Config::default()
    };
    let home = ctx!(idp_home::AppState::open(home_config.clone(), opts.clock.clone()), "home IdP")?;
    let metadata = idp_home::saml::metadata::metadata_xml(&home);
    let metadata_path = dir.join("home-metadata.xml");
    ctx!(std::fs::write(&metadata_path, &metadata), "home metadata")?;
    let (password, mut created) = ensure_bob(&home, &dir)?;

    // The visitor IdP.
    drop(visitor_keys);
    drop(saml_keys);
    let visitor_config = idp_visitor::Config {
        listen: ctx!(visitor_l.local_addr(), "address")?,
        public_url: visitor_url.clone(),
        entity_id: visitor_url.clone(),
        data_dir: dir.join("visitor"),
        authority: VISITOR_AUTHORITY.into(),
        suite: opts.suite,
        trusted_idps: vec![idp_visitor::config::TrustedIdpConfig {
            metadata: Some(metadata.clone()),
            ..Default::default()
        }],
        clients: SERVICES
            .iter()
            .zip(&agent_keys)
            .zip(&agent_urls)
            .map(|((s, key), url)| idp_visitor::config::ClientConfig {
                client_id: s.name.into(),
                client_secret: None,
                name: format!("the {} service", s.name),
                purposes: s.purposes.iter().map(|p| p.to_string()).collect(),
                pat_public_key: Some(key.public_text()),
                // The audience the home IdP writes for this service: its agent's entity ID.
                entity_id: Some(format!("{url}/saml/metadata")),
                // shopping → delivery: delivery exchanges the assertions shopping forwards.
                may_exchange_for: if s.name == PARTNER { vec!["shopping".into()] } else { Vec::new() },
            })
            .collect(),
        // The default body limit at every level: assertions carry digests of the PII, not the
        // ciphertexts (issue 15, defect 4), so they are a few KB whatever the suite.
        admin_token: Some(visitor_admin.token.clone()),
        tls_cert: tls_of("visitor").map(|(c, _)| c),
        tls_key: tls_of("visitor").map(|(_, k)| k),
        tls_ca_file: ca_file.clone(),
        store_url: opts.store_url.clone().map(idp_visitor::config::Secret::new),
        ..idp_visitor::Config::default()
    };
    let visitor = ctx!(idp_visitor::AppState::open(visitor_config, opts.clock.clone()), "visitor IdP")?;

    // The agents.
    let mut agents = Vec::new();
    for ((s, url), backend) in SERVICES.iter().zip(&agent_urls).zip(&backend_urls) {
        let secret_path = dir.join("visitor/client-secrets").join(s.name);
        let secret = ctx!(std::fs::read_to_string(&secret_path), secret_path.display())?.trim().to_owned();
        let mut toml =
            agent_toml(url, backend, &dir.join(s.name), &metadata_path, &token_endpoint, s.name, opts.suite);
        // shopping → delivery: shopping's backend may call delivery's `/ship` on bob's behalf.
        match s.name {
            "shopping" => {
                toml.push_str(&partner_toml(PARTNER, &agent_urls[1], &agent_keys[1].public_text()));
                toml.push_str(&configs::sensitive_reports_toml());
            }
            "delivery" => toml.push_str(&caller_toml("shopping", &call_keys[0].public_text(), &[ORDER_PATH])),
            _ => {}
        }
        let mut config = ctx!(web_agent::Config::from_toml_with_secret(&toml, &secret), "agent config")?;
        let own = instances.agents.get(agents.len()).map_or(url.as_str(), String::as_str);
        config.listen = ctx!(listen_address(own), "agent address")?;
        if let Some((cert, key)) = tls_of(s.name) {
            (config.tls_cert, config.tls_key) = (Some(cert), Some(key));
        }
        config.tls_ca_file.clone_from(&ca_file);
        config.store_url = opts.store_url.clone().map(web_agent::config::Secret::new); // checked by new()
        agents.push(ctx!(web_agent::AppState::new(config, &metadata, opts.clock.clone()), s.name)?);
    }

    let (mut idps, shutdown) = Tier::new();
    idps.tasks.push(tokio::spawn(idp_home::serve(home, home_l, shutdown())));
    idps.tasks.push(tokio::spawn(idp_visitor::serve(visitor, visitor_l, shutdown())));
    let (mut fronts, shutdown) = Tier::new();
    for (agent, l) in agents.into_iter().zip([agent_l0, agent_l1]) {
        fronts.tasks.push(tokio::spawn(web_agent::serve(agent, l, shutdown())));
    }
    let (mut backends, shutdown) = Tier::new();
    for ((s, l), agent) in SERVICES.iter().zip([backend_l0, backend_l1]).zip(&instances.agents) {
        let app = ctx!(
            crate::demo_backend::app_with_agent(s.name, Some(agent.clone()), ca_file.as_deref()),
            "demo backend"
        )?;
        let options = service_kit::ServeOptions::default();
        let files = tls_of(&format!("{}-backend", s.name))
            .map(|(cert, key)| service_kit::tls::TlsFiles { cert, key });
        backends.tasks.push(tokio::spawn(service_kit::serve_configured(app, l, options, files, shutdown())));
    }
    let mut stack = Stack {
        home_url,
        visitor_url,
        agent_urls,
        backend_urls,
        password,
        data_dir: dir,
        created,
        home_admin,
        visitor_admin,
        ca_file,
        instances,
        home_config,
        tiers: vec![fronts, idps, backends],
    };
    // Every run checks what is really stored and uploads what is missing: a run killed
    // between writing bob.password and the last upload is completed by the next one (issue 15).
    let stored = match opts.clock.today() {
        Ok(today) => store_table1(&stack, today).await,
        Err(e) => Err(StackError(e.to_string())),
    };
    match stored {
        Ok(uploaded) => created |= uploaded > 0,
        Err(e) => {
            stack.stop().await;
            return Err(e);
        }
    }
    stack.created = created;
    Ok(stack)
}

/// The partner shopping calls on an order.
pub const PARTNER: &str = "delivery";
/// The delivery path the shopping backend calls (the only one shopping may call).
pub const ORDER_PATH: &str = "/ship";
