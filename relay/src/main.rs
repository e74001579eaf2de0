//! `kluis-relay`: see `kluis-relay --help` and docs/relay.md.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kluis_client::Api;
use kluis_relay::config::{Config, Overrides};
use kluis_relay::delivery::{Delivery, Queue, Schedule};
use kluis_relay::policy::PolicySource;
use kluis_relay::server::{self, Relay};
use kluis_relay::session::Settings;
use kluis_relay::spool::Spool;
use kluis_relay::{auth, keys};

const ABOUT: &str = "Kluis SMTP relay: takes the organisation's outgoing mail and secures it by content policy";

#[derive(Parser)]
#[command(name = "kluis-relay", version, about = ABOUT, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on for SMTP [default: 127.0.0.1:2525]
    #[arg(long, env = "KLUIS_RELAY_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The mail server that delivers onwards, smtp://HOST:PORT or smtps://HOST:PORT
    #[arg(long, env = "KLUIS_RELAY_UPSTREAM", value_name = "URL")]
    upstream: Option<String>,
    /// Kluis server URL, e.g. https://kluis.example.org
    #[arg(long, env = "KLUIS_RELAY_SERVER", value_name = "URL")]
    server: Option<String>,
    /// The relay's API token (`kluis-server token create EMAIL`)
    #[arg(long, env = "KLUIS_RELAY_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Directory for the spool key and the spool [default: ./kluis-relay]
    #[arg(long, env = "KLUIS_RELAY_STATE", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Configuration file (TOML): TLS, clients, users, limits, delivery
    #[arg(long, env = "KLUIS_RELAY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Print an argon2id hash of the password on standard input, for clients.users
    HashPassword,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::HashPassword) => hash_password(),
        None => run(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn hash_password() -> Result<()> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    println!("{}", auth::hash_password(password).map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?);
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".parse().expect("valid")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let overrides = Overrides {
        listen: cli.listen,
        upstream: cli.upstream,
        server: cli.server,
        token: cli.token,
        state_dir: cli.state_dir,
    };
    let config = Config::load(cli.config.as_deref(), overrides)?;
    if config.networks.iter().any(|n| n.is_everything()) {
        tracing::warn!(
            "clients.networks lets every address relay without AUTH: anyone who can reach {} can send as your organisation{}",
            config.listen,
            if config.senders.exchange_online_tenant.is_some() {
                " (the Exchange Online tenant check still applies)"
            } else {
                ""
            }
        );
    }
    let identity = keys::load_or_create(&config.state_dir)?;
    let (spool, queued) = Spool::open(&config.state_dir.join("spool"), identity)?;
    tracing::info!(messages = queued.len(), "spool {} opened", config.state_dir.join("spool").display());
    let spool = Arc::new(spool);
    let queue = Arc::new(Queue::new(queued));

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let settings = Settings {
            hostname: config.hostname.clone(),
            limits: config.limits.clone(),
            tls: config.tls.is_some(),
            auth: !config.users.is_empty(),
            senders: config.senders.clone(),
        };
        let relay = Relay {
            settings: Arc::new(settings),
            tls: config.tls.clone().map(tokio_rustls::TlsAcceptor::from),
            networks: config.networks.clone(),
            users: Arc::new(config.users),
            spool: spool.clone(),
            queue: queue.clone(),
            idle_timeout: config.idle_timeout,
            connections: Arc::new(tokio::sync::Semaphore::new(config.connections)),
            per_client: server::PerClient::new(config.connections_per_client),
            session_limit: config.session_limit,
            password_checks: Arc::new(tokio::sync::Semaphore::new(server::PASSWORD_CHECKS)),
        };
        match &config.upstream {
            Some(upstream) => {
                let delivery = Delivery {
                    spool,
                    queue,
                    upstream: kluis_relay::upstream::Client::new(upstream, &config.hostname),
                    loop_guard: config.loop_guard.clone(),
                    schedule: Schedule { retry: config.retry.clone(), bounce_after: config.bounce_after },
                    hostname: config.hostname.clone(),
                    policy: match (&config.server, &config.token) {
                        (Some(server), Some(token)) => PolicySource::server(
                            Api::new(server, Some(token.to_string()), concat!("kluis-relay/", env!("CARGO_PKG_VERSION")))
                                .token_source("--token or KLUIS_RELAY_TOKEN"),
                        ),
                        _ => {
                            tracing::warn!("no --server and --token: no content policy and no audit log, only the relay's own triggers");
                            PolicySource::off()
                        }
                    },
                    triggers: config.triggers.clone(),
                    verify_email: config.verify_email,
                };
                tracing::info!(
                    "delivering to {}:{}: what the policy asks to secure becomes a package, the rest goes through unchanged",
                    upstream.host,
                    upstream.port
                );
                tokio::spawn(delivery.run(shutdown()));
            }
            None => tracing::warn!("no --upstream: accepted messages stay in the spool"),
        }
        tracing::info!("listening on {} for SMTP", listener.local_addr()?);
        server::serve(listener, Arc::new(relay), shutdown()).await;
        tracing::info!("stopped");
        Ok(())
    })
}

/// SIGINT or SIGTERM. Messages already answered 250 are on disk; a
/// transaction cut short was never acknowledged, so the client sends it again.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
