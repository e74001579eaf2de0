//! `kluis age`: file encryption compatible with age (https://age-encryption.org),
//! with the same flags where the two overlap.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use kluis_crypto::{Decryptor, Encryptor, Error, Identity, Recipient, native, scrypt};
use zeroize::Zeroizing;

use crate::output::Output;
use crate::passphrase;
use kluis_client::pipeline;

#[derive(Subcommand)]
pub enum Command {
    /// Generate a new identity (secret key); its public key goes to stderr
    Keygen(KeygenArgs),
    /// Encrypt a file to recipients or a passphrase
    Encrypt(EncryptArgs),
    /// Decrypt a file with identities or a passphrase
    Decrypt(DecryptArgs),
}

#[derive(Args)]
pub struct KeygenArgs {
    /// Write the identity to FILE (created with mode 0600; never overwritten)
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Instead, print the recipients of the identities in INPUT (or stdin)
    #[arg(short = 'y', value_name = "INPUT", num_args = 0..=1, default_missing_value = "-")]
    convert: Option<PathBuf>,
    /// Make a post-quantum identity (ML-KEM-768 + X25519; recipient age1pq1…)
    #[arg(long, conflicts_with = "convert")]
    pq: bool,
}

#[derive(Args)]
pub struct EncryptArgs {
    /// Encrypt to RECIPIENT (age1… or post-quantum age1pq1…); repeatable
    #[arg(short, long = "recipient", value_name = "RECIPIENT")]
    recipients: Vec<String>,
    /// Encrypt to the recipients listed in FILE, one per line; repeatable
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    recipients_files: Vec<PathBuf>,
    /// Encrypt to the public keys of the identities in FILE; repeatable
    #[arg(short, long = "identity", value_name = "FILE")]
    identities: Vec<PathBuf>,
    /// Encrypt with a passphrase typed at the terminal
    #[arg(short, long)]
    passphrase: bool,
    /// Encrypt with the passphrase on the first line of FILE
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase")]
    passphrase_file: Option<PathBuf>,
    /// scrypt work factor (log2 N) for passphrases
    #[arg(long, value_name = "N", default_value_t = scrypt::DEFAULT_WORK_FACTOR)]
    work_factor: u8,
    /// Write ASCII armor (PEM) instead of binary
    #[arg(short, long)]
    armor: bool,
    /// Write the result to OUTPUT instead of stdout
    #[arg(short, long, value_name = "OUTPUT")]
    output: Option<PathBuf>,
    /// The file to encrypt (stdin when absent or -)
    input: Option<PathBuf>,
}

#[derive(Args)]
pub struct DecryptArgs {
    /// Decrypt with the identities in FILE (age identity file, possibly passphrase-encrypted); repeatable
    #[arg(short, long = "identity", value_name = "FILE")]
    identities: Vec<PathBuf>,
    /// Decrypt with the passphrase on the first line of FILE
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Write the result to OUTPUT instead of stdout
    #[arg(short, long, value_name = "OUTPUT")]
    output: Option<PathBuf>,
    /// The file to decrypt, binary or armored (stdin when absent or -)
    input: Option<PathBuf>,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Keygen(args) => keygen(args),
        Command::Encrypt(args) => encrypt(args),
        Command::Decrypt(args) => decrypt(args),
    }
}

fn keygen(args: KeygenArgs) -> Result<()> {
    if let Some(input) = &args.convert {
        let identities = read_identity_file(input, None)?;
        let mut out = Output::open(args.output.as_deref(), false, false)?;
        for identity in identities {
            writeln!(out, "{}", identity.to_public())?;
        }
        return out.commit();
    }
    let identity = native::Identity::generate(args.pq)?;
    let public = identity.to_public();
    let text = identity_file_text(&identity);
    match &args.output {
        Some(path) if path.as_os_str() != "-" => {
            if path.exists() {
                bail!("{} already exists; refusing to overwrite a key", path.display());
            }
            let mut out = Output::open(Some(path), false, true)?;
            out.write_all(text.as_bytes())?;
            out.commit()?;
        }
        _ => io::stdout().lock().write_all(text.as_bytes())?,
    }
    eprintln!("Public key: {public}");
    Ok(())
}

/// An age identity file holding `identity`, as `age-keygen` writes one.
pub(crate) fn identity_file_text(identity: &native::Identity) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "# created: {}\n# public key: {}\n{}\n",
        rfc3339_now(),
        identity.to_public(),
        identity.to_secret_string().as_str()
    ))
}

fn encrypt(args: EncryptArgs) -> Result<()> {
    let mut recipients: Vec<Box<dyn Recipient>> = Vec::new();
    for r in &args.recipients {
        recipients.push(Box::new(parse_recipient(r).with_context(|| format!("invalid recipient {r:?}"))?));
    }
    for file in &args.recipients_files {
        for r in read_recipients_file(file)? {
            recipients.push(Box::new(r));
        }
    }
    for file in &args.identities {
        for identity in read_identity_file(file, None)? {
            recipients.push(Box::new(identity.to_public()));
        }
    }
    let passphrase = match (&args.passphrase_file, args.passphrase) {
        (Some(file), _) => Some(passphrase::from_file(file)?),
        (None, true) => Some(passphrase::prompt_new()?),
        (None, false) => None,
    };
    if let Some(pass) = passphrase {
        if !recipients.is_empty() {
            bail!(
                "a passphrase cannot be combined with -r, -R or -i: passphrase-encrypted files have exactly one recipient"
            );
        }
        recipients.push(Box::new(scrypt::Recipient::new(pass).with_work_factor(args.work_factor)?));
    }
    if recipients.is_empty() {
        bail!("no recipients: use -r, -R, -i or -p");
    }
    let refs: Vec<&dyn Recipient> = recipients.iter().map(|r| r.as_ref()).collect();
    let mut encryptor = Encryptor::with_recipients(&refs).map_err(|e| match e {
        Error::Encrypt(kluis_crypto::EncryptError::MixedPostQuantum) => anyhow!(
            "post-quantum (age1pq1…) and classic (age1…) recipients cannot share a file: the classic key would let a \
             future quantum computer read it; encrypt to post-quantum recipients only, or make one file for each kind"
        ),
        e => e.into(),
    })?;
    if args.armor {
        encryptor = encryptor.armored();
    }
    let input = open_input(args.input.as_deref())?;
    let out = Output::open(args.output.as_deref(), !args.armor, false)?;
    let (out, _) = pipeline::run(&mut encryptor, input, out)?;
    out.commit()
}

fn decrypt(args: DecryptArgs) -> Result<()> {
    let on_demand = passphrase::OnDemand::new();
    let mut identities: Vec<Box<dyn Identity + '_>> = Vec::new();
    for file in &args.identities {
        for identity in read_identity_file(file, args.passphrase_file.as_deref())? {
            identities.push(Box::new(identity));
        }
    }
    if let Some(file) = &args.passphrase_file {
        identities.push(Box::new(scrypt::Identity::new(passphrase::from_file(file)?)));
    }
    let keys_given = !identities.is_empty();
    if !keys_given {
        identities.push(Box::new(&on_demand));
    }
    let input = open_input(args.input.as_deref())?;
    let out = Output::open(args.output.as_deref(), false, false)?;
    match pipeline::run(&mut Decryptor::new(identities), input, out) {
        Ok((out, _)) => out.commit(),
        Err(Error::NoMatch) if !keys_given => Err(on_demand.take_failure().unwrap_or_else(|| {
            anyhow!("the file is encrypted to keys, not a passphrase: give the identity file with -i FILE")
        })),
        Err(e) => Err(anyhow::Error::new(e)),
    }
}

fn parse_recipient(s: &str) -> Result<native::Recipient> {
    if s.starts_with("ssh-") {
        bail!("SSH keys are not supported; use an age1… or age1pq1… recipient");
    }
    Ok(s.parse::<native::Recipient>()?)
}

/// Lines that are neither blank nor `#` comments, with their line numbers.
fn key_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn read_recipients_file(path: &Path) -> Result<Vec<native::Recipient>> {
    let text = read_text(path)?;
    let recipients = key_lines(&text)
        .map(|(n, line)| parse_recipient(line).with_context(|| format!("{}:{n}: invalid recipient", path.display())))
        .collect::<Result<Vec<_>>>()?;
    if recipients.is_empty() {
        bail!("{} lists no recipients", path.display());
    }
    Ok(recipients)
}

/// Reads an identity file; an age-encrypted one is first decrypted with a
/// passphrase (from `passphrase_file`, or typed).
pub(crate) fn read_identity_file(path: &Path, passphrase_file: Option<&Path>) -> Result<Vec<native::Identity>> {
    let mut bytes = Zeroizing::new(Vec::new());
    open_input(Some(path))?.read_to_end(&mut bytes)?;
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"age-encryption.org/") || trimmed.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
        let pass = match passphrase_file {
            Some(file) => passphrase::from_file(file)?,
            None => passphrase::prompt(&format!("Enter passphrase for identity file {}: ", path.display()))?,
        };
        let identity = scrypt::Identity::new(pass);
        let plain = kluis_crypto::decrypt(&[&identity], &bytes)
            .with_context(|| format!("cannot decrypt identity file {}", path.display()))?;
        bytes = Zeroizing::new(plain);
    }
    let text = Zeroizing::new(
        String::from_utf8(bytes.to_vec()).map_err(|_| anyhow!("{} is not a text file", path.display()))?,
    );
    let identities = key_lines(&text)
        .map(|(n, line)| {
            line.parse::<native::Identity>().map_err(|e| anyhow!("{}:{n}: not an age identity: {e}", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    if identities.is_empty() {
        bail!("{} holds no identities", path.display());
    }
    Ok(identities)
}

fn read_text(path: &Path) -> Result<String> {
    let mut text = String::new();
    open_input(Some(path))?
        .read_to_string(&mut text)
        .with_context(|| format!("{} is not a readable text file", path.display()))?;
    Ok(text)
}

/// Stdin when `path` is absent or `-`. Read errors name the input.
fn open_input(path: Option<&Path>) -> Result<Box<dyn Read + Send>> {
    match path.filter(|p| p.as_os_str() != "-") {
        None => Ok(Box::new(Named { inner: io::stdin(), name: "standard input".into() })),
        Some(p) => {
            let file = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            Ok(Box::new(Named { inner: file, name: p.display().to_string() }))
        }
    }
}

/// Adds the input's name to read errors.
struct Named<R> {
    inner: R,
    name: String,
}

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", self.name)))
    }
}

/// The current UTC time as RFC 3339, e.g. `2026-11-21T19:07:00Z`.
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}
