//! Configuration: embedded defaults, then a TOML file, then environment
//! variables (`KLUIS_*`), then command-line flags; later sources win.
//!
//! With nothing configured the server keeps everything in `./kluis-data`
//! (SQLite database, blobs, mail outbox) and listens on 127.0.0.1:8080.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the database, blobs and outbox live.
    pub data_dir: PathBuf,
    /// The metadata in PostgreSQL instead of SQLite in the data directory:
    /// `postgres://user:password@host/dbname?sslmode=require` (or libpq's
    /// key=value form). Also `KLUIS_DATABASE_URL`.
    pub database_url: Option<DatabaseUrl>,
    /// PEM certificates of the CA that signed the database server's
    /// certificate, trusted instead of the web's roots (`sslmode=require`
    /// with a private CA). Also `KLUIS_DATABASE_CA_FILE`.
    pub database_ca_file: Option<PathBuf>,
    /// The URL users reach the server at; links in mail and in API answers use it.
    pub public_url: String,
    /// Static web pages (the `web/` folder of the repository).
    pub web_dir: Option<PathBuf>,
    /// Where blobs live: "fs" (files under the data directory), "s3" (an
    /// S3-compatible object store, `[s3]`), "azure" (Azure Blob Storage,
    /// `[azure]`), "gcs" (Google Cloud Storage, `[gcs]`) or "memory" (lost
    /// when the server stops: for tests and trying Kluis out).
    pub blob_store: String,
    /// The object store of `blob_store = "s3"` (`[s3]`).
    pub s3: S3,
    /// The container of `blob_store = "azure"` (`[azure]`).
    pub azure: Azure,
    /// The bucket of `blob_store = "gcs"` (`[gcs]`).
    pub gcs: Gcs,
    /// Log format: "text" or "json".
    pub log_format: String,
    /// The organisation (`[organisation]`).
    pub organisation: Organisation,
    /// Outgoing mail (`[mail]`).
    pub mail: Mail,
    /// Limits, quotas and timeouts (`[limits]`).
    pub limits: Limits,
    /// HTTPS served by the server itself (`[tls]`).
    pub tls: Tls,
    /// The Outlook add-in (`[addin]`).
    pub addin: Addin,
    /// Rules for sending and the send-time content check (`[policy]`, `[policy.content]`).
    pub policy: Policy,
    /// Licences (`[licence]`).
    pub licence: Licence,
    /// The Prometheus endpoint (`[metrics]`).
    pub metrics: Metrics,
}

/// A PostgreSQL connection string; its password stays out of logs and `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    /// The connection string as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.parse::<tokio_postgres::Config>() {
            Ok(c) => write!(
                f,
                "DatabaseUrl {{ hosts: {:?}, dbname: {:?}, user: {:?}, password: {} }}",
                c.get_hosts(),
                c.get_dbname(),
                c.get_user(),
                if c.get_password().is_some() { "(set)" } else { "(none)" }
            ),
            Err(_) => f.write_str("DatabaseUrl (unparsable)"),
        }
    }
}

/// `[s3]`: the bucket of `blob_store = "s3"`. Credentials come from the
/// environment as for every AWS client (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, or the instance's role) unless given here.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3 {
    /// The bucket (it must exist).
    pub bucket: String,
    /// Region (default: `AWS_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// Another S3-compatible service (MinIO, Ceph, a cloud's own): its URL;
    /// `http://` is allowed (a local test server).
    pub endpoint: Option<String>,
    /// Prepended to every object's name (`kluis/`), so a bucket can be shared.
    pub prefix: String,
    /// An access key id, where the environment cannot give one.
    pub access_key_id: Option<String>,
    /// Its secret (better: `AWS_SECRET_ACCESS_KEY` in the environment).
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// `[azure]`: the container of `blob_store = "azure"`. Credentials come from
/// the environment as for every Azure client (`AZURE_STORAGE_ACCOUNT_KEY`,
/// `AZURE_STORAGE_SAS_KEY`, a service principal's `AZURE_CLIENT_ID`,
/// `AZURE_CLIENT_SECRET` and `AZURE_TENANT_ID`, or the machine's managed
/// identity) unless given here; then the environment is not read at all, so
/// a key left in it cannot take precedence over the SAS written here.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Azure {
    /// The storage account.
    pub account: String,
    /// The container (it must exist).
    pub container: String,
    /// The account's URL, where it is not `https://<account>.blob.core.windows.net`:
    /// a sovereign cloud's (`https://<account>.blob.core.usgovcloudapi.net`)
    /// or Azurite's (`http://127.0.0.1:10000/devstoreaccount1`); `http://` is
    /// allowed (a local test server).
    pub endpoint: Option<String>,
    /// Prepended to every object's name (`kluis/`), so a container can be shared.
    pub prefix: String,
    /// The account's access key (base64), where the environment cannot give one.
    pub access_key: Option<String>,
    /// Or a shared access signature (`sv=…&sig=…`) allowing read, write,
    /// delete and list in the container.
    pub sas_token: Option<String>,
}

impl std::fmt::Debug for Azure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Azure")
            .field("account", &self.account)
            .field("container", &self.container)
            .field("endpoint", &self.endpoint)
            .field("prefix", &self.prefix)
            .field("access_key", &self.access_key.as_ref().map(|_| "(set)"))
            .field("sas_token", &self.sas_token.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// `[gcs]`: the bucket of `blob_store = "gcs"`. Credentials: the service
/// account key file named here; else as for every Google client
/// (`GOOGLE_APPLICATION_CREDENTIALS`, `GOOGLE_SERVICE_ACCOUNT`, or the VM's
/// metadata server). No secret is written here, only where the key is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gcs {
    /// The bucket (it must exist).
    pub bucket: String,
    /// Prepended to every object's name (`kluis/`), so a bucket can be shared.
    pub prefix: String,
    /// A service account's JSON key file.
    pub service_account_file: Option<PathBuf>,
}

/// `[metrics]`: `GET /metrics` answers only with this bearer token (at
/// least 16 characters); without one the endpoint is not there.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metrics {
    /// Also `KLUIS_METRICS_TOKEN`.
    pub token: Option<String>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("token", &self.token.as_ref().map(|_| "(set)")).finish()
    }
}

/// `[licence]`: how the server treats organisations' licences.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Licence {
    /// Days after a licence's last day during which sending still works (with a banner).
    pub grace_days: u32,
    /// Seats of an organisation without a licence (evaluation).
    pub evaluation_seats: u32,
}

impl Default for Licence {
    fn default() -> Self {
        Licence { grace_days: 14, evaluation_seats: 5 }
    }
}

/// `[policy]`: what senders may choose; `[policy.content]`: the content
/// check (a `kluis_policy::ContentPolicy`: mode, detectors, keyword_lists,
/// min_confidence, internal_domains, secure_external_attachments).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// The add-in puts the message text into the package unless the sender unticks it.
    pub include_message: bool,
    /// Packages must verify recipients by e-mail code.
    pub require_verification: bool,
    /// Packages must have a password.
    pub require_password: bool,
    /// The send-time content check.
    pub content: kluis_policy::ContentPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            include_message: true,
            require_verification: false,
            require_password: false,
            content: kluis_policy::ContentPolicy::default(),
        }
    }
}

/// `[tls]`: the server terminates TLS itself when both are set; plain HTTP otherwise
/// (for example behind a reverse proxy that does).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// PEM file with the certificate chain, the server's own certificate first.
    pub certificate: Option<PathBuf>,
    /// PEM file with the certificate's private key (PKCS #8, PKCS #1 or SEC1).
    pub key: Option<PathBuf>,
}

impl Tls {
    /// Whether the server serves HTTPS.
    pub fn enabled(&self) -> bool {
        self.certificate.is_some() && self.key.is_some()
    }
}

/// The add-in's id when `[addin] id` names none. Stable: Outlook knows an add-in by it.
pub const DEFAULT_ADDIN_ID: &str = "aa65fbd6-c43b-4305-b2c7-42f01de6d372";

/// `[addin]`: the Outlook add-in's manifest and the framing of its pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Addin {
    /// The manifest's `<Id>`, a GUID. Each Kluis server deployed in one
    /// Microsoft 365 tenant (test and production, say) needs its own.
    pub id: String,
    /// More origins that may frame the add-in's pages, beyond the Outlook
    /// hosts built in (e.g. `https://outlook.office365.us` for GCC High).
    pub frame_ancestors: Vec<String>,
}

impl Default for Addin {
    fn default() -> Self {
        Addin { id: DEFAULT_ADDIN_ID.into(), frame_ancestors: Vec::new() }
    }
}

/// `[organisation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Organisation {
    /// Name shown in mail and pages; the organisation is created at first start.
    pub name: String,
}

/// `[mail]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mail {
    /// Sender of all mail.
    pub from: String,
    /// SMTP smarthost, e.g. `smtp://user:password@mail.example.org:587`
    /// (STARTTLS) or `smtps://…:465`. Without one, mail is written as `.eml`
    /// files to `outbox_dir`.
    pub smtp_url: Option<String>,
    /// Outbox directory; default `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
}

/// `[limits]`: sizes, expiries, quotas, timeouts and rate limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest package, all blobs together, in bytes.
    pub max_package_bytes: u64,
    /// Most blobs (files plus the manifest) in one package.
    pub max_blobs: u32,
    /// Expiry when the sender names none, in days.
    pub default_expiry_days: u32,
    /// Longest expiry a sender may choose, in days.
    pub max_expiry_days: u32,
    /// Unfinished uploads are deleted after this many hours without progress.
    pub upload_expiry_hours: u32,
    /// How long a recipient's download session lasts, in hours.
    pub download_session_hours: u32,
    /// API tokens not used for this many days stop working.
    pub token_expiry_days: u32,
    /// A sign-in with an e-mail code (a browser, Outlook) lasts this many days on its device.
    pub session_days: u32,
    /// Request bodies are ended when a window of this many seconds brings
    /// fewer than `body_min_bytes` (a stalled body, or one that drips).
    pub body_timeout_seconds: u32,
    /// Bytes a request body must deliver in every window of `body_timeout_seconds`
    /// (unless it ends sooner).
    pub body_min_bytes: u64,
    /// Requests in flight at once from one client address.
    pub max_requests_per_client: u32,
    /// Requests per minute from one client address to the endpoints that need no sign-in.
    pub public_requests_per_minute: u32,
    /// Header that carries the client's address when a trusted reverse proxy
    /// sits in front (e.g. `X-Forwarded-For`; its last entry is used). Unset:
    /// the peer address.
    pub client_ip_header: Option<String>,
    /// Per user: bytes declared by unfinished packages.
    pub max_reserved_bytes_per_user: u64,
    /// Per user: packages created but not yet finalized.
    pub max_unfinished_packages_per_user: u32,
    /// Per user: uploads open at once.
    pub max_open_uploads_per_user: u32,
    /// A package its sender or an admin deletes stays restorable by an admin
    /// this many days (it cannot be opened meanwhile); then the janitor purges it.
    pub restore_days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: PathBuf::from("kluis-data"),
            database_url: None,
            database_ca_file: None,
            public_url: String::new(),
            web_dir: None,
            blob_store: "fs".into(),
            s3: S3::default(),
            azure: Azure::default(),
            gcs: Gcs::default(),
            log_format: "text".into(),
            organisation: Organisation::default(),
            mail: Mail::default(),
            limits: Limits::default(),
            tls: Tls::default(),
            addin: Addin::default(),
            policy: Policy::default(),
            licence: Licence::default(),
            metrics: Metrics::default(),
        }
    }
}

impl Default for Organisation {
    fn default() -> Self {
        Organisation { name: "Kluis".into() }
    }
}

impl Default for Mail {
    fn default() -> Self {
        Mail { from: "Kluis <kluis@localhost>".into(), smtp_url: None, outbox_dir: None }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_package_bytes: 100 << 30,
            max_blobs: 1000,
            default_expiry_days: 7,
            max_expiry_days: 30,
            upload_expiry_hours: 24,
            download_session_hours: 24,
            token_expiry_days: 90,
            session_days: 30,
            body_timeout_seconds: 30,
            body_min_bytes: 16 * 1024,
            max_requests_per_client: 64,
            public_requests_per_minute: 120,
            client_ip_header: None,
            max_reserved_bytes_per_user: 200 << 30,
            max_unfinished_packages_per_user: 20,
            max_open_uploads_per_user: 100,
            restore_days: 30,
        }
    }
}

/// Values given on the command line; they override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config FILE`.
    pub config_file: Option<PathBuf>,
    /// `--data DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--listen ADDR`.
    pub listen: Option<SocketAddr>,
    /// `--public-url URL`.
    pub public_url: Option<String>,
}

impl Config {
    /// Loads defaults, the TOML file (flag, else `KLUIS_CONFIG`), environment, flags.
    pub fn load(overrides: &Overrides) -> Result<Config> {
        let file = overrides.config_file.clone().or_else(|| std::env::var_os("KLUIS_CONFIG").map(PathBuf::from));
        let mut config = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read configuration file {}", path.display()))?;
                check_content_policy_keys(&text)
                    .with_context(|| format!("invalid configuration file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        if let Some(d) = &overrides.data_dir {
            config.data_dir = d.clone();
        }
        if let Some(l) = overrides.listen {
            config.listen = l;
        }
        if let Some(u) = &overrides.public_url {
            config.public_url = u.clone();
        }
        config.finish()?;
        Ok(config)
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = get("KLUIS_LISTEN") {
            self.listen = v.parse().with_context(|| format!("KLUIS_LISTEN: invalid address {v:?}"))?;
        }
        if let Some(v) = get("KLUIS_DATA") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("KLUIS_DATABASE_URL") {
            self.database_url = Some(DatabaseUrl(v));
        }
        if let Some(v) = get("KLUIS_DATABASE_CA_FILE") {
            self.database_ca_file = Some(v.into());
        }
        if let Some(v) = get("KLUIS_PUBLIC_URL") {
            self.public_url = v;
        }
        if let Some(v) = get("KLUIS_WEB_DIR") {
            self.web_dir = Some(v.into());
        }
        if let Some(v) = get("KLUIS_SMTP_URL") {
            self.mail.smtp_url = Some(v);
        }
        if let Some(v) = get("KLUIS_MAIL_FROM") {
            self.mail.from = v;
        }
        if let Some(v) = get("KLUIS_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = get("KLUIS_TLS_CERTIFICATE") {
            self.tls.certificate = Some(v.into());
        }
        if let Some(v) = get("KLUIS_TLS_KEY") {
            self.tls.key = Some(v.into());
        }
        if let Some(v) = get("KLUIS_METRICS_TOKEN") {
            self.metrics.token = Some(v);
        }
        Ok(())
    }

    /// Fills in what follows from other settings (the public URL) and checks the whole.
    pub fn finish(&mut self) -> Result<()> {
        if self.metrics.token.as_ref().is_some_and(|t| t.len() < 16 || t.chars().any(char::is_whitespace)) {
            bail!("metrics.token must be at least 16 characters without spaces (a random secret for the scraper)");
        }
        if self.tls.certificate.is_some() != self.tls.key.is_some() {
            bail!("tls.certificate and tls.key go together: set both (HTTPS) or neither (HTTP)");
        }
        if self.public_url.is_empty() {
            let scheme = if self.tls.enabled() { "https" } else { "http" };
            self.public_url = format!("{scheme}://{}", self.listen);
        }
        self.public_url = self.public_url.trim_end_matches('/').to_string();
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            bail!("public_url must start with http:// or https://, got {:?}", self.public_url);
        }
        // Serving HTTPS while links say http:// would hand out links that do not work.
        if self.tls.enabled() && !self.public_url.starts_with("https://") {
            bail!("public_url must start with https:// when [tls] is configured, got {:?}", self.public_url);
        }
        if !is_guid(&self.addin.id) {
            bail!("addin.id must be a GUID like {DEFAULT_ADDIN_ID}, got {:?}", self.addin.id);
        }
        for origin in &self.addin.frame_ancestors {
            let host = origin.strip_prefix("https://").unwrap_or("");
            // A wildcard only as the first label of a name with at least two more (`*.cloud.microsoft`):
            // `https://*` or `*.com` would let any site frame the pages where tokens and passwords are typed.
            let wildcard_ok = match host.strip_prefix("*.") {
                Some(rest) => !rest.contains('*') && rest.split('.').filter(|l| !l.is_empty()).count() >= 2,
                None => !host.contains('*'),
            };
            if host.is_empty()
                || !wildcard_ok
                || !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | ':'))
            {
                bail!("addin.frame_ancestors takes origins like \"https://outlook.office365.us\", got {origin:?}");
            }
        }
        if !matches!(self.blob_store.as_str(), "fs" | "memory" | "s3" | "azure" | "gcs") {
            bail!("blob_store must be \"fs\", \"s3\", \"azure\", \"gcs\" or \"memory\"");
        }
        if self.s3.access_key_id.is_some() != self.s3.secret_access_key.is_some() {
            bail!("s3.access_key_id and s3.secret_access_key go together");
        }
        if self.blob_store == "s3" && self.s3.bucket.trim().is_empty() {
            bail!("blob_store = \"s3\" needs s3.bucket");
        }
        if let Some(endpoint) = &self.s3.endpoint
            && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        {
            bail!("s3.endpoint must be an http:// or https:// URL, got {endpoint:?}");
        }
        self.azure.check(self.blob_store == "azure")?;
        if self.blob_store == "gcs" && self.gcs.bucket.trim().is_empty() {
            bail!("blob_store = \"gcs\" needs gcs.bucket");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be \"text\" or \"json\"");
        }
        let l = &self.limits;
        if l.token_expiry_days == 0 || l.body_timeout_seconds == 0 || l.max_requests_per_client == 0 {
            bail!("limits.token_expiry_days, body_timeout_seconds and max_requests_per_client must be at least 1");
        }
        if !(1..=365).contains(&l.session_days) {
            bail!("limits.session_days must be between 1 and 365");
        }
        if l.max_expiry_days > 365 {
            bail!("limits.max_expiry_days is at most 365");
        }
        if self.limits.default_expiry_days == 0 || self.limits.default_expiry_days > self.limits.max_expiry_days {
            bail!("limits.default_expiry_days must be between 1 and limits.max_expiry_days");
        }
        Ok(())
    }

    /// The outbox directory for mail when no smarthost is set.
    pub fn outbox_dir(&self) -> PathBuf {
        self.mail.outbox_dir.clone().unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// The static pages: the configured folder, `./web`, or the repository's `web/`.
    pub fn web_dir(&self) -> PathBuf {
        if let Some(dir) = &self.web_dir {
            return dir.clone();
        }
        let local = Path::new("web");
        if local.join("receive.html").exists() {
            return local.to_path_buf();
        }
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../web")
    }
}

impl Azure {
    /// Checks `[azure]`; `used`: whether `blob_store = "azure"` needs it complete.
    fn check(&self, used: bool) -> Result<()> {
        if used && (self.account.trim().is_empty() || self.container.trim().is_empty()) {
            bail!("blob_store = \"azure\" needs azure.account and azure.container");
        }
        if self.access_key.is_some() && self.sas_token.is_some() {
            bail!("azure.access_key and azure.sas_token are two ways to sign in: set one");
        }
        // Checked with the rest of the configuration, and named: object_store's message names neither.
        if let Some(key) = &self.access_key
            && base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key).is_err()
        {
            bail!("azure.access_key must be the account key as the portal shows it (base64)");
        }
        if let Some(sas) = &self.sas_token
            && !sas.trim_start_matches('?').split('&').all(|pair| {
                pair.split_once('=').is_some_and(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()))
            })
        {
            bail!("azure.sas_token must be a query string like \"sv=…&sp=…&sig=…\"");
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        {
            bail!("azure.endpoint must be an http:// or https:// URL, got {endpoint:?}");
        }
        Ok(())
    }
}

/// `ContentPolicy` ignores fields it does not know (older clients read newer
/// policies); in the configuration file an unknown key is a typo, refused here.
fn check_content_policy_keys(text: &str) -> Result<()> {
    let table: toml::Table = toml::from_str(text)?;
    let Some(content) = table.get("policy").and_then(|p| p.get("content")).and_then(|c| c.as_table()) else {
        return Ok(());
    };
    let known = serde_json::to_value(kluis_policy::ContentPolicy::default())?;
    for key in content.keys() {
        if known.get(key).is_none() {
            let names: Vec<&String> = known.as_object().map(|o| o.keys().collect()).unwrap_or_default();
            bail!("unknown key policy.content.{key}; expected one of {names:?}");
        }
    }
    Ok(())
}

/// Whether `s` is a GUID: 8-4-4-4-12 hexadecimal digits.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_file_then_env_then_flags() {
        let mut c: Config = toml::from_str("listen = \"127.0.0.1:9000\"\n[limits]\nmax_expiry_days = 60").unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.limits.max_expiry_days, 60);
        assert_eq!(c.limits.default_expiry_days, 7);
        c.apply_env(|k| (k == "KLUIS_LISTEN").then(|| "127.0.0.1:9100".to_string())).unwrap();
        assert_eq!(c.listen.port(), 9100);
        c.finish().unwrap();
        assert_eq!(c.public_url, "http://127.0.0.1:9100");
    }

    #[test]
    fn rejects_mistakes() {
        assert!(toml::from_str::<Config>("lissen = \"x\"").is_err(), "unknown keys are errors");
        let mut c = Config { public_url: "ftp://x".into(), ..Config::default() };
        assert!(c.finish().is_err());
        let tls = Tls { certificate: Some("cert.pem".into()), key: Some("key.pem".into()) };
        let mut c = Config { public_url: "http://x".into(), tls: tls.clone(), ..Config::default() };
        assert!(c.finish().is_err(), "TLS with an http:// public URL");
        let mut c = Config { tls: Tls { key: None, ..tls.clone() }, ..Config::default() };
        assert!(c.finish().is_err(), "a certificate without a key");
        let mut c = Config { tls, ..Config::default() };
        c.finish().unwrap();
        assert_eq!(c.public_url, "https://127.0.0.1:8080", "TLS makes the default public URL https");
        let mut c = Config { addin: Addin { id: "not-a-guid".into(), ..Addin::default() }, ..Config::default() };
        assert!(c.finish().is_err());
        let addin = Addin { frame_ancestors: vec!["https://x; script-src *".into()], ..Addin::default() };
        assert!(Config { addin, ..Config::default() }.finish().is_err(), "CSP injection");
        for (origin, ok) in [
            ("https://*", false),
            ("https://*.com", false),
            ("https://outlook.*.com", false),
            ("https://*.*.microsoft", false),
            ("https://*.office365.us", true),
            ("https://outlook.office365.us", true),
        ] {
            let addin = Addin { frame_ancestors: vec![origin.into()], ..Addin::default() };
            assert_eq!(Config { addin, ..Config::default() }.finish().is_ok(), ok, "{origin}");
        }
    }

    #[test]
    fn azure_needs_its_container_one_credential_and_keeps_it_out_of_debug() {
        let key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
        let text = format!(
            "blob_store = \"azure\"\n[azure]\naccount = \"acct\"\ncontainer = \"blobs\"\naccess_key = \"{key}\""
        );
        let mut c: Config = toml::from_str(&text).unwrap();
        c.finish().unwrap();
        assert!(!format!("{c:?}").contains(key), "the access key in Debug");
        let azure = |a: Azure| Config { blob_store: "azure".into(), azure: a, ..Config::default() }.finish();
        let ok = Azure { account: "acct".into(), container: "blobs".into(), ..Azure::default() };
        azure(ok.clone()).expect("credentials from the environment");
        let with_sas = Azure { sas_token: Some("?sv=2021-08-06&sp=rwdl&sig=abc%3D".into()), ..ok.clone() };
        azure(with_sas.clone()).unwrap();
        assert!(!format!("{with_sas:?}").contains("abc"), "the SAS in Debug");
        for (wrong, says) in [
            (Azure { container: String::new(), ..ok.clone() }, "needs azure.account and azure.container"),
            (Azure { account: " ".into(), ..ok.clone() }, "needs azure.account and azure.container"),
            (Azure { access_key: Some(key.into()), ..with_sas.clone() }, "set one"),
            (Azure { access_key: Some("not base64!".into()), ..ok.clone() }, "azure.access_key must be"),
            (Azure { sas_token: Some("https://acct.blob.core.windows.net/?sv=1".into()), ..ok.clone() }, "a query"),
            (Azure { endpoint: Some("acct.blob.core.windows.net".into()), ..ok.clone() }, "azure.endpoint must"),
        ] {
            let e = azure(wrong).unwrap_err().to_string();
            assert!(e.contains(says), "expected {says:?}, got {e:?}");
        }
        let mut other =
            Config { azure: Azure { sas_token: Some("sig=x".into()), ..Azure::default() }, ..Config::default() };
        other.finish().expect("an incomplete [azure] is no error while another blob store is used");
    }

    #[test]
    fn gcs_needs_its_bucket() {
        let mut c: Config =
            toml::from_str("blob_store = \"gcs\"\n[gcs]\nbucket = \"b\"\nservice_account_file = \"sa.json\"").unwrap();
        c.finish().unwrap();
        let mut c = Config { blob_store: "gcs".into(), ..Config::default() };
        assert_eq!(c.finish().unwrap_err().to_string(), "blob_store = \"gcs\" needs gcs.bucket");
        assert!(toml::from_str::<Config>("[gcs]\nservice_account_key = \"{}\"").is_err(), "only a file holds the key");
    }
}
