//! `idaas quickstart`: the paper's scenario on this machine, until Ctrl-C.

use std::sync::Arc;

use idaas::stack::{self, Options, SERVICES};

use crate::cli::{DemoBackendArgs, QuickstartArgs};
use crate::serve::{init_logging, runtime, shutdown_signal, ServeError};

/// Runs the quickstart.
pub fn run(a: QuickstartArgs) -> Result<(), ServeError> {
    init_logging();
    let clock: Arc<dyn service_kit::Clock> = match &a.now {
        None => Arc::new(service_kit::SystemClock),
        Some(d) => {
            let day =
                crate::pbe::parse_day("--now", Some(d)).map_err(|e| ServeError::usage(e.to_string()))?;
            Arc::new(service_kit::clock::OffsetClock::on_day(day))
        }
    };
    if a.reset && a.data_dir.exists() {
        std::fs::remove_dir_all(&a.data_dir)
            .map_err(|e| ServeError::usage(format!("--reset: {}: {e}", a.data_dir.display())))?;
    }
    let today = pbe_core::segtree::format_date(clock.today().map_err(|e| ServeError::usage(e.to_string()))?);
    runtime()?.block_on(async move {
        let stack = stack::start(Options {
            base_port: a.base_port,
            data_dir: a.data_dir.clone(),
            clock,
            suite: a.suite,
            tls: a.tls,
            store_url: a.store_url.as_ref().map(|u| u.expose().to_owned()),
            public: None,
        })
        .await
        .map_err(|e| ServeError::usage(e.to_string()))?;
        let pw_file = a.data_dir.join("bob.password");
        println!();
        println!(
            "idaas quickstart — the paper's scenario, today = {today}{}",
            if a.now.is_some() { " (--now)" } else { "" }
        );
        println!();
        println!("  {:<26}{:<26}sign-in, PII vault, /saml/metadata", "home IdP (telekom)", stack.home_url);
        println!("  {:<26}{:<26}RFC 7522 token endpoint", "visitor IdP (salesforce)", stack.visitor_url);
        if let Some(url) = &a.store_url {
            println!("  {:<26}{url}", "records in");
        }
        for (s, url) in SERVICES.iter().zip(&stack.agent_urls) {
            let label = format!("{} service", s.name);
            println!("  {label:<26}{:<26}purposes: {}", format!("{url}/"), s.purposes.join(", "));
        }
        println!();
        if let Some(ca) = &stack.ca_file {
            println!("  https with a local CA: trust {}", ca.display());
            println!("               (curl --cacert FILE; SSL_CERT_FILE=FILE idaas pii …; a browser's certificate settings)");
        }
        println!("  sign in as:  {}  /  {}   (also in {})", stack::USER, stack.password, pw_file.display());
        println!(
            "  {} Table 1 encrypted by the data-owner client{}",
            if stack.created { "stored" } else { "kept" },
            if stack.created { "" } else { " on an earlier run" }
        );
        let ca = stack.ca_file.as_ref().map(|c| format!(" --ca-file {}", c.display())).unwrap_or_default();
        println!(
            "  bob's wallet: IDAAS_PASSWORD=$(cat {}) idaas wallet --home {} --user {}{ca}",
            pw_file.display(),
            stack.home_url,
            stack::USER
        );
        println!("               (his data and rules in a local web app; docs/wallet.md)");
        let where_ = |a: &idaas::stack::AdminToken, env: &str| match &a.file {
            Some(f) => f.display().to_string(),
            None => format!("${env}"),
        };
        println!(
            "  admin APIs:  home {}   visitor {}",
            where_(&stack.home_admin, "IDAAS_HOME_ADMIN_TOKEN"),
            where_(&stack.visitor_admin, "IDAAS_VISITOR_ADMIN_TOKEN")
        );
        println!("               (Authorization: Bearer <token>; docs/quickstart.md registers your own SP and client)");
        println!();
        println!("  what each service should see (DESIGN.md §4):");
        for s in SERVICES.iter() {
            println!("    {:<10} {}", s.name, s.expected.join(", "));
        }
        println!("    (14+ days after encryption: addresses no longer open; try --now)");
        println!(
            "    {}/admin is reserved for 'full' access: bob gets a 403 page there",
            stack.agent_urls[0]
        );
        println!();
        println!("  identity propagation (docs/propagation.md): POST {}/order (the", stack.agent_urls[0]);
        println!("  \"Place an order\" button) makes shopping's backend call delivery's /ship through");
        println!(
            "  {}/.idaas/partners/{}/ship on bob's behalf. Run once now:",
            stack.agent_urls[0],
            stack::PARTNER
        );
        match stack::demo_order(&stack).await {
            Ok(order) => {
                for key in ["shopping_saw", "delivery_saw"] {
                    let pii = order[key]["pii"]
                        .as_object()
                        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "));
                    println!("    {key:<13} user {}, pii: {}", order[key]["user"], pii.unwrap_or_default());
                }
                println!("    (delivery decrypted with its own PAT; dob never reaches it)");
            }
            Err(e) => println!("    the order failed: {e}"),
        }
        println!();
        println!("  Ctrl-C stops everything; data stays in {} (--reset starts over).", a.data_dir.display());
        shutdown_signal().await;
        stack.stop().await;
        Ok(())
    })
}

/// `idaas demo-backend`: one demo backend, until Ctrl-C.
pub fn demo_backend(a: DemoBackendArgs) -> Result<(), ServeError> {
    init_logging();
    let service: &'static str = Box::leak(a.service.into_boxed_str());
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(|e| ServeError::usage(format!("cannot listen on {}: {e}", a.listen)))?;
        tracing::info!(addr = %a.listen, service, "demo backend listening");
        let app =
            idaas::demo_backend::app(service).map_err(|e| ServeError::usage(format!("HTTP client: {e}")))?;
        // The services' time bounds (header-read, idle, shutdown grace) at their defaults.
        service_kit::serve(app, listener, service_kit::ServeOptions::default(), shutdown_signal())
            .await
            .map_err(|e| ServeError::usage(e.to_string()))
    })
}
