//! Command-line grammar (clap). Exit codes: 0 success, 1 the keys do not satisfy the policy,
//! 2 bad input or usage (clap's own usage errors also exit 2).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// idaas: identity provider with purpose-based encryption.
#[derive(Debug, Parser)]
#[command(name = "idaas", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as human-readable text (default) or one JSON object per line (for a log
    /// pipeline). Logs go to stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text lines.
    Text,
    /// One JSON object per line (timestamp, level, target, fields, span).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Purpose-based encryption toolkit (modelled on cpabe-setup/keygen/enc/dec).
    #[command(subcommand)]
    Pbe(PbeCommand),
    /// Run the home IdP (SAML 2.0 IdP, PII vault, time/domain/country authority), or
    /// administer a running one (`idaas home sps import`).
    #[command(args_conflicts_with_subcommands = true)]
    Home(HomeArgs),
    /// Run the visitor IdP (OAuth 2.0 token endpoint for the RFC 7522 SAML bearer grant,
    /// issuing Purpose Access Tokens).
    Visitor(ServeArgs),
    /// Run a web agent (SAML SP + reverse proxy that passes decrypted PII to a backend), or
    /// roll its HPKE key over (`idaas agent keys`).
    #[command(args_conflicts_with_subcommands = true)]
    Agent(AgentArgs),
    /// Run the paper's whole scenario locally: home IdP, visitor IdP, shopping and delivery.
    Quickstart(QuickstartArgs),
    /// A demo backend that answers with the identity headers it received (JSON or HTML).
    DemoBackend(DemoBackendArgs),
    /// Data owner: a local web app (127.0.0.1) to write disclosure rules with a form and
    /// encrypt values on this machine (docs/wallet.md).
    Wallet(crate::wallet_cmd::WalletArgs),
    /// Data owner: encrypt PII locally and keep it in the home IdP's vault.
    #[command(subcommand)]
    Pii(PiiCommand),
    /// Create or upgrade a store's schema (the services also do it at start-up), and show its
    /// version. A newer schema than this build knows is refused.
    Migrate(MigrateArgs),
    /// Write one archive of a data directory: every sled store as a consistent snapshot
    /// (taken by the running service through its backup socket, or directly when none runs)
    /// and every key and file. PostgreSQL stores are backed up with pg_dump.
    Backup(BackupArgs),
    /// Recreate a data directory from an `idaas backup` archive (checked whole before anything
    /// is written; the directory must not exist or be empty).
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The data directory (a service's `data_dir`, or the quickstart's directory).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The archive to write (tar.gz, mode 0600; replaced only when complete).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive `idaas backup` wrote.
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// The data directory to create (must not exist, or be empty).
    #[arg(long)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (each service in its own schema) or
    /// `sled:PATH` (one service's database directory: give --service).
    #[arg(long, env = "IDAAS_STORE_URL", hide_env_values = true, value_parser = parse_store_url)]
    pub store_url: service_kit::pg::StoreUrl,
    /// Which service's schema.
    #[arg(long, value_enum, default_value_t = MigrateService::All)]
    pub service: MigrateService,
    /// A web agent's entity ID (its `entity_id`, by default `<public_url>/saml/metadata`):
    /// its schema `idaas_agent_<entity>` is migrated too (with `--service agent|all`;
    /// repeatable).
    #[arg(long = "agent", value_name = "ENTITY_ID")]
    pub agents: Vec<String>,
}

/// `idaas migrate --service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MigrateService {
    /// The home IdP (schema `idaas_home`).
    Home,
    /// The visitor IdP (schema `idaas_visitor`).
    Visitor,
    /// The web agents named by `--agent` (PostgreSQL only).
    Agent,
    /// Both IdPs and the agents named by `--agent` (PostgreSQL only).
    All,
}

/// `--store-url`: `sled:PATH` or `postgres://…` (the error never repeats the URL).
fn parse_store_url(s: &str) -> Result<service_kit::pg::StoreUrl, String> {
    s.parse().map_err(|e: service_kit::pg::StoreUrlError| e.to_string())
}

/// `idaas quickstart --store-url`: PostgreSQL only (sled is the default, under --data-dir).
fn parse_pg_url(s: &str) -> Result<service_kit::pg::PgUrl, String> {
    match parse_store_url(s)? {
        service_kit::pg::StoreUrl::Postgres(u) => Ok(u),
        service_kit::pg::StoreUrl::Sled(_) => {
            Err("the quickstart keeps sled under --data-dir; --store-url takes a postgres:// URL".into())
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoBackendArgs {
    /// The service name it reports.
    #[arg(long)]
    pub service: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Shopping agent on P, home IdP P+1, visitor IdP P+2, delivery agent P+3, backends P+4, P+5.
    #[arg(long, default_value_t = 8080)]
    pub base_port: u16,
    /// Where everything is kept between runs.
    #[arg(long, default_value = "./data/quickstart")]
    pub data_dir: PathBuf,
    /// Delete the data directory first and start over.
    #[arg(long)]
    pub reset: bool,
    /// Pretend today is this date (YYYY-MM-DD), e.g. 15 days on to see addresses expire.
    #[arg(long)]
    pub now: Option<String>,
    /// Pairing suite of the whole federation: bls12-381 (128-bit), bls24-479 (192-bit),
    /// bls48-581 (256-bit) or bn254 (legacy). Fixed when the data directory is created.
    #[arg(long, default_value = "bls12-381", value_parser = parse_suite_name)]
    pub suite: pbe_core::SuiteId,
    /// Serve every service over https, with certificates of a local CA created under
    /// DATA_DIR/tls/ (trust DATA_DIR/tls/ca.pem; the CA only signs for localhost and 127/8).
    #[arg(long)]
    pub tls: bool,
    /// Keep the home and visitor IdPs' records in this PostgreSQL database
    /// (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`; schemas `idaas_home`, `idaas_visitor`)
    /// instead of sled under --data-dir. Keys stay in --data-dir.
    #[arg(long, env = "IDAAS_STORE_URL", hide_env_values = true, value_parser = parse_pg_url)]
    pub store_url: Option<service_kit::pg::PgUrl>,
}

/// `--suite`: a known suite name, or an error listing them.
fn parse_suite_name(name: &str) -> Result<pbe_core::SuiteId, String> {
    pbe_core::SuiteId::from_name(name).ok_or_else(|| {
        let known: Vec<_> = pbe_core::SuiteId::ALL.iter().map(|s| s.name()).collect();
        format!("unknown suite '{name}' (known: {})", known.join(", "))
    })
}

#[derive(Debug, Subcommand)]
pub enum PiiCommand {
    /// Encrypt one attribute locally and store the ciphertext in the vault.
    Put(PiiPutArgs),
    /// List the stored attributes (names, policies, sizes; never values).
    List(PiiAccountArgs),
    /// Delete one stored attribute.
    Rm(PiiRmArgs),
}

#[derive(Debug, Args)]
pub struct PiiAccountArgs {
    /// The home IdP's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub home: String,
    /// Your user id. The password comes from IDAAS_PASSWORD or a prompt.
    #[arg(long)]
    pub user: String,
    /// For put and rm, when your account has an authenticator app: a code from it (or a
    /// recovery code); asked for when needed and not given.
    #[arg(long)]
    pub code: Option<String>,
}

#[derive(Debug, Args)]
pub struct PiiPutArgs {
    #[command(flatten)]
    pub account: PiiAccountArgs,
    /// Attribute name ([a-z0-9_.-], at most 64).
    #[arg(long)]
    pub attr: String,
    /// The value.
    #[arg(long, conflicts_with = "file", required_unless_present = "file")]
    pub value: Option<String>,
    /// Or a file holding the value.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// A disclosure policy (JSON or TOML; see docs/examples/).
    #[arg(long, conflicts_with_all = ["policy", "rules"], required_unless_present_any = ["policy", "rules"])]
    pub disclosure: Option<PathBuf>,
    /// Or a policy in the policy language.
    #[arg(long, conflicts_with = "rules")]
    pub policy: Option<String>,
    /// Or disclosure rules in the short form (docs/wallet.md), e.g.
    /// "domain=salesforce purposes=purchase,current for=30d country=eu".
    #[arg(long)]
    pub rules: Option<String>,
    /// The date a disclosure policy's validity starts from when it names none (default today).
    #[arg(long)]
    pub today: Option<String>,
}

#[derive(Debug, Args)]
pub struct PiiRmArgs {
    #[command(flatten)]
    pub account: PiiAccountArgs,
    /// Attribute name.
    #[arg(long)]
    pub attr: String,
}

/// `idaas home`: serve (`--config`), or an admin subcommand against a running home IdP.
#[derive(Debug, Args)]
pub struct HomeArgs {
    /// The home IdP's TOML configuration file (docs/home-idp.md); required to serve.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Check the configuration and key material, print a summary, and exit without serving.
    #[arg(long)]
    pub check: bool,
    #[command(subcommand)]
    pub admin: Option<HomeAdmin>,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The agent's TOML configuration file (docs/web-agent.md); required to serve.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Check the configuration and key material, print a summary, and exit without serving.
    #[arg(long)]
    pub check: bool,
    #[command(subcommand)]
    pub keys: Option<AgentAdmin>,
}

#[derive(Debug, Subcommand)]
pub enum AgentAdmin {
    /// The agent's HPKE key (TATs, PATs and PII are sealed to it): status and rollover.
    /// Works on the key files, whether the agent runs or not (docs/operations.md#key-rollover).
    #[command(subcommand)]
    Keys(AgentKeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum AgentKeysCommand {
    /// Show the current key and, during a rollover, the next one (public keys).
    Status(AgentKeyArgs),
    /// Create the next key: the agent opens seals to either key from now on and publishes it
    /// in its metadata; register it at the home and visitor IdPs, then activate.
    Rotate(AgentKeyArgs),
    /// Make the next key the current one and retire the old key (every IdP must seal to the
    /// next key by now).
    Activate(AgentKeyArgs),
}

#[derive(Debug, Args)]
pub struct AgentKeyArgs {
    /// The agent's TOML configuration file (its data_dir and security level).
    #[arg(long)]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum HomeAdmin {
    /// Service providers registered at a running home IdP (admin API).
    #[command(subcommand)]
    Sps(SpsCommand),
    /// The SAML signing key of a running home IdP: status, rollover (admin API).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show the current signing key, and the next one during a rollover.
    Status(AdminArgs),
    /// Publish a next signing key in the metadata; it signs after signing_key_overlap_secs.
    Rotate(AdminArgs),
    /// Sign with the published next key now, and retire the current one.
    Activate(AdminArgs),
}

/// How to reach a running home IdP's admin API.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The home IdP's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub home: String,
    /// A file holding the admin token (e.g. the quickstart's DIR/home.admin-token); else the
    /// environment variable IDAAS_HOME_ADMIN_TOKEN.
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SpsCommand {
    /// Register a SAML SP from its metadata (a file, or an http(s) URL to fetch it from).
    Import(SpsImportArgs),
}

#[derive(Debug, Args)]
pub struct SpsImportArgs {
    /// The SP's SAML metadata: a file path, or an http:// or https:// URL.
    pub source: String,
    /// The home IdP's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub home: String,
    /// A file holding the admin token (e.g. the quickstart's DIR/home.admin-token); else the
    /// environment variable IDAAS_HOME_ADMIN_TOKEN.
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// Replace an existing registration with the same entity ID.
    #[arg(long)]
    pub replace: bool,
}

/// Arguments of every long-running service.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The service's TOML configuration file (see docs/).
    #[arg(long)]
    pub config: PathBuf,
    /// Check the configuration and key material, print a summary, and exit without serving.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum PbeCommand {
    /// Create an attribute authority: writes DIR/NAME.pk and DIR/NAME.msk (mode 0600).
    Setup(SetupArgs),
    /// Issue a key bundle bound to (UID, SESSION) for attributes of the msk's authority.
    Keygen(KeygenArgs),
    /// Encrypt data under a policy or a disclosure policy.
    Encrypt(EncryptArgs),
    /// Decrypt with one or more key bundles of the same (UID, SESSION).
    Decrypt(DecryptArgs),
    /// Describe a key, key bundle or ciphertext (suite, policy, authorities, sizes).
    Inspect(InspectArgs),
    /// Run the paper's Table 1 lifecycle and print it as a table.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Authority name, e.g. telekom or salesforce ([a-z0-9_.-]+).
    #[arg(long)]
    pub authority: String,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Pairing suite: bls12-381 (default, 128-bit) or bn254 (legacy, ~100-bit).
    #[arg(long, default_value = "bls12-381")]
    pub suite: String,
    /// Replace an existing key pair.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The authority's master secret key file.
    #[arg(long)]
    pub msk: PathBuf,
    /// User id (first half of the linchpin).
    #[arg(long)]
    pub uid: String,
    /// Session id (second half of the linchpin, the SAML SessionIndex).
    #[arg(long)]
    pub session: String,
    /// Attributes: name:value, or name=NUMBER|YYYY-MM-DD for a numeric attribute (expanded to
    /// its segment-tree path). The authority is the msk's.
    #[arg(long = "attr", required = true, num_args = 1..)]
    pub attrs: Vec<String>,
    /// Output file for the key bundle (mode 0600).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// Authority public keys (every authority the policy names).
    #[arg(long = "pk", required = true, num_args = 1..)]
    pub pks: Vec<PathBuf>,
    /// Policy text, e.g. "domain:salesforce@telekom and purpose:current@salesforce".
    #[arg(long, conflicts_with = "disclosure", required_unless_present = "disclosure")]
    pub policy: Option<String>,
    /// Disclosure policy (JSON or TOML): purposes, primary_purposes, domains, countries,
    /// valid_from / lifetime_days / valid_until.
    #[arg(long)]
    pub disclosure: Option<PathBuf>,
    /// Home authority for a disclosure policy (default: the one public key that is not a
    /// domain of the policy).
    #[arg(long)]
    pub home: Option<String>,
    /// The date a disclosure policy's validity starts from when it names none (default: today, UTC).
    #[arg(long)]
    pub today: Option<String>,
    /// Input file (default: standard input).
    #[arg(long = "in")]
    pub input: Option<PathBuf>,
    /// Output file (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the base64url text form instead of binary.
    #[arg(long)]
    pub text: bool,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// Key bundles (e.g. a TAT and a PAT), all for the same (UID, SESSION).
    #[arg(long = "key", required = true, num_args = 1..)]
    pub keys: Vec<PathBuf>,
    /// Input file (default: standard input); binary or base64url text.
    #[arg(long = "in")]
    pub input: Option<PathBuf>,
    /// Output file (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A .pk, .msk, key bundle or ciphertext (binary or base64url text).
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Pretend today is this date (YYYY-MM-DD); default: today, UTC.
    #[arg(long)]
    pub today: Option<String>,
    /// Pairing suite.
    #[arg(long, default_value = "bls12-381")]
    pub suite: String,
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::Cli;

    /// Every `command:` of docker/compose.yml (written as JSON arrays) is accepted by the
    /// command line (a Docker engine is not available in CI, so this is what can be checked).
    #[test]
    fn compose_command_lines_parse() {
        let compose = include_str!("../../../../docker/compose.yml");
        let mut seen = 0;
        for line in compose.lines().map(str::trim) {
            let Some(json) = line.strip_prefix("command: ") else { continue };
            let args: Vec<String> = serde_json::from_str(json).unwrap_or_else(|e| panic!("{line}: {e}"));
            let argv = std::iter::once("idaas".to_owned()).chain(args);
            if let Err(e) = Cli::try_parse_from(argv) {
                panic!("{line}: {e}");
            }
            seen += 1;
        }
        assert_eq!(seen, 10, "two homes, two visitors, two instances of each agent, two backends");
    }
}
