//! `kluis-server`: runs the server, or does an administrative task.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use kluis_server::config::{Config, Overrides};

/// The Kluis server. With no options it starts on its embedded defaults:
/// data in ./kluis-data, listening on 127.0.0.1:8080, mail to ./kluis-data/outbox.
#[derive(Parser)]
#[command(name = "kluis-server", version)]
struct Cli {
    /// Configuration file (TOML); also KLUIS_CONFIG
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (database, blobs, outbox); also KLUIS_DATA
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Address to listen on; also KLUIS_LISTEN
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// URL users reach the server at; also KLUIS_PUBLIC_URL
    #[arg(long, global = true, value_name = "URL")]
    public_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default)
    Serve,
    /// Manage API tokens
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage organisations (one server can host several)
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Manage users
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The audit log
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The organisations' licences: install one, show them
    Licence {
        #[command(subcommand)]
        command: LicenceCommand,
    },
    /// The Outlook add-in
    Addin {
        #[command(subcommand)]
        command: AddinCommand,
    },
    /// Back up the data directory while the server runs: a consistent copy of
    /// the database, the blobs it refers to, the server key, and MANIFEST.sha256
    Backup {
        /// A new (or empty) folder for the backup
        dir: PathBuf,
    },
    /// Restore a backup made by `backup` as the data directory (stop the server
    /// first); every file is checked against the backup's MANIFEST.sha256
    Restore {
        /// The backup's folder
        dir: PathBuf,
        /// Replace a data directory that is not empty (it is kept beside, renamed)
        #[arg(long)]
        force: bool,
    },
    /// Move this install (SQLite, blobs on disk) to PostgreSQL and, with
    /// --blobs-to, its blobs to an object store; stop every server first. Safe to
    /// run again: it goes on where an interrupted run stopped, and verifies
    Migrate {
        /// The PostgreSQL database (new and empty): a postgres:// URL or key=value
        /// string (TLS: sslmode=require; a private CA: database_ca_file); also
        /// KLUIS_MIGRATE_TO, which keeps a password out of the process list
        #[arg(long, value_name = "URL")]
        to: Option<String>,
        /// Also copy the blobs into this object store, as configured: "s3" ([s3]),
        /// "azure" ([azure]) or "gcs" ([gcs])
        #[arg(long, value_name = "STORE")]
        blobs_to: Option<String>,
    },
    /// Export everything an organisation owns (users, packages' metadata, audit
    /// log, settings, licence, the encrypted files) in open formats into DIR
    Export {
        /// The organisation, by id or name
        #[arg(long, alias = "org", value_name = "ORG")]
        organisation: String,
        /// A new (or empty) folder for the export
        dir: PathBuf,
    },
    /// Delete an organisation and everything it owns (end of contract), and
    /// write a signed deletion certificate
    DeleteOrganisation {
        /// The organisation, by id or name
        org: String,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// Where to write the certificate (default: deletion-certificate-<id>-<date>.txt here)
        #[arg(long, value_name = "FILE")]
        certificate: Option<PathBuf>,
    },
    /// Deletion certificates
    Certificate {
        #[command(subcommand)]
        command: CertificateCommand,
    },
}

#[derive(Subcommand)]
enum CertificateCommand {
    /// Check a deletion certificate's signature, print what it says, and
    /// whether this server (its data directory's key) signed it; exit 1 if not valid
    Verify {
        /// The certificate (`-` for standard input)
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AddinCommand {
    /// Print the add-in manifest for this server's public URL, to upload in the
    /// Microsoft 365 admin centre (Integrated apps) or sideload in Outlook
    Manifest {
        /// Write it to FILE instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum LicenceCommand {
    /// Install the licence in FILE (as the vendor sent it; `-` for standard
    /// input) for the organisation with a mail domain it names, or --org
    Install {
        file: PathBuf,
        /// The organisation (id or name)
        #[arg(long)]
        org: Option<String>,
    },
    /// Show each organisation's licence, seats and what happens when
    Show {
        /// Only this organisation (id or name)
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every organisation's hash chain: prints `audit log intact` and
    /// each chain's head (exit 0), or the first broken row (exit 1)
    Verify {
        /// Create the data directory if it holds no Kluis database yet
        #[arg(long)]
        init: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new API token for EMAIL (the user is created if needed)
    Create {
        email: String,
        /// What the token is for
        #[arg(long, default_value = "created on the command line")]
        label: String,
        /// Create the data directory if it holds no Kluis database yet
        #[arg(long)]
        init: bool,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Add an organisation with its mail domains
    Create {
        /// Its name, as mails and pages show it
        name: String,
        /// A mail domain of it (repeatable): addresses there are internal, and their users belong here
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
        /// Create the data directory if it holds no Kluis database yet
        #[arg(long)]
        init: bool,
    },
    /// Single sign-on with OpenID Connect (Entra ID, Keycloak, Google, …) for an
    /// organisation; without options it shows the settings. Its users whose
    /// address is in its mail domains then sign in at the provider; others keep
    /// the mailed code. A change sets every option: one left out is off (the
    /// client secret, left out, is kept)
    Sso {
        /// The organisation, by id or name
        org: String,
        /// The provider's issuer URL (e.g. https://login.microsoftonline.com/TENANT/v2.0)
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        /// The client (application) id registered at the provider
        #[arg(long, value_name = "ID", requires = "issuer")]
        client_id: Option<String>,
        /// A file holding the client secret (first line; `-` reads standard input); kept if omitted on a change
        #[arg(long, value_name = "FILE", requires = "issuer")]
        client_secret_file: Option<PathBuf>,
        /// Make unknown addresses of the organisation's mail domains users at their first sign-in
        #[arg(long, requires = "issuer")]
        create_users: bool,
        /// Accept the provider's `email` claim without `email_verified` (Entra ID sends none)
        #[arg(long, requires = "issuer")]
        trust_email: bool,
        /// Turn single sign-on off (users sign in with mailed codes)
        #[arg(long, conflicts_with_all = ["issuer", "show"])]
        off: bool,
        /// Only show the settings
        #[arg(long, conflicts_with = "issuer")]
        show: bool,
        /// Create the data directory if it holds no Kluis database yet
        #[arg(long)]
        init: bool,
    },
    /// List the organisations: id, name, mail domains
    List {
        /// Create the data directory if it holds no Kluis database yet
        #[arg(long)]
        init: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user who may sign in and send packages (or let a disabled one in again)
    Add {
        email: String,
        /// Their organisation, by id or name (default: the one with the address's mail domain, or the only one)
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// Make them an admin of their organisation
        #[arg(long)]
        admin: bool,
        /// Their name, as pages and mails show it
        #[arg(long)]
        name: Option<String>,
        /// Create the data directory if it holds no Kluis database yet
        #[arg(long)]
        init: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides =
        Overrides { config_file: cli.config, data_dir: cli.data, listen: cli.listen, public_url: cli.public_url };
    let result = Config::load(&overrides).and_then(|config| {
        init_logging(&config);
        let done = match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config),
            Command::Token { command: TokenCommand::Create { email, label, init } } => {
                create_token(config, &email, &label, init)
            }
            Command::Org { command: OrgCommand::Create { name, domains, init } } => {
                create_org(config, &name, &domains, init)
            }
            Command::Org { command: OrgCommand::List { init } } => list_orgs(config, init),
            Command::Org {
                command:
                    OrgCommand::Sso {
                        org,
                        issuer,
                        client_id,
                        client_secret_file,
                        create_users,
                        trust_email,
                        off,
                        show,
                        init,
                    },
            } => {
                let spec = SsoArgs { issuer, client_id, client_secret_file, create_users, trust_email, off, show };
                org_sso(config, &org, spec, init)
            }
            Command::User { command: UserCommand::Add { email, org, admin, name, init } } => {
                let spec = kluis_server::admin::UserSpec { organisation: org, admin: admin.then_some(true), name };
                add_user(config, &email, &spec, init)
            }
            Command::Audit { command: AuditCommand::Verify { init } } => return verify_audit(config, init),
            Command::Licence { command } => licence(config, command),
            Command::Addin { command: AddinCommand::Manifest { out } } => addin_manifest(&config, out),
            Command::Backup { dir } => backup(config, &dir),
            Command::Restore { dir, force } => restore(&config, &dir, force),
            Command::Migrate { to, blobs_to } => return migrate(&config, to, blobs_to.as_deref()),
            Command::Export { organisation, dir } => export(config, &organisation, &dir),
            Command::DeleteOrganisation { org, yes, certificate } => {
                delete_organisation(config, &org, yes, certificate)
            }
            Command::Certificate { command: CertificateCommand::Verify { file } } => {
                return verify_certificate(&config, &file);
            }
        };
        done.map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colours only on a terminal, never in log files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn serve(config: Config) -> Result<()> {
    actix_web::rt::System::new().block_on(async {
        let state = kluis_server::open(config).await?;
        kluis_server::serve(state).await
    })
}

/// Opens the data directory for an administrative command, which says on
/// stderr which one it works on (stdout stays for what the command prints).
/// One without a database is refused unless `init` (see `admin::open`).
async fn open_admin(config: Config, init: bool) -> Result<kluis_server::State> {
    let (state, dir) = kluis_server::admin::open(config, init).await?;
    if dir.created {
        eprintln!("data directory: {} (new)", dir.path.display());
    } else {
        eprintln!("data directory: {}", dir.path.display());
    }
    Ok(state)
}

fn create_token(config: Config, email: &str, label: &str, init: bool) -> Result<()> {
    if label.trim().is_empty() {
        bail!("the label must not be empty");
    }
    let token = actix_web::rt::System::new().block_on(async {
        let state = open_admin(config, init).await?;
        kluis_server::admin::create_token(&state, email, label).await
    })?;
    println!("{token}");
    Ok(())
}

fn add_user(config: Config, email: &str, spec: &kluis_server::admin::UserSpec, init: bool) -> Result<()> {
    let user = actix_web::rt::System::new().block_on(async {
        let state = open_admin(config, init).await?;
        kluis_server::admin::add_user_as(&state, email, spec).await
    })?;
    let role = if user.admin { ", as an admin" } else { "" };
    eprintln!("{} may now sign in ({}{role})", user.email, user.organisation);
    Ok(())
}

fn create_org(config: Config, name: &str, domains: &[String], init: bool) -> Result<()> {
    let org = actix_web::rt::System::new().block_on(async {
        let state = open_admin(config, init).await?;
        kluis_server::admin::create_organisation(&state, name, domains).await
    })?;
    println!("{}", org.id);
    eprintln!(
        "organisation {} ({}) created; add its first admin with `kluis-server user add EMAIL --org {} --admin`",
        org.name, org.id, org.id
    );
    Ok(())
}

fn list_orgs(config: Config, init: bool) -> Result<()> {
    let orgs = actix_web::rt::System::new().block_on(async {
        let state = open_admin(config, init).await?;
        kluis_server::admin::organisations(&state).await
    })?;
    for org in orgs {
        let domains = if org.domains.is_empty() { "-".to_string() } else { org.domains.join(",") };
        println!("{}\t{}\t{domains}", org.id, org.name);
    }
    Ok(())
}

struct SsoArgs {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    create_users: bool,
    trust_email: bool,
    off: bool,
    show: bool,
}

/// Sets, turns off or shows an organisation's single sign-on; the secret is read
/// from a file (never an argument, which other users of the machine could see).
fn org_sso(config: Config, org: &str, args: SsoArgs, init: bool) -> Result<()> {
    let secret = match &args.client_secret_file {
        Some(path) if path.as_os_str() == "-" => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            Some(line)
        }
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the client secret from {}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
        None => None,
    };
    let spec = match args.issuer {
        Some(issuer) if !args.off && !args.show => {
            let Some(client_id) = args.client_id else { bail!("--client-id is needed with --issuer") };
            Some(kluis_server::admin::SsoSpec {
                issuer,
                client_id,
                client_secret: secret.map(|s| s.trim().to_string()),
                create_users: args.create_users,
                trust_email: args.trust_email,
            })
        }
        _ => None,
    };
    let change = spec.is_some() || args.off;
    let info = actix_web::rt::System::new().block_on(async {
        let state = open_admin(config, init).await?;
        if change {
            kluis_server::admin::configure_sso(&state, org, spec).await
        } else {
            kluis_server::admin::sso(&state, org).await
        }
    })?;
    match (&info.issuer, &info.client_id) {
        (Some(issuer), Some(client_id)) => {
            println!("organisation: {}", info.organisation);
            println!("issuer: {issuer}");
            println!("client id: {client_id}");
            println!("client secret: {}", if info.secret_set { "set" } else { "not set" });
            println!("create users at first sign-in: {}", if info.create_users { "yes" } else { "no" });
            println!("trust email without email_verified: {}", if info.trust_email { "yes" } else { "no" });
            println!("redirect URI (register it at the provider): {}", info.redirect_uri);
        }
        _ => println!("single sign-on is off for {}: its users sign in with mailed codes", info.organisation),
    }
    Ok(())
}

/// Exit 0 when every chain is intact, 1 (with the first broken row) when not.
fn verify_audit(config: Config, init: bool) -> Result<ExitCode> {
    let verdict = actix_web::rt::System::new().block_on(async {
        let state = open_admin(config, init).await?;
        kluis_server::admin::verify_audit(&state).await
    })?;
    println!("{}", verdict.report);
    Ok(if verdict.intact { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn licence(config: Config, command: LicenceCommand) -> Result<()> {
    let report = actix_web::rt::System::new().block_on(async {
        let state = open_admin(config, false).await?;
        match command {
            LicenceCommand::Install { file, org } => {
                let text = if file == std::path::Path::new("-") {
                    std::io::read_to_string(std::io::stdin())?
                } else {
                    std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
                };
                kluis_server::admin::install_licence(&state, org.as_deref(), &text).await
            }
            LicenceCommand::Show { org } => kluis_server::admin::licence_report(&state, org.as_deref()).await,
        }
    })?;
    println!("{report}");
    Ok(())
}

fn addin_manifest(config: &Config, out: Option<PathBuf>) -> Result<()> {
    let xml = kluis_server::addin::manifest(config);
    match out {
        Some(path) => std::fs::write(&path, xml).with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::Write::write_all(&mut std::io::stdout().lock(), xml.as_bytes())?,
    }
    Ok(())
}

fn backup(config: Config, dir: &std::path::Path) -> Result<()> {
    let report = actix_web::rt::System::new().block_on(async {
        let state = open_admin(config, false).await?;
        kluis_server::admin::backup(&state, dir).await
    })?;
    println!("{report}");
    Ok(())
}

/// Runs without opening the data directory: it is what gets replaced.
fn restore(config: &Config, dir: &std::path::Path, force: bool) -> Result<()> {
    let report =
        actix_web::rt::System::new().block_on(async { kluis_server::admin::restore(config, dir, force).await })?;
    println!("{report}");
    Ok(())
}

/// Prints the verification report; fails unless the copy is whole and identical.
fn migrate(config: &Config, to: Option<String>, blobs_to: Option<&str>) -> Result<ExitCode> {
    let Some(to) = to.or_else(|| std::env::var("KLUIS_MIGRATE_TO").ok()) else {
        bail!("say where to: --to postgres://… (or KLUIS_MIGRATE_TO)");
    };
    let report =
        actix_web::rt::System::new().block_on(kluis_server::migrate::migrate(config, &to, blobs_to, |step| {
            eprintln!("{step}");
        }))?;
    println!("{report}");
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn export(config: Config, org: &str, dir: &std::path::Path) -> Result<()> {
    let report = actix_web::rt::System::new().block_on(async {
        let state = open_admin(config, false).await?;
        kluis_server::admin::export(&state, org, dir).await
    })?;
    println!("{report}");
    Ok(())
}

/// Asks (unless `yes`) for the organisation's name to be typed, then deletes
/// and writes the certificate, which it never overwrites.
fn delete_organisation(config: Config, org: &str, yes: bool, certificate: Option<PathBuf>) -> Result<()> {
    let (certificate, summary, path) = actix_web::rt::System::new().block_on(async {
        let state = open_admin(config, false).await?;
        let (name, description) = kluis_server::admin::describe_organisation(&state, org).await?;
        if !yes {
            eprintln!("This deletes {description}, with its audit log and every encrypted file, for good.");
            eprintln!("Export it first if it is wanted (kluis-server export --organisation ORG DIR).");
            eprint!("Type the organisation's name ({name}) to delete it: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            if line.trim() != name {
                bail!("not confirmed: nothing was deleted");
            }
        }
        let path = certificate.unwrap_or_else(|| {
            let date = time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!("[year]-[month]-[day]"))
                .unwrap_or_default();
            PathBuf::from(format!(
                "deletion-certificate-{}-{date}.txt",
                org.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
            ))
        });
        if path.exists() {
            bail!("{} exists: name another file for the certificate with --certificate", path.display());
        }
        let (certificate, summary) = kluis_server::admin::delete_organisation(&state, org).await?;
        Ok::<_, anyhow::Error>((certificate, summary, path))
    })?;
    std::fs::write(&path, &certificate).with_context(|| {
        format!(
            "the organisation was deleted, but the certificate could not be written to {}; here it is:\n{certificate}",
            path.display()
        )
    })?;
    println!("{summary}");
    println!(
        "deletion certificate written to {} (check it with `kluis-server certificate verify FILE`)",
        path.display()
    );
    Ok(())
}

/// Exit 0 when the signature holds, 1 when not.
fn verify_certificate(config: &Config, file: &std::path::Path) -> Result<ExitCode> {
    let text = if file == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    match kluis_server::admin::verify_certificate(config, &text) {
        Ok(report) => {
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("certificate NOT valid: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
