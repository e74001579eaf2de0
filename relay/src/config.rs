//! The relay's settings: defaults, then the TOML file (`--config`), then
//! the environment, then flags; later sources win. Unknown keys in the
//! file are errors. Everything is checked at start, so a relay that runs
//! has a usable configuration.
//!
//! ```toml
//! listen = "0.0.0.0:25"
//! hostname = "relay.example.org"
//! state_dir = "/var/lib/kluis-relay"      # spool key and spool
//! upstream = "smtp://mail.example.org:25"
//! upstream_tls = "required"             # or "opportunistic": STARTTLS only when offered
//! mode = "pass"                         # or "split": upstream is the organisation's own mail server
//! loop_guard = "…"                      # split: the secret X-Kluis-Relay value its rule excepts
//! server = "https://kluis.example.org"
//! token_file = "/etc/kluis-relay/token"  # or --token, KLUIS_RELAY_TOKEN
//!
//! [tls]
//! certificate = "/etc/kluis-relay/fullchain.pem"
//! key = "/etc/kluis-relay/privkey.pem"
//!
//! [clients]
//! networks = ["127.0.0.0/8", "::1", "192.0.2.25"]   # may relay without AUTH
//! users_file = "/etc/kluis-relay/users"              # name:$argon2id$… per line
//! users = [{ name = "postfix", password_hash = "$argon2id$v=19$…" }]
//!
//! [limits]
//! message_size = 26214400
//! recipients = 100
//! commands = 1000
//! errors = 10
//! line_length = 65536          # at least RFC 5321's 1000
//! idle_timeout_seconds = 300
//! connections = 64
//! connections_per_client = 8   # clients outside clients.networks
//! session_seconds = 1800       # a connection's whole life
//!
//! [delivery]
//! retry = ["1m", "5m", "15m", "1h", "4h"]  # waits after each failed attempt; the last repeats
//! bounce_after = "5d"                       # then a bounce to the sender
//!
//! [triggers]                   # secure these whatever the content policy says
//! subject_keywords = ["[secure]", "[beveiligd]"]
//! sensitivity = ["private", "company-confidential"]
//! senders = ["legal.example.org", "ceo@example.org"]   # addresses, or domains
//! recipient_domains = ["court.example"]
//!
//! [secure]
//! verify = "email"             # or "none" where the organisation's policy allows it
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::{BadHash, Users};
use crate::classify::Triggers;
use crate::networks::{BadNetwork, Network};
use crate::session::{Limits, Senders};
use crate::tls::{self, TlsError};

/// The port an unprivileged relay listens on by default (25 needs root or
/// `CAP_NET_BIND_SERVICE`).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2525";

/// The configuration file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub listen: Option<SocketAddr>,
    pub hostname: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub upstream: Option<String>,
    /// `required` (default) or `opportunistic`: STARTTLS to an `smtp://` upstream.
    pub upstream_tls: Option<String>,
    /// `pass` (default: mail not secured goes on to `upstream`) or `split`
    /// (`upstream` is the organisation's own mail server, which delivers it).
    pub mode: Option<String>,
    /// `split` mode: the secret value of the `X-Kluis-Relay` header on every
    /// message the relay sends, which the mail server's routing rule excepts.
    pub loop_guard: Option<String>,
    pub server: Option<String>,
    pub token_file: Option<PathBuf>,
    pub tls: Option<TlsFile>,
    #[serde(default)]
    pub clients: ClientsFile,
    #[serde(default)]
    pub limits: LimitsFile,
    #[serde(default)]
    pub delivery: DeliveryFile,
    #[serde(default)]
    pub triggers: TriggersFile,
    #[serde(default)]
    pub secure: SecureFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggersFile {
    pub subject_keywords: Option<Vec<String>>,
    pub sensitivity: Option<Vec<String>>,
    #[serde(default)]
    pub senders: Vec<String>,
    #[serde(default)]
    pub recipient_domains: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecureFile {
    /// `email` (default): recipients confirm their address with a code;
    /// `none`: the link alone opens the package, where the organisation's
    /// policy does not require verification.
    pub verify: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsFile {
    /// Default: loopback only.
    pub networks: Option<Vec<String>>,
    #[serde(default)]
    pub users: Vec<UserFile>,
    pub users_file: Option<PathBuf>,
    /// Domains MAIL FROM may use; default: any.
    pub sender_domains: Option<Vec<String>>,
    /// The Microsoft 365 tenant id whose Exchange Online messages are taken from clients that did not authenticate.
    pub exchange_online_tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFile {
    pub name: String,
    pub password_hash: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub message_size: Option<usize>,
    pub recipients: Option<usize>,
    pub commands: Option<usize>,
    pub errors: Option<usize>,
    pub line_length: Option<usize>,
    pub idle_timeout_seconds: Option<u64>,
    pub connections: Option<usize>,
    pub connections_per_client: Option<usize>,
    pub session_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryFile {
    pub retry: Option<Vec<String>>,
    pub bounce_after: Option<String>,
}

/// A duration as people write it: `30s`, `5m`, `4h`, `5d`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let number: u64 = text[..text.len() - 1].parse().ok().filter(|&n| n > 0)?;
    number.checked_mul(unit).map(Duration::from_secs)
}

/// What flags and the environment say (the command line's parsed values).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub upstream: Option<String>,
    pub server: Option<String>,
    pub token: Option<String>,
    pub state_dir: Option<PathBuf>,
}

/// The upstream mail server: `smtp://HOST:PORT` (STARTTLS) or
/// `smtps://HOST:PORT` (TLS from the start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub implicit_tls: bool,
    /// `smtp://` only: refuse to send without STARTTLS (`upstream_tls =
    /// "required"`, the default: notifications carry the link, and an attacker
    /// on the path could strip STARTTLS from the server's EHLO answer).
    pub require_starttls: bool,
    pub host: String,
    pub port: u16,
}

impl std::str::FromStr for Upstream {
    type Err = ConfigError;

    fn from_str(url: &str) -> Result<Upstream, ConfigError> {
        let bad = || ConfigError::Upstream(url.to_string());
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let implicit_tls = match scheme {
            "smtp" => false,
            "smtps" => true,
            _ => return Err(bad()),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') => (host, port.parse().map_err(|_| bad())?),
            _ => (rest, if implicit_tls { 465 } else { 25 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', '@', '?', '#']) {
            return Err(bad());
        }
        Ok(Upstream { implicit_tls, require_starttls: true, host: host.to_string(), port })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("--upstream {0:?} is not smtp://HOST:PORT or smtps://HOST:PORT")]
    Upstream(String),
    #[error("upstream_tls = {0:?}: it is \"required\" (the default) or \"opportunistic\"")]
    UpstreamTls(String),
    #[error("mode = {0:?}: it is \"pass\" (the default) or \"split\"")]
    Mode(String),
    #[error(
        "mode = \"split\" needs loop_guard: a secret of at least 20 letters and digits, the X-Kluis-Relay value the mail server's rule excepts"
    )]
    LoopGuard,
    #[error("--server {0:?} is not an http:// or https:// URL")]
    Server(String),
    #[error("clients.networks")]
    Network(#[from] BadNetwork),
    #[error("clients.users")]
    Users(#[from] BadHash),
    #[error("cannot read the users file {path} (clients.users_file)")]
    UsersFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line} of {path} is not name:$argon2id$… (clients.users_file)")]
    UsersLine { path: PathBuf, line: usize },
    #[error("cannot read the token file {path} (token_file)")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("limits.{0} must be at least {1}")]
    Limit(&'static str, usize),
    #[error("delivery.{0}: {1:?} is not a duration such as 30s, 5m, 4h or 5d")]
    Duration(&'static str, String),
    #[error("users are configured but no [tls]: AUTH is offered only after STARTTLS, so nobody could sign in")]
    UsersWithoutTls,
    #[error("clients.sender_domains: {0:?} is not a domain name")]
    SenderDomain(String),
    #[error("triggers.{0}: {1:?} is not {2}")]
    Trigger(&'static str, String, &'static str),
    #[error("secure.verify = {0:?}: it is \"email\" (the default) or \"none\"")]
    Verify(String),
    #[error(
        "clients.exchange_online_tenant: {0:?} is not a tenant id (a GUID such as 8f0e3c52-1d3a-4c1e-9b4e-2f6a0c7d9e11)"
    )]
    Tenant(String),
}

/// The relay's settings, checked.
pub struct Config {
    pub listen: SocketAddr,
    pub hostname: String,
    pub state_dir: PathBuf,
    pub upstream: Option<Upstream>,
    /// `split` mode's loop guard (the `X-Kluis-Relay` value); `None` in `pass` mode.
    pub loop_guard: Option<zeroize::Zeroizing<String>>,
    pub server: Option<String>,
    pub token: Option<zeroize::Zeroizing<String>>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub networks: Vec<Network>,
    pub users: Users,
    pub senders: Senders,
    pub limits: Limits,
    pub idle_timeout: Duration,
    pub connections: usize,
    /// Connections at once from one address outside `networks`.
    pub connections_per_client: usize,
    /// The longest a connection may last, however busy.
    pub session_limit: Duration,
    pub retry: Vec<Duration>,
    pub bounce_after: Duration,
    pub triggers: Triggers,
    /// Whether recipients of a secured message confirm their address with a
    /// code (always, where the organisation's policy requires it).
    pub verify_email: bool,
}

impl Config {
    /// Reads `path` (if any) and applies `overrides` on top.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
        let file = match path {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), source: Box::new(e) })?
            }
            None => File::default(),
        };
        Config::resolve(file, overrides)
    }

    pub fn resolve(file: File, overrides: Overrides) -> Result<Config, ConfigError> {
        let mut upstream: Option<Upstream> = overrides.upstream.or(file.upstream).map(|u| u.parse()).transpose()?;
        if let Some(upstream) = &mut upstream {
            upstream.require_starttls = match file.upstream_tls.as_deref() {
                None | Some("required") => true,
                Some("opportunistic") => false,
                Some(other) => return Err(ConfigError::UpstreamTls(other.to_string())),
            };
        }
        let server = overrides.server.or(file.server);
        if let Some(server) = &server
            && !(server.starts_with("http://") || server.starts_with("https://"))
        {
            return Err(ConfigError::Server(server.clone()));
        }
        let loop_guard = match (file.mode.as_deref(), file.loop_guard) {
            (None | Some("pass"), _) => None,
            (Some("split"), Some(guard))
                if guard.len() >= 20 && guard.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Some(zeroize::Zeroizing::new(guard))
            }
            (Some("split"), _) => return Err(ConfigError::LoopGuard),
            (Some(other), _) => return Err(ConfigError::Mode(other.to_string())),
        };
        let token = match (overrides.token, &file.token_file) {
            (Some(token), _) => Some(token),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::TokenFile { path: path.clone(), source })?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        }
        .map(zeroize::Zeroizing::new);
        let tls = file.tls.as_ref().map(|t| tls::server_config(&t.certificate, &t.key)).transpose()?;

        let networks = match &file.clients.networks {
            Some(list) => list.iter().map(|n| n.parse()).collect::<Result<Vec<Network>, _>>()?,
            None => vec!["127.0.0.0/8".parse()?, "::1".parse()?],
        };
        let mut users: Vec<(String, String)> =
            file.clients.users.into_iter().map(|u| (u.name, u.password_hash)).collect();
        if let Some(path) = &file.clients.users_file {
            users.extend(read_users_file(path)?);
        }
        let users = Users::new(users)?;
        if !users.is_empty() && tls.is_none() {
            return Err(ConfigError::UsersWithoutTls);
        }
        let domains = file.clients.sender_domains.unwrap_or_default();
        if let Some(domain) = domains.iter().find(|d| !is_domain(d)) {
            return Err(ConfigError::SenderDomain(domain.clone()));
        }
        let exchange_online_tenant = match file.clients.exchange_online_tenant {
            Some(id) if is_guid(&id) => Some(id.to_ascii_lowercase()),
            Some(id) => return Err(ConfigError::Tenant(id)),
            None => None,
        };
        let senders =
            Senders { domains: domains.iter().map(|d| d.to_ascii_lowercase()).collect(), exchange_online_tenant };

        let defaults = Limits::default();
        let l = &file.limits;
        let limits = Limits {
            message_size: l.message_size.unwrap_or(defaults.message_size),
            recipients: l.recipients.unwrap_or(defaults.recipients),
            commands: l.commands.unwrap_or(defaults.commands),
            errors: l.errors.unwrap_or(defaults.errors),
            line_length: l.line_length.unwrap_or(defaults.line_length),
        };
        // RFC 5321 §4.5.3.1: the minimum sizes every SMTP server must accept.
        for (name, value, minimum) in [
            ("message_size", limits.message_size, 64 * 1024),
            ("recipients", limits.recipients, 100),
            ("commands", limits.commands, 10),
            ("errors", limits.errors, 1),
            ("line_length", limits.line_length, 1000),
        ] {
            if value < minimum {
                return Err(ConfigError::Limit(name, minimum));
            }
        }
        let connections = l.connections.unwrap_or(64);
        if connections == 0 {
            return Err(ConfigError::Limit("connections", 1));
        }
        let connections_per_client = l.connections_per_client.unwrap_or(8);
        if connections_per_client == 0 {
            return Err(ConfigError::Limit("connections_per_client", 1));
        }
        // A slow client may not hold a connection for ever, trickling a byte per idle timeout.
        let session_seconds = l.session_seconds.unwrap_or(1800);
        if session_seconds < 60 {
            return Err(ConfigError::Limit("session_seconds", 60));
        }
        // RFC 5321 §4.5.3.2.7: a server should wait at least 5 minutes for a command.
        let idle_timeout = Duration::from_secs(l.idle_timeout_seconds.unwrap_or(300).max(1));

        let duration = |name: &'static str, text: &str| {
            parse_duration(text).ok_or_else(|| ConfigError::Duration(name, text.to_string()))
        };
        let retry = match &file.delivery.retry {
            Some(list) if !list.is_empty() => list.iter().map(|t| duration("retry", t)).collect::<Result<_, _>>()?,
            Some(_) => return Err(ConfigError::Duration("retry", String::new())),
            None => [1, 5, 15, 60, 240].iter().map(|m| Duration::from_secs(m * 60)).collect(),
        };
        let bounce_after = match &file.delivery.bounce_after {
            Some(text) => duration("bounce_after", text)?,
            None => Duration::from_secs(5 * 86_400),
        };
        let triggers = triggers(file.triggers)?;
        let verify_email = match file.secure.verify.as_deref() {
            None | Some("email") => true,
            Some("none") => false,
            Some(other) => return Err(ConfigError::Verify(other.to_string())),
        };
        Ok(Config {
            listen: overrides.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid")),
            hostname: file.hostname.unwrap_or_else(default_hostname),
            state_dir: overrides.state_dir.or(file.state_dir).unwrap_or_else(|| PathBuf::from("kluis-relay")),
            upstream,
            loop_guard,
            server,
            token,
            tls,
            senders,
            networks,
            users,
            limits,
            idle_timeout,
            connections,
            connections_per_client,
            session_limit: Duration::from_secs(session_seconds),
            retry,
            bounce_after,
            triggers,
            verify_email,
        })
    }
}

/// The `[triggers]` section, checked and lowercased.
fn triggers(file: TriggersFile) -> Result<Triggers, ConfigError> {
    let defaults = Triggers::default();
    let lower = |list: Vec<String>| list.into_iter().map(|s| s.trim().to_lowercase()).collect::<Vec<_>>();
    let subject_keywords = lower(file.subject_keywords.unwrap_or(defaults.subject_keywords));
    if let Some(empty) = subject_keywords.iter().find(|k| k.is_empty()) {
        return Err(ConfigError::Trigger("subject_keywords", empty.clone(), "a word"));
    }
    let sensitivity = lower(file.sensitivity.unwrap_or(defaults.sensitivity));
    let senders = lower(file.senders);
    for sender in &senders {
        let domain = sender
            .rsplit_once('@')
            .map_or(sender.as_str(), |(local, domain)| if local.is_empty() { "" } else { domain });
        if !is_domain(domain) {
            return Err(ConfigError::Trigger("senders", sender.clone(), "an address or a domain name"));
        }
    }
    let recipient_domains = lower(file.recipient_domains);
    if let Some(bad) = recipient_domains.iter().find(|d| !is_domain(d)) {
        return Err(ConfigError::Trigger("recipient_domains", bad.clone(), "a domain name"));
    }
    Ok(Triggers { subject_keywords, sensitivity, senders, recipient_domains })
}

/// A domain name: dot-separated labels of letters, digits and hyphens.
fn is_domain(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// `name:$argon2id$…` per line; blank lines and `#` comments are skipped.
fn read_users_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::UsersFile { path: path.into(), source })?;
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, hash) = line.split_once(':').ok_or(ConfigError::UsersLine { path: path.into(), line: n + 1 })?;
        users.push((name.to_string(), hash.to_string()));
    }
    Ok(users)
}

/// This machine's name, for the greeting and `Received:`.
fn default_hostname() -> String {
    hostname::get().ok().and_then(|h| h.into_string().ok()).filter(|h| !h.is_empty()).unwrap_or("localhost".into())
}

/// A Microsoft 365 tenant id: a GUID, 8-4-4-4-12 hexadecimal digits.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Config, ConfigError, File, Overrides, Upstream, parse_duration};

    #[test]
    fn durations_are_written_with_a_unit() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("5d"), Some(Duration::from_secs(432_000)));
        for bad in ["", "5", "0s", "m", "1.5h", "-1m", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn upstreams_are_smtp_urls() {
        let u: Upstream = "smtp://mail.example.org:587".parse().unwrap();
        assert_eq!(
            u,
            Upstream { implicit_tls: false, require_starttls: true, host: "mail.example.org".into(), port: 587 }
        );
        assert_eq!("smtps://mail.example.org".parse::<Upstream>().unwrap().port, 465);
        assert_eq!("smtp://[::1]:2526".parse::<Upstream>().unwrap().host, "::1");
        for bad in ["mail.example.org:25", "http://x:25", "smtp://", "smtp://user@x:25", "smtp://x:port"] {
            assert!(bad.parse::<Upstream>().is_err(), "{bad}");
        }
    }

    #[test]
    fn files_are_strict_and_limits_keep_rfc_5321_minimums() {
        assert!(toml::from_str::<File>("listen = \"127.0.0.1:25\"\nlisten_typo = 1").is_err());
        let file: File = toml::from_str("[limits]\nrecipients = 10").unwrap();
        assert!(matches!(Config::resolve(file, Overrides::default()), Err(ConfigError::Limit("recipients", 100))));
        let file: File = toml::from_str("[clients]\nusers = [{ name = \"a\", password_hash = \"x\" }]").unwrap();
        assert!(matches!(Config::resolve(file, Overrides::default()), Err(ConfigError::Users(_))));
        let config = Config::resolve(File::default(), Overrides::default()).unwrap();
        assert!(config.networks.iter().any(|n| n.contains("127.0.0.1".parse().unwrap())));
        assert_eq!(config.listen.to_string(), "127.0.0.1:2525");
    }

    #[test]
    fn senders_are_domains_and_a_tenant_id() {
        let resolve = |text: &str| Config::resolve(toml::from_str::<File>(text).unwrap(), Overrides::default());
        let config = resolve(
            "[clients]\nsender_domains = [\"Example.org\"]\nexchange_online_tenant = \"8F0E3C52-1d3a-4c1e-9b4e-2f6a0c7d9e11\"",
        )
        .unwrap();
        assert_eq!(config.senders.domains, ["example.org"]);
        assert_eq!(config.senders.exchange_online_tenant.as_deref(), Some("8f0e3c52-1d3a-4c1e-9b4e-2f6a0c7d9e11"));
        assert!(matches!(resolve("[clients]\nsender_domains = [\"a b\"]"), Err(ConfigError::SenderDomain(_))));
        assert!(matches!(resolve("[clients]\nexchange_online_tenant = \"contoso\""), Err(ConfigError::Tenant(_))));
    }

    #[test]
    fn split_mode_needs_a_secret_loop_guard() {
        let resolve = |text: &str| Config::resolve(toml::from_str::<File>(text).unwrap(), Overrides::default());
        assert!(resolve("").unwrap().loop_guard.is_none());
        assert!(matches!(resolve("mode = \"split\""), Err(ConfigError::LoopGuard)));
        assert!(matches!(resolve("mode = \"split\"\nloop_guard = \"short\""), Err(ConfigError::LoopGuard)));
        assert!(matches!(resolve("mode = \"bounce\""), Err(ConfigError::Mode(_))));
        let config = resolve("mode = \"split\"\nloop_guard = \"k7Qf2mZx9LwB4nTr8VyC\"").unwrap();
        assert_eq!(config.loop_guard.as_deref().map(String::as_str), Some("k7Qf2mZx9LwB4nTr8VyC"));
    }

    #[test]
    fn triggers_and_verification_are_checked() {
        let resolve = |text: &str| Config::resolve(toml::from_str::<File>(text).unwrap(), Overrides::default());
        let config = resolve("[triggers]\nsenders = [\"CEO@Example.org\", \"legal.example.org\"]\nrecipient_domains = [\"Court.example\"]").unwrap();
        assert_eq!(config.triggers.senders, ["ceo@example.org", "legal.example.org"]);
        assert_eq!(config.triggers.recipient_domains, ["court.example"]);
        assert_eq!(config.triggers.subject_keywords, ["[secure]", "[beveiligd]"], "the defaults stay");
        assert!(config.verify_email);
        assert!(!resolve("[secure]\nverify = \"none\"").unwrap().verify_email);
        assert!(matches!(resolve("[secure]\nverify = \"sms\""), Err(ConfigError::Verify(_))));
        for bad in [
            "senders = [\"@example.org\"]",
            "senders = [\"a b\"]",
            "recipient_domains = [\"x@y.example\"]",
            "subject_keywords = [\" \"]",
        ] {
            assert!(matches!(resolve(&format!("[triggers]\n{bad}")), Err(ConfigError::Trigger(..))), "{bad}");
        }
    }
}
