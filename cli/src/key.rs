//! `kluis key init|show|unlock`: the user's own age identity for receiving
//! files (docs/inbound.md, "The user's key"): X25519, or with `--pq`
//! post-quantum (mlkem768x25519; docs/architecture.md §3, "Post-quantum
//! recipients"). It is made here and
//! kept in an identity file on this computer; the server keeps only its
//! public half and the identity encrypted with the user's passphrase
//! (scrypt, work factor 18), plus a copy encrypted to the organisation's
//! recovery recipient when recovery is on. The passphrase and the identity
//! never reach the server.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use kluis_crypto::{Error as AgeError, native, scrypt, x25519};
use kluis_protocol::inbound::{KeyState, KeyView, PutKey};
use zeroize::Zeroizing;

use crate::client::{Client, server_code};
use crate::output::Output;
use crate::passphrase;
use crate::send::ServerArgs;

/// The scrypt work factor (log2 N) of the wrapped identity; the server refuses less.
const WORK_FACTOR: u8 = 18;
/// The shortest passphrase accepted for a new key.
const MIN_PASSPHRASE: usize = 10;

#[derive(Subcommand)]
pub enum Command {
    /// Make your key for receiving files: an identity file here, and on the
    /// server its public half and a copy locked with your passphrase
    Init(InitArgs),
    /// Show your key's public half (age1…) and whether it can be recovered
    Show {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Write your identity file on this computer from the server's copy,
    /// unlocked with your passphrase (e.g. on a second computer)
    Unlock(UnlockArgs),
}

/// Where the identity file is.
#[derive(Args)]
pub struct IdentityArg {
    /// The identity file (default: identity.txt in the kluis configuration
    /// folder, e.g. ~/.config/kluis; also KLUIS_IDENTITY)
    #[arg(long, short, env = "KLUIS_IDENTITY", value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

impl IdentityArg {
    /// The file given, or the default one.
    pub fn path(&self) -> Result<PathBuf> {
        match &self.identity {
            Some(path) => Ok(path.clone()),
            None => Ok(config_dir()?.join("identity.txt")),
        }
    }
}

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    identity: IdentityArg,
    /// Read the new passphrase from the first line of FILE instead of asking twice
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Replace the key you have: files already encrypted to it (your inbox,
    /// uploads through request links made before) cannot be opened with
    /// the new one
    #[arg(long)]
    replace: bool,
    /// Make a post-quantum key (ML-KEM-768 + X25519, age1pq1…): request
    /// links become about 2000 characters long, which some mail clients
    /// wrap; packages you send are then post-quantum too
    #[arg(long)]
    pq: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    identity: IdentityArg,
    /// Read the passphrase from the first line of FILE instead of asking
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Init(args) => init(args),
        Command::Show { server } => show(server),
        Command::Unlock(args) => unlock(args),
    }
}

/// The kluis configuration folder: KLUIS_CONFIG_DIR, else the system's
/// (`$XDG_CONFIG_HOME/kluis`, `~/.config/kluis`, `%APPDATA%\kluis`).
fn config_dir() -> Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("KLUIS_CONFIG_DIR") {
        return Ok(dir);
    }
    let base = if cfg!(windows) {
        var("APPDATA")
    } else {
        var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")))
    };
    base.map(|b| b.join("kluis")).context("no configuration folder (HOME is not set): give the file with --identity")
}

/// The caller's key state (`GET /key`).
pub fn key_state(client: &Client) -> Result<KeyState> {
    Ok(client.get("/key")?)
}

/// Refuses to go on when `path` exists: an identity file is never overwritten.
fn refuse_existing(path: &Path) -> Result<()> {
    if path.exists() {
        bail!(
            "{} already exists; refusing to overwrite an identity file (choose another with --identity)",
            path.display()
        );
    }
    Ok(())
}

/// Writes `identity` to `path` with mode 0600, creating the folder (0700).
fn write_identity(path: &Path, identity: &native::Identity) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    refuse_existing(path)?;
    let mut out = Output::open(Some(path), false, true)?;
    out.write_all(crate::age::identity_file_text(identity).as_bytes())?;
    out.commit()
}

/// The new passphrase: from the file, or asked twice; at least 10 characters.
fn new_passphrase(file: Option<&Path>) -> Result<Zeroizing<String>> {
    let pass = match file {
        Some(file) => passphrase::from_file(file)?,
        None => {
            eprintln!(
                "Choose a passphrase for your key ({MIN_PASSPHRASE} characters or more). It unlocks your key on \
                 other computers; Kluis never sees it and cannot tell you what it was."
            );
            passphrase::prompt_new()?
        }
    };
    if pass.chars().count() < MIN_PASSPHRASE {
        bail!("the passphrase is too short: use {MIN_PASSPHRASE} characters or more");
    }
    Ok(pass)
}

fn init(args: InitArgs) -> Result<()> {
    let client = args.server.client()?;
    let path = args.identity.path()?;
    let state = key_state(&client)?;
    match (&state.key, args.replace) {
        (Some(key), false) => bail!(
            "you already have a key ({}): to use it on this computer run `kluis key unlock`; \
             `kluis key init --replace` makes a new one, and what was encrypted to the old one \
             cannot be opened with it",
            key.recipient
        ),
        (Some(key), true) => eprintln!(
            "Replacing your key {}: what was encrypted to it (your inbox, uploads through request links \
             made before now) opens only with its old identity file, not with the new key.",
            key.recipient
        ),
        (None, _) => {}
    }
    refuse_existing(&path)?;
    let recovery_to = match &state.recovery_recipient {
        Some(r) => Some(
            r.parse::<x25519::Recipient>()
                .map_err(|e| anyhow!("the server's recovery recipient is not an age recipient: {e}"))?,
        ),
        None => None,
    };
    let pass = new_passphrase(args.passphrase_file.as_deref())?;

    let identity = native::Identity::generate(args.pq)?;
    let secret = identity.to_secret_string();
    let lock = scrypt::Recipient::new(pass).with_work_factor(WORK_FACTOR)?;
    let wrapped = kluis_crypto::encrypt_armored(&[&lock], secret.as_bytes())?;
    let recovery = match &recovery_to {
        Some(to) => Some(kluis_crypto::encrypt_armored(&[to], secret.as_bytes())?),
        None => None,
    };
    // The file first: a key on the server whose identity is nowhere would be useless.
    write_identity(&path, &identity)?;
    let body = PutKey { recipient: identity.to_public().to_string(), wrapped, recovery, replace: args.replace };
    let put = (|| -> Result<KeyView> {
        let mut response = client.request("PUT", "/key").send_json(&body).map_err(|e| client.network(e))?;
        client.check(&mut response)?;
        response.body_mut().read_json().context("the server sent an answer this program does not understand")
    })();
    let view = match put {
        Ok(view) => view,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(match server_code(&e) {
                Some("key_exists") => anyhow!("you already have a key: run `kluis key unlock`, or use --replace"),
                _ => e.context("the server did not keep the key"),
            });
        }
    };
    eprintln!("Your identity file: {} (keep it private; `kluis fetch` uses it)", path.display());
    if view.recoverable {
        eprintln!("Your organisation keeps a recovery copy: an administrator can help if you lose your passphrase.");
    }
    println!("{}", view.recipient);
    Ok(())
}

fn show(server: ServerArgs) -> Result<()> {
    let client = server.client()?;
    let state = key_state(&client)?;
    let Some(key) = state.key else {
        eprintln!("you have no key yet: run `kluis key init`");
        return Ok(());
    };
    println!("recipient    {}", key.recipient);
    println!("kind         {}", key_kind(&key.recipient));
    println!("recoverable  {}", if key.recoverable { "yes (your organisation keeps a recovery copy)" } else { "no" });
    println!("created      {}", key.created_at);
    if key.updated_at != key.created_at {
        println!("updated      {}", key.updated_at);
    }
    if key.must_change_passphrase {
        println!("note         an administrator recovered your key under a passphrase they chose: choose your own");
    }
    Ok(())
}

/// What kind of key `recipient` is, in words.
fn key_kind(recipient: &str) -> &'static str {
    match recipient.parse::<native::Recipient>() {
        Ok(native::Recipient::PostQuantum(_)) => "post-quantum (ML-KEM-768 + X25519)",
        Ok(native::Recipient::X25519(_)) => "classic (X25519)",
        Err(_) => "unknown",
    }
}

fn unlock(args: UnlockArgs) -> Result<()> {
    let client = args.server.client()?;
    let path = args.identity.path()?;
    refuse_existing(&path)?;
    let key = key_state(&client)?.key.context("you have no key yet: run `kluis key init`")?;
    let pass = match &args.passphrase_file {
        Some(file) => passphrase::from_file(file)?,
        None => passphrase::prompt("Passphrase of your key: ")?,
    };
    let lock = scrypt::Identity::new(pass);
    let secret = match kluis_crypto::decrypt(&[&lock], key.wrapped.as_bytes()) {
        Ok(secret) => Zeroizing::new(secret),
        Err(AgeError::NoMatch) => bail!("that passphrase does not unlock your key"),
        Err(e) => return Err(anyhow!(e).context("cannot unlock the key the server keeps")),
    };
    let identity = std::str::from_utf8(&secret)
        .ok()
        .and_then(|s| s.trim().parse::<native::Identity>().ok())
        .context("the server's copy of your key does not hold an age identity")?;
    if identity.to_public().to_string() != key.recipient {
        bail!("the server's copy of your key does not match its recipient {}", key.recipient);
    }
    write_identity(&path, &identity)?;
    eprintln!("Your identity file: {}", path.display());
    if key.must_change_passphrase {
        eprintln!(
            "An administrator recovered your key under a passphrase they chose: choose your own in the Kluis web app."
        );
    }
    println!("{}", key.recipient);
    Ok(())
}
