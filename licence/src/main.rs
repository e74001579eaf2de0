//! `kluis-licence`: the vendor's tool. Makes signing keys, signs licences,
//! shows and checks them. Never part of a server: servers only verify,
//! against the public keys built into them.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use kluis_licence::{Feature, Licence, PublicKey, SigningKey, Trust};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Parser)]
#[command(name = "kluis-licence", version, about = "Make signing keys and sign Kluis licences (the vendor's tool)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Makes a signing key; prints the public key's line for the servers' list of vendor keys.
    ///
    /// Example: kluis-licence keygen --id kluis-2026-a --out kluis-2026-a.key
    Keygen {
        /// The key's id (letters, digits, - _ .), named in every licence it signs.
        #[arg(long)]
        id: String,
        /// Where to write the private key (made readable only by you; never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Prints the public key's line of a signing key.
    Public {
        /// The signing key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Signs a licence and prints it (or writes it to --out).
    ///
    /// Example: kluis-licence sign --key kluis-2026-a.key --licensee "Ziekenhuis Oost" --domain zho.nl
    /// --seats 250 --feature single-sign-on --from 2026-12-01 --until 2027-11-30
    Sign {
        /// The signing key file.
        #[arg(long)]
        key: PathBuf,
        /// Who holds the licence.
        #[arg(long)]
        licensee: String,
        /// A mail domain of the organisation (repeat for more).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        /// Named users who may send.
        #[arg(long)]
        seats: u32,
        /// A feature: smtp-relay, upload-portal, single-sign-on (repeat for more).
        #[arg(long = "feature")]
        features: Vec<String>,
        /// First valid day, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: String,
        /// Last valid day, YYYY-MM-DD (UTC).
        #[arg(long)]
        until: String,
        /// The licence's id (default: L-<today>-<random>).
        #[arg(long)]
        id: Option<String>,
        /// Write the licence here instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Shows a licence; with --trust, checks its signature too.
    Show {
        /// The licence file (`-` for standard input).
        file: PathBuf,
        /// A public key line (`kluis-licence-key <id> <base64>`) to check the signature with.
        #[arg(long)]
        trust: Vec<String>,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen { id, out } => {
            let key = SigningKey::generate(&id)?;
            write_new_private(&out, key.to_text().as_bytes())?;
            eprintln!("signing key {id} written to {}; keep it offline", out.display());
            println!("{}", key.public().to_line());
        }
        Command::Public { key } => println!("{}", read_key(&key)?.public().to_line()),
        Command::Sign { key, licensee, domains, seats, features, from, until, id, out } => {
            let key = read_key(&key)?;
            for feature in &features {
                if Feature::from_name(feature).is_none() {
                    let known: Vec<&str> = Feature::ALL.iter().map(|f| f.name()).collect();
                    bail!("unknown feature {feature:?}: one of {}", known.join(", "));
                }
            }
            let now = OffsetDateTime::now_utc();
            let id = id.unwrap_or_else(|| {
                let day = now.date();
                let random: u32 = rand_u32();
                format!("L-{}{:02}{:02}-{random:08x}", day.year(), u8::from(day.month()), day.day())
            });
            let licence = Licence {
                format: 1,
                id,
                key_id: key.id().to_string(),
                licensee,
                domains: domains.iter().map(|d| d.trim().to_lowercase()).collect(),
                seats,
                features,
                valid_from: from,
                valid_until: until,
                issued_at: now.replace_nanosecond(0).unwrap_or(now).format(&Rfc3339)?,
            };
            let text = key.sign(&licence)?;
            match out {
                Some(path) => {
                    fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("licence {} written to {}", licence.id, path.display());
                }
                None => print!("{text}"),
            }
        }
        Command::Show { file, trust } => {
            let text = if file == Path::new("-") {
                std::io::read_to_string(std::io::stdin())?
            } else {
                fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
            };
            let keys = trust.iter().map(|l| PublicKey::from_line(l)).collect::<Result<Vec<_>, _>>()?;
            let checked = !keys.is_empty();
            let licence = if checked {
                Trust::new(keys).verify_signature(&text)?
            } else {
                kluis_licence::read_unverified(&text)?
            };
            println!("licence:   {}", licence.id);
            println!("licensee:  {}", licence.licensee);
            println!("domains:   {}", licence.domains.join(", "));
            println!("seats:     {}", licence.seats);
            println!(
                "features:  {}",
                if licence.features.is_empty() { "none".into() } else { licence.features.join(", ") }
            );
            println!("valid:     {} to {}", licence.valid_from, licence.valid_until);
            println!("issued:    {}", licence.issued_at);
            println!("key:       {}", licence.key_id);
            println!("signature: {}", if checked { "verified" } else { "not checked (give --trust)" });
        }
    }
    Ok(())
}

fn read_key(path: &Path) -> Result<SigningKey> {
    let text = zeroize::Zeroizing::new(
        fs::read_to_string(path).with_context(|| format!("cannot read the signing key {}", path.display()))?,
    );
    Ok(SigningKey::from_text(&text)?)
}

/// Writes a new file readable only by its owner; an existing file is never replaced.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file =
        options.open(path).with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn rand_u32() -> u32 {
    let mut bytes = [0u8; 4];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap_or(());
    u32::from_le_bytes(bytes)
}
