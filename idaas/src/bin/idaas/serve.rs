//! Running the long-lived services: logging, the Tokio runtime, binding, and a clean stop on
//! Ctrl-C or SIGTERM. Each service crate exposes `serve(state, listener, shutdown)`; this
//! module only wires the process around it.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use crate::cli::ServeArgs;

/// A service that could not start (exit 2: configuration or key material) or failed while
/// running (exit 1).
#[derive(Debug)]
pub struct ServeError {
    message: String,
    code: u8,
}

impl ServeError {
    fn config(context: &Path, e: impl fmt::Display) -> Self {
        ServeError { message: format!("{}: {e}", context.display()), code: 2 }
    }

    /// A start-up error that is the user's to fix (exit 2).
    pub fn usage(message: String) -> Self {
        ServeError { message, code: 2 }
    }

    fn runtime(e: impl fmt::Display) -> Self {
        ServeError { message: e.to_string(), code: 1 }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Logs to standard error; `RUST_LOG` overrides the default `info` level.
/// The `--log-format` of this process (set once by `main`).
pub static LOG_FORMAT: std::sync::OnceLock<crate::cli::LogFormat> = std::sync::OnceLock::new();

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (tests, quickstart) keeps the first subscriber.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match LOG_FORMAT.get().copied().unwrap_or(crate::cli::LogFormat::Text) {
        crate::cli::LogFormat::Json => builder.json().with_current_span(true).try_init(),
        crate::cli::LogFormat::Text => {
            builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init()
        }
    };
}

/// Builds the multi-threaded runtime the services run on.
pub fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ServeError::runtime)
}

/// Resolves when the process receives Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// Binds `addr` and runs `serve` until a shutdown signal.
async fn bind_and_run<F, Fut>(addr: std::net::SocketAddr, what: &str, serve: F) -> Result<(), ServeError>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::runtime(format!("cannot listen on {addr}: {e}")))?;
    tracing::info!(%addr, "{what} listening");
    serve(listener).await.map_err(ServeError::runtime)
}

/// `idaas home --config FILE`.
pub fn home(args: ServeArgs) -> Result<(), ServeError> {
    init_logging();
    let mut config = idp_home::Config::load(&args.config).map_err(|e| ServeError::config(&args.config, e))?;
    let addr = config.listen;
    let rt = runtime()?;
    rt.block_on(idp_home::startup::fetch_authorities(&mut config))
        .map_err(|e| ServeError::config(&args.config, e))?;
    let clock: Arc<dyn service_kit::Clock> = Arc::new(service_kit::clock::SystemClock);
    let state = idp_home::AppState::open(config, clock).map_err(|e| ServeError::config(&args.config, e))?;
    let summary = format!(
        "home IdP: entity ID {}, authority {} ({}), listen {addr}",
        state.config.entity_id(),
        state.keys.authority_name(),
        state.keys.suite().name()
    );
    if args.check {
        println!("{summary}\nconfiguration OK");
        return Ok(());
    }
    tracing::info!("{summary}");
    rt.block_on(bind_and_run(addr, "home IdP", |listener| {
        idp_home::serve(state, listener, shutdown_signal())
    }))
}

/// `idaas visitor --config FILE`.
pub fn visitor(args: ServeArgs) -> Result<(), ServeError> {
    init_logging();
    let mut config =
        idp_visitor::Config::load(&args.config).map_err(|e| ServeError::config(&args.config, e))?;
    let addr = config.listen;
    let rt = runtime()?;
    rt.block_on(idp_visitor::state::fetch_metadata(&mut config))
        .map_err(|e| ServeError::config(&args.config, e))?;
    let clock: Arc<dyn service_kit::Clock> = Arc::new(service_kit::clock::SystemClock);
    let state =
        idp_visitor::AppState::open(config, clock).map_err(|e| ServeError::config(&args.config, e))?;
    let trust = state.trust();
    let trusted: Vec<&str> = trust.entity_ids().collect();
    let summary = format!(
        "visitor IdP: entity ID {}, token endpoint {}, authority {} ({}), trusted IdPs [{}], listen {addr}",
        state.config.entity_id,
        state.config.token_endpoint(),
        state.keys.authority_name(),
        state.keys.suite().name(),
        trusted.join(", ")
    );
    if args.check {
        println!("{summary}\nconfiguration OK");
        return Ok(());
    }
    if trusted.is_empty() {
        tracing::warn!("no trusted_idps configured: every token request will be refused");
    }
    tracing::info!("{summary}");
    rt.block_on(bind_and_run(addr, "visitor IdP", |listener| {
        idp_visitor::serve(state, listener, shutdown_signal())
    }))
}

/// `idaas agent --config FILE`: also reloads the access rules on SIGHUP, and with `--check`
/// runs the self-check (an unauthenticated request must be redirected to the IdP).
pub fn agent(args: ServeArgs) -> Result<(), ServeError> {
    init_logging();
    let config = web_agent::Config::load(&args.config).map_err(|e| ServeError::config(&args.config, e))?;
    let addr = config.listen;
    let rt = runtime()?;
    let metadata = rt
        .block_on(web_agent::AppState::load_metadata(&config))
        .map_err(|e| ServeError::config(&args.config, e))?;
    let clock: Arc<dyn service_kit::Clock> = Arc::new(service_kit::clock::SystemClock);
    let state = web_agent::AppState::new(config, &metadata, clock)
        .map_err(|e| ServeError::config(&args.config, e))?;
    let summary = format!(
        "web agent: entity ID {}, ACS {}, home IdP {}, backend {}, visitor {}, TAT public key {}, listen {addr}",
        state.config.entity_id,
        state.config.acs_url(),
        state.idp().entity_id,
        state.config.backend_url,
        state.config.visitor.as_ref().map_or("none (plain SAML)", |v| v.token_endpoint.as_str()),
        state.key.current().public_text(),
    );
    let check = rt.block_on(web_agent::self_check(state.clone()));
    if args.check {
        println!("{summary}");
        return match check {
            Ok(target) => {
                println!(
                    "self-check: an unauthenticated request is redirected to {target}\nconfiguration OK"
                );
                Ok(())
            }
            Err(e) => Err(ServeError::config(&args.config, format!("self-check failed: {e}"))),
        };
    }
    check.map_err(|e| ServeError::config(&args.config, format!("self-check failed: {e}")))?;
    tracing::info!("{summary}");
    let reload_state = state.clone();
    let path = args.config.clone();
    rt.block_on(async move {
        #[cfg(unix)]
        tokio::spawn(async move {
            let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                match reload_state.reload_rules(&path) {
                    Ok(()) => tracing::info!("access rules reloaded"),
                    Err(e) => tracing::error!(error = %e, "access rules not reloaded; the old ones stay"),
                }
            }
        });
        bind_and_run(addr, "web agent", |listener| web_agent::serve(state, listener, shutdown_signal())).await
    })
}
