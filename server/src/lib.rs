//! The Kluis server: holds ciphertext and metadata, never plaintext or keys.
//!
//! Layers (docs/architecture.md): `api/<area>.rs` parses HTTP and maps
//! results; `domain/` holds the rules; `store/` (metadata, units of work)
//! and `blobs/` (ciphertext) hold the data. Background tasks (`janitor`,
//! the mail worker in `mail`) call the same domain functions. `net` guards
//! connections; `web` serves the pages.

#![warn(missing_docs)]

pub mod addin;
mod api;
mod blobs;
pub mod config;
mod domain;
mod files;
mod janitor;
mod mail;
mod metrics;
pub mod migrate;
mod net;
mod oidc;
mod secrets;
mod store;
mod tar;
mod tls;
mod web;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer};
use anyhow::{Context, Result};

use crate::config::Config;
use crate::domain::Domain;
use crate::mail::Mailer;
use crate::secrets::ServerKey;
use crate::store::MetaStore;

/// Everything a request handler needs.
pub struct AppState {
    config: Config,
    domain: Domain,
    mailer: Mailer,
    /// Wakes the mail worker when something was queued.
    mail_wake: tokio::sync::Notify,
    /// Requests per client for the endpoints that need no sign-in.
    public_limiter: api::limit::RateLimiter,
    in_flight: Arc<net::InFlight>,
    /// Security headers per route tree.
    headers: web::Headers,
    /// Counters for `GET /metrics`.
    metrics: metrics::Metrics,
    /// This process among several on one database (random, made at start):
    /// the holder of background jobs' leases (`domain/leases.rs`).
    node: String,
    /// The data directory's lock, held shared while the metadata is in its
    /// SQLite database (`files::lock_data_dir`).
    _data_lock: Option<std::fs::File>,
}

/// Shared state of a running server.
pub type State = actix_web::web::Data<AppState>;

/// Opens (creating on first start, private to this user) the data
/// directory, metadata store, blob store, server key, mailer and organisation.
pub async fn open(config: Config) -> Result<State> {
    files::create_private_dir(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let data_lock = match config.database_url {
        Some(_) => None,
        None => Some(files::lock_data_dir(&config.data_dir, files::DataLock::Shared)?.ok_or_else(|| {
            anyhow::anyhow!(
                "kluis-server migrate is moving {} to PostgreSQL: wait for it to end (then start on PostgreSQL)",
                config.data_dir.display()
            )
        })?),
    };
    let meta: Arc<dyn MetaStore> = store::open(
        &config.data_dir,
        config.database_url.as_ref().map(|u| u.as_str()),
        config.database_ca_file.as_deref(),
    )
    .await?;
    let key = ServerKey::load_or_create(&config.data_dir.join("secret.key"))?;
    let blobs = blobs::open(&config, &config.blob_store)?;
    let mailer = Mailer::new(&config)?;
    // A self-hosted install has one organisation, made at first start; the operator may add more.
    meta.ensure_organisation(&config.organisation.name).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let public_limiter = api::limit::RateLimiter::new(config.limits.public_requests_per_minute, meta.clone());
    let domain = Domain {
        meta,
        blobs,
        key,
        limits: config.limits.clone(),
        public_url: config.public_url.clone(),
        policy: config.policy.clone(),
        licence: config.licence.clone(),
    };
    let headers = web::Headers::new(&config);
    Ok(actix_web::web::Data::new(AppState {
        headers,
        config,
        domain,
        mailer,
        mail_wake: Default::default(),
        public_limiter,
        in_flight: Default::default(),
        metrics: Default::default(),
        node: hex::encode(secrets::random_bytes::<8>()),
        _data_lock: data_lock,
    }))
}

/// Configures the whole application (API, pages, headers, guards) on `app`.
pub fn app(
    state: State,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let config = state.config.clone();
    App::new()
        .app_data(state)
        .wrap(actix_web::middleware::from_fn(net::guard))
        .wrap(actix_web::middleware::from_fn(web::security_headers))
        .wrap(actix_web::middleware::from_fn(web::access_log))
        .configure(api::configure)
        .configure(addin::configure)
        .configure(|cfg| web::configure(cfg, &config))
}

/// Bytes an HTTP/2 request body may have in flight before the server reads them.
const H2_STREAM_WINDOW: u32 = 4 << 20;

/// Serves (HTTPS when `[tls]` is configured, HTTP/2 or HTTP/1.1) until SIGINT or SIGTERM, then
/// finishes running requests (graceful shutdown). A certificate or key that
/// cannot be used is an error before anything starts.
pub async fn serve(state: State) -> Result<()> {
    let listen = state.config.listen;
    let tls = tls::server_config(&state.config.tls)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let janitor = tokio::spawn(janitor::run(state.clone()));
    let mail_worker = tokio::spawn(mail::run_worker(state.clone()));
    let app_state = state.clone();
    let listener = net::listener(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let body_timeout = u64::from(state.config.limits.body_timeout_seconds);
    let server = HttpServer::new(move || app(app_state.clone()))
        .client_request_timeout(Duration::from_secs(10))
        // After the last answer a client gets a second to close, so shutdown is not held up either.
        .client_disconnect_timeout(Duration::from_secs(1))
        // Stalled bodies end after the body timeout, so shutdown waits at most that long.
        .shutdown_timeout(body_timeout + 5)
        // HTTP/2 (offered by ALPN over TLS, where browsers can stream uploads in one request):
        // an upload stream may have this much in flight, so a sender 50 ms away still gets
        // 80 MB/s, where the protocol's 64 KiB default would hold it to about 1 MB/s.
        .h2_initial_window_size(H2_STREAM_WINDOW)
        .h2_initial_connection_window_size(2 * H2_STREAM_WINDOW);
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls),
        None => server.listen(listener),
    }
    .with_context(|| format!("cannot listen on {listen}"))?;
    let data = std::path::absolute(&state.config.data_dir).unwrap_or_else(|_| state.config.data_dir.clone());
    tracing::info!(%listen, scheme, public_url = %state.config.public_url, data = %data.display(), node = %state.node, "Kluis server started");
    greet(&state.config, &data);
    server.run().await?;
    janitor.abort();
    mail_worker.abort();
    tracing::info!("Kluis server stopped");
    Ok(())
}

/// What an operator needs at start: where to open Kluis and the add-in's
/// manifest, and, while nobody may sign in, how to add the first user.
fn greet(config: &Config, data: &std::path::Path) {
    let url = &config.public_url;
    tracing::info!("Open Kluis at {url}/");
    // Outlook loads add-ins only over HTTPS.
    let https_note = if url.starts_with("https://") { "" } else { "; Outlook needs an https:// public URL for it" };
    tracing::info!("Outlook add-in manifest: {url}/addin/manifest.xml (also: kluis-server addin manifest{https_note})");
    if crate::domain::licences::TRUSTS_TEST_KEY {
        tracing::warn!(
            "This build trusts the TEST licence key (feature test-licence-key), whose private half is public: \
             for tests only, never for production"
        );
    }
    if admin::has_users(config) == Some(false) {
        tracing::info!(
            "No users yet; add the first one with: kluis-server --data {} user add EMAIL",
            admin::shell_word(&data.display().to_string())
        );
    }
}

/// Administrative tasks of the `kluis-server` command line.
pub mod admin {
    use std::path::PathBuf;

    use anyhow::{Result, anyhow, bail};

    use crate::State;
    use crate::config::Config;
    use crate::domain::{accounts, audit, licences, organisations, sso};
    use crate::store::Role;

    /// The metadata store's file in a data directory (`store::open`); its
    /// presence is what makes a folder a Kluis data directory.
    const DATABASE: &str = "kluis.db";

    /// The data directory an administrative command works on.
    #[derive(Debug, Clone)]
    pub struct DataDir {
        /// Its absolute path.
        pub path: PathBuf,
        /// Whether this command created it (`--init`).
        pub created: bool,
    }

    /// Opens the data directory for an administrative command. One that
    /// holds no database yet (run from another folder, the default
    /// `./kluis-data` is a new, empty one) is created only when `init` is
    /// set; otherwise the error names the path looked at and how to point
    /// at the server's own.
    pub async fn open(config: Config, init: bool) -> Result<(State, DataDir)> {
        let path = std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
        // With PostgreSQL the folder holds the server key, not the database.
        let exists =
            path.join(DATABASE).is_file() || (config.database_url.is_some() && path.join("secret.key").is_file());
        if !exists && !init {
            let what = if path.exists() { format!("it holds no {DATABASE}") } else { "it does not exist".into() };
            bail!(
                "no Kluis data directory at {} ({what})\n\
                 Point this command at the server's data directory (the server prints it when it starts) \
                 with --data DIR, the KLUIS_DATA environment variable, or data_dir in the configuration \
                 file (--config FILE or KLUIS_CONFIG).\n\
                 To create a new, empty data directory there instead, add --init.",
                path.display()
            );
        }
        let state = crate::open(config).await?;
        Ok((state, DataDir { path, created: !exists }))
    }

    /// Whether anyone may sign in: `None` when the database cannot tell
    /// (read straight from it, read-only, at start-up only).
    pub(crate) fn has_users(config: &Config) -> Option<bool> {
        if config.database_url.is_some() {
            return None;
        }
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(config.data_dir.join(DATABASE), flags).ok()?;
        conn.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE disabled = 0)", [], |r| r.get(0)).ok()
    }

    /// `word` as one shell word: as it is when that is safe, else in single quotes.
    pub(crate) fn shell_word(word: &str) -> String {
        let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c);
        if !word.is_empty() && word.chars().all(plain) {
            word.to_string()
        } else {
            format!("'{}'", word.replace('\'', r"'\''"))
        }
    }

    /// Who `kluis-server user add` adds, beyond the address.
    #[derive(Debug, Clone, Default)]
    pub struct UserSpec {
        /// The organisation by id or name; `None`: by the address's mail domain, or the only one.
        pub organisation: Option<String>,
        /// `Some(true)`: an admin of the organisation; `Some(false)`: a user; `None`: as before (new: a user).
        pub admin: Option<bool>,
        /// Display name; `None`: as before.
        pub name: Option<String>,
    }

    /// A user as the operator's commands report them.
    #[derive(Debug, Clone)]
    pub struct AddedUser {
        /// The normalised address.
        pub email: String,
        /// The organisation's name.
        pub organisation: String,
        /// Whether they are an admin of it.
        pub admin: bool,
    }

    /// Adds a user who may sign in (or makes them active again).
    pub async fn add_user_as(state: &State, email: &str, spec: &UserSpec) -> Result<AddedUser> {
        let role = spec.admin.map(|a| if a { Role::Admin } else { Role::User });
        let (user, org) =
            accounts::add_user(&state.domain, email, spec.organisation.as_deref(), role, spec.name.as_deref())
                .await
                .map_err(|e| anyhow!("{}", describe(e)))?;
        Ok(AddedUser { email: user.email, organisation: org.name, admin: user.role == Role::Admin })
    }

    /// Adds a user who may sign in, to the organisation of their mail domain (or the only one).
    pub async fn add_user(state: &State, email: &str) -> Result<String> {
        Ok(add_user_as(state, email, &UserSpec::default()).await?.email)
    }

    /// A new API token for `email` (the user is added if needed, as by [`add_user`]).
    pub async fn create_token(state: &State, email: &str, label: &str) -> Result<String> {
        let (user, _) =
            accounts::add_user(&state.domain, email, None, None, None).await.map_err(|e| anyhow!("{}", describe(e)))?;
        accounts::create_token(&state.domain, &user, label).await.map_err(|e| anyhow!("{}", describe(e)))
    }

    /// An organisation as the operator's commands report it.
    #[derive(Debug, Clone)]
    pub struct OrganisationInfo {
        /// What `--org` takes, besides the name.
        pub id: i64,
        /// Its name, as mails and pages show it.
        pub name: String,
        /// Its mail domains.
        pub domains: Vec<String>,
        /// When it was made (Unix seconds).
        pub created_at: i64,
    }

    impl From<crate::store::Organisation> for OrganisationInfo {
        fn from(o: crate::store::Organisation) -> Self {
            OrganisationInfo { id: o.id, name: o.name, domains: o.domains, created_at: o.created_at }
        }
    }

    /// A new organisation with its mail domains (`kluis-server org create`).
    pub async fn create_organisation(state: &State, name: &str, domains: &[String]) -> Result<OrganisationInfo> {
        let org = organisations::create(&state.domain, name, domains).await.map_err(|e| anyhow!("{}", describe(e)))?;
        Ok(org.into())
    }

    /// One round of the audit retention sweep as if it were `at` (Unix
    /// seconds): each organisation's rows older than its retention go. The
    /// janitor runs it with the present; tests with a later moment.
    pub async fn sweep_audit_retention(state: &State, at: i64) -> Result<u64> {
        crate::domain::janitor::prune_audit_logs(&state.domain, at).await.map_err(|e| anyhow!("{}", describe(e)))
    }

    /// One round of the licence warnings (the janitor's, every minute): the
    /// admins of each organisation whose licence nears or passed its end
    /// get the warning due, once. Answers how many organisations were warned.
    pub async fn warn_about_licences(state: &State) -> Result<usize> {
        let warned =
            crate::domain::licences::warn_admins(&state.domain).await.map_err(|e| anyhow!("{}", describe(e)))?;
        state.mail_wake.notify_one();
        Ok(warned)
    }

    /// One round of the purge of deleted packages as if it were `at` (Unix
    /// seconds): those deleted more than `limits.restore_days` before it go.
    /// The janitor runs it with the present; tests with a later moment.
    pub async fn purge_deleted(state: &State, at: i64) -> Result<usize> {
        crate::domain::lifecycle::purge_deleted(&state.domain, at).await.map_err(|e| anyhow!("{}", describe(e)))
    }

    /// Every organisation of the server (`kluis-server org list`).
    pub async fn organisations(state: &State) -> Result<Vec<OrganisationInfo>> {
        let all = organisations::list(&state.domain).await.map_err(|e| anyhow!("{}", describe(e)))?;
        Ok(all.into_iter().map(Into::into).collect())
    }

    /// What `kluis-server org sso` sets: the provider and the client registered there.
    #[derive(Clone)]
    pub struct SsoSpec {
        /// The provider's issuer URL (its discovery document is `ISSUER/.well-known/openid-configuration`).
        pub issuer: String,
        /// The client id the provider issued.
        pub client_id: String,
        /// The client secret; `None` keeps the one set before.
        pub client_secret: Option<String>,
        /// Unknown addresses of the organisation's mail domains become users at their first sign-in.
        pub create_users: bool,
        /// Accept the `email` claim without `email_verified` (providers that send none, like Entra ID).
        pub trust_email: bool,
    }

    /// An organisation's single sign-on as the operator sees it (the secret only as set or not).
    #[derive(Debug, Clone)]
    pub struct SsoInfo {
        /// The organisation's name.
        pub organisation: String,
        /// `None`: off (sign-in with mailed codes).
        pub issuer: Option<String>,
        /// The client id.
        pub client_id: Option<String>,
        /// Whether a client secret is set.
        pub secret_set: bool,
        /// Whether unknown addresses of its domains become users.
        pub create_users: bool,
        /// Whether the `email` claim counts as verified without `email_verified`.
        pub trust_email: bool,
        /// What to register at the provider as the redirect URI.
        pub redirect_uri: String,
    }

    /// An organisation's single sign-on settings (`kluis-server org sso ORG --show`).
    pub async fn sso(state: &State, org: &str) -> Result<SsoInfo> {
        sso_info(state, named_organisation(state, org).await?).await
    }

    async fn named_organisation(state: &State, named: &str) -> Result<crate::store::Organisation> {
        let all = organisations::list(&state.domain).await.map_err(|e| anyhow!("{}", describe(e)))?;
        let named = named.trim();
        all.into_iter()
            .find(|o| o.id.to_string() == named || o.name.eq_ignore_ascii_case(named))
            .ok_or_else(|| anyhow!("there is no organisation {named:?} (kluis-server org list names them)"))
    }

    /// Installs the licence in `text` (`kluis-server licence install`) for
    /// organisation `org` (by id or name), or else the one that has a mail
    /// domain the licence names; answers its state in words.
    pub async fn install_licence(state: &State, org: Option<&str>, text: &str) -> Result<String> {
        let org = match org {
            Some(named) => named_organisation(state, named).await?,
            None => {
                // The licence's own domains say whose it is (checked again, with its signature, on install).
                let domains = kluis_licence::read_unverified(text).map(|l| l.domains).unwrap_or_default();
                let all = organisations::list(&state.domain).await.map_err(|e| anyhow!("{}", describe(e)))?;
                let mut owners = all.into_iter().filter(|o| o.domains.iter().any(|d| domains.contains(d)));
                match (owners.next(), all_single(state).await?) {
                    (Some(owner), _) => owner,
                    (None, Some(only)) => only,
                    (None, None) => bail!(
                        "no organisation has a mail domain the licence names ({}); name one with --org",
                        domains.join(", ")
                    ),
                }
            }
        };
        licences::install(&state.domain, org.id, text, crate::domain::Actor::System)
            .await
            .map_err(|e| anyhow!("{}", describe(e)))?;
        licence_report(state, Some(&org.id.to_string())).await
    }

    /// The only organisation, if there is one only.
    async fn all_single(state: &State) -> Result<Option<crate::store::Organisation>> {
        let mut all = organisations::list(&state.domain).await.map_err(|e| anyhow!("{}", describe(e)))?;
        Ok(if all.len() == 1 { all.pop() } else { None })
    }

    /// Every organisation's licence and seats in words (`kluis-server licence show`), or one's.
    pub async fn licence_report(state: &State, org: Option<&str>) -> Result<String> {
        let orgs = match org {
            Some(named) => vec![named_organisation(state, named).await?],
            None => organisations::list(&state.domain).await.map_err(|e| anyhow!("{}", describe(e)))?,
        };
        let mut out = Vec::new();
        for org in orgs {
            let now = licences::state(&state.domain, org.id).await.map_err(|e| anyhow!("{}", describe(e)))?;
            out.push(licences::report(&org.name, &now, state.domain.licence.grace_days));
        }
        Ok(out.join("\n"))
    }

    /// Sets (`Some`) or turns off (`None`) an organisation's single sign-on
    /// (`kluis-server org sso`); `org` by id or name.
    pub async fn configure_sso(state: &State, org: &str, spec: Option<SsoSpec>) -> Result<SsoInfo> {
        let d = &state.domain;
        let org = named_organisation(state, org).await?;
        match spec {
            Some(spec) => {
                let config = sso::SsoConfig {
                    issuer: spec.issuer,
                    client_id: spec.client_id,
                    client_secret: spec.client_secret,
                    create_users: spec.create_users,
                    trust_email: spec.trust_email,
                };
                sso::configure(d, org.id, config, sso::ChangedBy::Operator)
                    .await
                    .map_err(|e| anyhow!("{}", describe(e)))?;
            }
            None => {
                sso::turn_off(d, org.id, sso::ChangedBy::Operator).await.map_err(|e| anyhow!("{}", describe(e)))?;
            }
        }
        sso_info(state, org).await
    }

    async fn sso_info(state: &State, org: crate::store::Organisation) -> Result<SsoInfo> {
        let d = &state.domain;
        let view = sso::settings(d, org.id).await.map_err(|e| anyhow!("{}", describe(e)))?;
        let redirect_uri = format!("{}{}", d.public_url.trim_end_matches('/'), sso::CALLBACK_PATH);
        Ok(match view {
            Some(v) => SsoInfo {
                organisation: org.name,
                issuer: Some(v.issuer),
                client_id: Some(v.client_id),
                secret_set: v.secret_set,
                create_users: v.create_users,
                trust_email: v.trust_email,
                redirect_uri: v.redirect_uri,
            },
            None => SsoInfo {
                organisation: org.name,
                issuer: None,
                client_id: None,
                secret_set: false,
                create_users: false,
                trust_email: false,
                redirect_uri,
            },
        })
    }

    /// The outcome of `kluis-server audit verify`.
    #[derive(Debug, Clone)]
    pub struct AuditVerdict {
        /// Every organisation's chain verified.
        pub intact: bool,
        /// What to print: `audit log intact: …` and each chain's head (to
        /// keep elsewhere), or the first broken row of each broken chain.
        pub report: String,
    }

    /// Verifies the audit log's hash chains (`domain/audit.rs`).
    pub async fn verify_audit(state: &State) -> Result<AuditVerdict> {
        let check = audit::verify(&*state.domain.meta).await.map_err(|e| anyhow!("{}", describe(e)))?;
        let mut lines = vec![check.to_string()];
        if check.intact() {
            lines.extend(check.heads.iter().map(ToString::to_string));
        }
        Ok(AuditVerdict { intact: check.intact(), report: lines.join("\n") })
    }

    /// `kluis-server backup DIR`: an online backup of the data directory the
    /// server runs on (`domain::lifecycle::backup`); a report in words.
    pub async fn backup(state: &State, dest: &std::path::Path) -> Result<String> {
        if state.config.blob_store == "memory" {
            bail!(
                "this server keeps its blobs in memory (blob_store = \"memory\"): there is nothing on disk to back up"
            );
        }
        let key = state.config.data_dir.join(crate::domain::lifecycle::SERVER_KEY);
        let started = std::time::Instant::now();
        let r = crate::domain::lifecycle::backup(&state.domain, &key, dest).await?;
        let mut report = format!(
            "backup written to {}: the database, the server key and {} blobs ({} bytes); {} files in {} ({:.1} s)",
            dest.display(),
            r.blobs,
            r.bytes,
            r.files,
            crate::domain::lifecycle::MANIFEST,
            started.elapsed().as_secs_f64()
        );
        if !r.ended.is_empty() {
            report.push_str(&format!(
                "\n{} package(s) ended while the backup ran (their files were deleted before they were copied); \
                 they are ended in the backup too: {}",
                r.ended.len(),
                r.ended.join(", ")
            ));
        }
        Ok(report)
    }

    /// `kluis-server restore DIR`: the backup in `src` becomes the data
    /// directory of `config` (the server stopped); a report in words.
    pub async fn restore(config: &Config, src: &std::path::Path, force: bool) -> Result<String> {
        if config.database_url.is_some() {
            // A backup holds a SQLite file: restoring it here would leave the database as it is.
            bail!(
                "kluis-server restore restores SQLite installs; with database_url set the metadata is in \
                 PostgreSQL: restore it with pg_restore (and the blob store with its own tools)"
            );
        }
        let data = std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
        let r = crate::domain::lifecycle::restore(src, &data, force).await?;
        let mut report = format!(
            "restored {} files ({} bytes, every SHA-256 checked) from {} into {}",
            r.files,
            r.bytes,
            src.display(),
            data.display()
        );
        if let Some(previous) = r.previous {
            report.push_str(&format!(
                "\nthe data directory as it was is kept at {}: delete it once the restored server works",
                previous.display()
            ));
        }
        Ok(report)
    }

    /// `kluis-server export --organisation ORG DIR`: everything the organisation owns, into DIR.
    pub async fn export(state: &State, org: &str, dest: &std::path::Path) -> Result<String> {
        let org = named_organisation(state, org).await?;
        let s = crate::domain::lifecycle::export_to_dir(&state.domain, org.id, dest).await?;
        let mut report = format!(
            "exported {} ({}) to {}: {} users, {} packages, {} audit rows, {} encrypted files ({} bytes); \
             check it with `cd {} && sha256sum -c {}`",
            org.name,
            org.id,
            dest.display(),
            s.users,
            s.packages,
            s.audit_rows,
            s.blobs,
            s.bytes,
            shell_word(&dest.display().to_string()),
            crate::domain::lifecycle::MANIFEST
        );
        if s.vanished > 0 {
            report.push_str(&format!(
                "\n{} file(s) were deleted while the export ran (their packages ended)",
                s.vanished
            ));
        }
        Ok(report)
    }

    /// An organisation about to be deleted, in words (for the confirmation).
    pub async fn describe_organisation(state: &State, org: &str) -> Result<(String, String)> {
        let org = named_organisation(state, org).await?;
        let stats = state.domain.meta.org_stats(org.id, 0).await.map_err(|e| anyhow!("{e}"))?;
        let domains = if org.domains.is_empty() { "no mail domains".to_string() } else { org.domains.join(", ") };
        let text = format!(
            "organisation {} ({}; {domains}): {} users ({} disabled), {} packages since it began",
            org.name, org.id, stats.active_users, stats.disabled_users, stats.packages_since
        );
        Ok((org.name, text))
    }

    /// `kluis-server delete-organisation ORG`: deletes everything it owns;
    /// the signed certificate's text and a summary.
    pub async fn delete_organisation(state: &State, org: &str) -> Result<(String, String)> {
        let org = named_organisation(state, org).await?;
        let outcome = crate::domain::lifecycle::delete_organisation(&state.domain, org.id).await?;
        Ok((outcome.certificate, outcome.summary))
    }

    /// `kluis-server certificate verify FILE`: the certificate's record if its
    /// signature holds, and whether this server (the data directory of
    /// `config`, if it has a key) signed it.
    pub fn verify_certificate(config: &Config, text: &str) -> Result<String> {
        let key = crate::secrets::ServerKey::load(&config.data_dir.join(crate::domain::lifecycle::SERVER_KEY))?;
        crate::domain::lifecycle::verify_certificate(text, key.as_ref())
    }

    fn describe(e: crate::domain::DomainError) -> String {
        match e {
            crate::domain::DomainError::Invalid { message, .. } => message,
            other => other.to_string(),
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn shell_words_survive_copy_and_paste() {
            assert_eq!(super::shell_word("/srv/kluis/kluis-data"), "/srv/kluis/kluis-data");
            assert_eq!(super::shell_word("/home/me/My Kluis"), "'/home/me/My Kluis'");
            assert_eq!(super::shell_word("/tmp/it's"), r"'/tmp/it'\''s'");
            assert_eq!(super::shell_word("$HOME;rm"), "'$HOME;rm'");
            assert_eq!(super::shell_word(""), "''");
        }
    }
}
