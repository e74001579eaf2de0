//! `kluis receive LINK`: pass the package's access checks, derive the
//! package identity from L (in the link), S (from the server) and the
//! optional password, and decrypt every file to disk while downloading.
//!
//! A file is written beside its final name and renamed only once it has
//! been fully authenticated and its SHA-256 matches the manifest, so a
//! damaged download never looks complete. Broken connections resume with
//! HTTP ranges.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use indicatif::ProgressBar;
use kluis_crypto::io::CodecReader;
use kluis_crypto::package::{ServerShare, access_proof, link_proof, package_identities, stretch_password};
use kluis_crypto::{Decryptor, Error as AgeError, HeaderHash, native};
use kluis_protocol::api::{
    AccessGranted, AccessRequest, CodeAccepted, DownloadBlob, PackageSender, PackageStatus, RecipientCodeRequest,
    SenderRequest, Verify,
};
use kluis_protocol::dates::{Language, long_date_of};
use kluis_protocol::{FileCheck, Link, Manifest, safe_file_name};
use sha2::{Digest, Sha256};

use crate::client::{self, Client, server_code};
use crate::progress::Bar;
use kluis_client::overlap;
use kluis_client::text::printable;

use crate::passphrase;

#[derive(Args)]
pub struct ReceiveArgs {
    /// The package link (https://…/p/…#…)
    link: String,
    /// Folder to save the files in
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    output: PathBuf,
    /// The code from the verification e-mail
    #[arg(long, value_name = "CODE")]
    code: Option<String>,
    /// Your e-mail address, for packages that send you a code (also KLUIS_EMAIL)
    #[arg(long, env = "KLUIS_EMAIL", value_name = "EMAIL")]
    email: Option<String>,
    /// The package password, on the first line of FILE
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

/// Exit status when a code was sent and must be given with --code.
pub const EXIT_CODE_SENT: u8 = 2;
/// Exit status when the code given with --code is not right (and more tries are left).
pub const EXIT_WRONG_CODE: u8 = 3;

/// Ends the program with a given status after printing a message.
#[derive(Debug)]
pub struct ExitWith(pub u8, pub String);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}
impl std::error::Error for ExitWith {}

/// `from Alice <alice@example.org> (Example Org) · 2 files · sent 27 November 2026`:
/// what the server tells of the sender, without control characters.
fn sender_line(card: &PackageSender) -> String {
    let email = printable(&card.sender.email, false);
    let from = match card.sender.name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(name) => format!("{} <{email}>", printable(name.trim(), false)),
        None => email,
    };
    let files = if card.files == 1 { "1 file".to_string() } else { format!("{} files", card.files) };
    let mut line = format!("from {from} ({}) · {files}", printable(&card.organisation, false));
    if let Some(day) = long_date_of(&card.sent_at, Language::En) {
        line += &format!(" · sent {day}");
    }
    line
}

/// The file list is small; a larger blob 0 is refused before it is read.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

fn prompt_line(message: &str) -> Result<String> {
    eprint!("{message}");
    io::stderr().flush()?;
    let mut line = String::new();
    io::stdin().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

pub fn receive(args: ReceiveArgs) -> Result<()> {
    let link = Link::parse(&args.link)?;
    let id = &link.package_id;
    let client = client::new(&link.server, None);
    let status: PackageStatus = client.get(&format!("/p/{id}"))?;
    let interactive = io::stdin().is_terminal() && io::stderr().is_terminal();
    // Who sent it, before anything is asked (docs/architecture.md §3, link
    // proof). Only on a terminal, and a failure only leaves the line out.
    if io::stderr().is_terminal() {
        let body = SenderRequest { link_proof: link_proof(id, &link.link_secret).to_base64url().to_string() };
        if let Ok(sender) = client.post::<PackageSender, _>(&format!("/p/{id}/sender"), &body) {
            eprintln!("{}", sender_line(&sender));
        }
    }

    // The password is part of the access proof: it is asked for first, and a
    // wrong one is refused by the server before anything is counted or mailed.
    let mut password = match (status.password, &args.password_file) {
        (false, _) => None,
        (true, Some(file)) => Some(passphrase::password_from_file(file)?),
        (true, None) if interactive => Some(passphrase::prompt_password("This package has a password. Password: ")?),
        (true, None) => bail!("this package has a password: give it with --password-file FILE"),
    };
    let mut request = AccessRequest::default();
    let mut code_sent = false;
    let access: AccessGranted = loop {
        let stretched = password.as_ref().map(|p| stretch_password(id, p));
        request.access_proof = access_proof(id, &link.link_secret, stretched.as_ref()).to_base64url().to_string();
        let result = (|| -> Result<AccessGranted> {
            if status.verify == Verify::Email && request.code.is_none() {
                let email = match args.email.clone() {
                    Some(e) => e,
                    None if interactive => {
                        prompt_line("This package asks for a code sent to your e-mail address.\nYour e-mail address: ")?
                    }
                    None => bail!(
                        "this package asks for a code sent to your e-mail address: give it with --email (or KLUIS_EMAIL)"
                    ),
                };
                let code = match args.code.clone() {
                    Some(c) => c,
                    None => {
                        if !code_sent {
                            let body = RecipientCodeRequest {
                                email: email.clone(),
                                access_proof: request.access_proof.clone(),
                            };
                            client.post::<CodeAccepted, _>(&format!("/p/{id}/code"), &body)?;
                            code_sent = true;
                        }
                        if !interactive {
                            return Err(ExitWith(
                                EXIT_CODE_SENT,
                                format!(
                                    "a code was sent to {email} if it may open this package; run again with --code CODE"
                                ),
                            )
                            .into());
                        }
                        prompt_line(&format!("A code was sent to {email}. Code: "))?
                    }
                };
                request.email = Some(email);
                request.code = Some(code);
            }
            Ok(client.post(&format!("/p/{id}/access"), &request)?)
        })();
        match result {
            Ok(access) => break access,
            Err(e) if server_code(&e) == Some("wrong_password") && interactive => {
                password = Some(passphrase::prompt_password("That password is not right. Password: ")?);
            }
            // On a terminal a wrong code is asked for again, as long as the
            // server allows more tries; a lock ends it (`explain`).
            Err(e) if server_code(&e) == Some("wrong_code") && tries_left(&e) > Some(0) => {
                let left = tries_left(&e).unwrap_or_default();
                let tries = if left == 1 { "1 try".to_string() } else { format!("{left} tries") };
                if !interactive {
                    return Err(ExitWith(
                        EXIT_WRONG_CODE,
                        format!(
                            "error: that code is not right, or it has expired ({tries} left): run again with the right --code"
                        ),
                    )
                    .into());
                }
                let code = prompt_line(&format!("That code is not right, or it has expired ({tries} left). Code: "))?;
                if code.is_empty() {
                    bail!("no code given");
                }
                request.code = Some(code);
            }
            Err(e) => return Err(explain(e)),
        }
    };
    let share = ServerShare::from_base64url(&access.server_share).context("the server sent an invalid server share")?;
    let client = client.with_token(&access.download_token);

    let (manifest_ref, files) = access.blobs.split_first().context("the package has no blobs")?;
    let manifest_file = fetch_manifest(&client, manifest_ref)?;
    let stretched = password.as_ref().map(|p| stretch_password(id, p));
    // The sender picked the package's kind (docs/architecture.md §3): the
    // identity of that kind opens the manifest, and then the files.
    let identities = package_identities(id, &link.link_secret, &share, stretched.as_ref());
    let opened = identities.into_iter().find_map(|identity| {
        let result = kluis_crypto::decrypt(&[&identity], &manifest_file);
        match result {
            Err(AgeError::NoMatch) => None,
            result => Some(result.map(|bytes| (identity, bytes))),
        }
    });
    let (identity, manifest_bytes) = match opened {
        Some(result) => result?,
        None => bail!("the link does not open this package: it was changed or cut short (copy the whole link)"),
    };
    let manifest = Manifest::parse(&manifest_bytes, access.blobs.len())?;
    show_words(&manifest);
    save_files(&client, &identity, &manifest, files, &args.output)
}

/// Downloads blob 0, the encrypted manifest, refusing one too large to be a file list.
pub(crate) fn fetch_manifest(client: &Client, blob: &DownloadBlob) -> Result<Vec<u8>> {
    if blob.size > MAX_MANIFEST_BYTES {
        bail!("the package's file list is {} bytes, more than a file list can be: refusing to read it", blob.size);
    }
    let mut manifest_file = Vec::new();
    fetch(client, blob, &mut manifest_file)?;
    Ok(manifest_file)
}

/// Shows the subject and message of a manifest on stderr. The sender
/// wrote these: nothing in them may drive the terminal.
pub(crate) fn show_words(manifest: &Manifest) {
    if !manifest.subject.is_empty() {
        eprintln!("Subject: {}", printable(&manifest.subject, false));
    }
    if !manifest.message.is_empty() {
        eprintln!("Message:\n{}\n", printable(&manifest.message, true));
    }
}

/// Downloads and decrypts the files of `manifest` (blobs `files`, in
/// order) with `identity` into `dir`, under safe names that never replace
/// a file, each checked against the manifest before it gets its name: its
/// size, and its blob's header hash (before any plaintext is written) or, in
/// packages of manifest format 1, the SHA-256 of its plaintext. The saved paths go to stdout, one per line.
pub(crate) fn save_files(
    client: &Client,
    identity: &native::Identity,
    manifest: &Manifest,
    files: &[DownloadBlob],
    dir: &Path,
) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The bar counts the bytes saved (the sizes the sender's files have).
    let names: Vec<String> = manifest.files.iter().map(|f| printable(&f.name, false)).collect();
    let progress = Bar::new(manifest.files.iter().map(|f| f.size).sum(), names.iter().map(String::as_str));
    for ((entry, blob), name) in manifest.files.iter().zip(files).zip(&names) {
        progress.file(name);
        let target = free_name(dir, &safe_file_name(&entry.name));
        let temp = dir.join(format!(".{}.kluis-partial", target.file_name().unwrap_or_default().to_string_lossy()));
        let result = (|| -> Result<()> {
            let progress = progress.bar.clone();
            let check = entry.check().context("the package's file list is damaged")?;
            let (header, hash) = match &check {
                FileCheck::Header(h) => (Some(*h), None),
                FileCheck::Sha256(_) => (None, Some(Sha256::new())),
            };
            let mut out = CheckingWriter { file: File::create(&temp)?, hash, len: 0, progress };
            download(client, blob, identity, header, &mut out)?;
            out.file.sync_all()?;
            let content_matches = match (check, out.hash) {
                (FileCheck::Sha256(expected), Some(hash)) => hex::encode(hash.finalize()) == expected,
                _ => true,
            };
            if out.len != entry.size || !content_matches {
                bail!(
                    "{} does not match the size or checksum its sender recorded: the file was damaged",
                    printable(&entry.name, false)
                );
            }
            // Never replace a file that appeared meanwhile.
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .with_context(|| format!("cannot create {}", target.display()))?;
            fs::rename(&temp, &target)?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(e.context(format!("cannot receive {}", printable(&entry.name, false))));
        }
        // The saved paths go to stdout, one per line, for scripts.
        progress.bar.suspend(|| println!("{}", target.display()));
    }
    progress.bar.finish_and_clear();
    Ok(())
}

/// The tries the server says are left after a wrong code.
fn tries_left(e: &anyhow::Error) -> Option<i64> {
    client::server_error(e).and_then(|s| s.details["tries_left"].as_i64())
}

/// Clearer words for the access errors a recipient can fix.
fn explain(e: anyhow::Error) -> anyhow::Error {
    match server_code(&e) {
        Some("wrong_password") => anyhow!("the password is wrong (nothing was counted)"),
        Some("wrong_link") => {
            anyhow!("the link does not open this package: it was changed or cut short (copy the whole link)")
        }
        Some("wrong_code") => {
            anyhow!("that code is not right, or it has expired; run again without --code for a new one")
        }
        _ => e,
    }
}

/// `name`, or `name (1)`, `name (2)`, … if it exists already.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let candidate = dir.join(name);
    if !candidate.exists() {
        return candidate;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.to_string(), String::new()),
    };
    (1..).map(|i| dir.join(format!("{stem} ({i}){ext}"))).find(|p| !p.exists()).expect("some name is free")
}

/// Writes a file, counting its bytes and, for a manifest of format 1,
/// hashing them.
struct CheckingWriter {
    file: File,
    hash: Option<Sha256>,
    len: u64,
    progress: ProgressBar,
}

impl Write for CheckingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(hash) = &mut self.hash {
            hash.update(&buf[..n]);
        }
        self.len += n as u64;
        self.progress.inc(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

const MAX_ATTEMPTS: u32 = 8;

/// Downloads one blob and decrypts it into `out`, refusing it before any
/// plaintext when its header hash is not `header`; decrypting and writing
/// run on a second thread while the next megabytes arrive.
fn download(
    client: &Client,
    blob: &DownloadBlob,
    identity: &native::Identity,
    header: Option<HeaderHash>,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    // Three stages on their own threads: receive; decrypt (on every core);
    // write to disk. Each runs while the others work.
    overlap::pipe(
        |ciphertext| {
            overlap::pipe(
                |plaintext| {
                    plaintext.copy_to(out)?;
                    Ok(())
                },
                |plaintext_out| {
                    let mut decryptor = Decryptor::new(vec![Box::new(identity.clone())]);
                    if let Some(header) = header {
                        decryptor = decryptor.expecting_header(header);
                    }
                    let mut plaintext = CodecReader::new(&mut decryptor, ciphertext);
                    kluis_crypto::io::copy(&mut plaintext, plaintext_out)?;
                    Ok(())
                },
            )
        },
        |w| fetch(client, blob, w),
    )?;
    Ok(())
}

/// Downloads one blob's bytes into `out`. A broken connection is resumed
/// with a `Range` request from the first byte not yet received; `out` sees
/// one unbroken stream.
fn fetch(client: &Client, blob: &DownloadBlob, out: &mut dyn Write) -> Result<()> {
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut attempt = 0;
    while received < blob.size {
        let mut request = client.request_empty("GET", &blob.url);
        if received > 0 {
            request = request.header("Range", format!("bytes={received}-"));
        }
        let response = request.call();
        let mut response = match response {
            Ok(r) => r,
            Err(e) => {
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    return Err(client.network(e).into());
                }
                std::thread::sleep(Duration::from_secs(1 << attempt.min(5)));
                continue;
            }
        };
        client.check(&mut response)?;
        if received > 0 && response.status().as_u16() != 206 {
            bail!("the server cannot resume the download");
        }
        let mut body = response.into_body().into_reader();
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) if attempt + 1 < MAX_ATTEMPTS => {
                    attempt += 1;
                    break;
                }
                Err(e) => return Err(e).context("the download broke off"),
            };
            out.write_all(&buf[..n])?;
            received += n as u64;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kluis_protocol::api::{PackageSender, Sender};

    use super::{printable, sender_line};

    fn card(name: Option<&str>, organisation: &str, files: u32) -> PackageSender {
        PackageSender {
            sender: Sender { email: "alice@example.org".into(), name: name.map(str::to_string) },
            organisation: organisation.into(),
            files,
            sent_at: "2026-11-27T13:05:09Z".into(),
        }
    }

    #[test]
    fn the_sender_line_names_sender_organisation_files_and_day() {
        assert_eq!(
            sender_line(&card(None, "Example Org", 2)),
            "from alice@example.org (Example Org) · 2 files · sent 27 November 2026"
        );
        assert_eq!(
            sender_line(&card(Some("Alice Example"), "Example Org", 1)),
            "from Alice Example <alice@example.org> (Example Org) · 1 file · sent 27 November 2026"
        );
        // What the server sends cannot drive the terminal.
        assert_eq!(
            sender_line(&card(Some("A\u{1b}[2J"), "Org\n", 0)),
            "from A\u{fffd}[2J <alice@example.org> (Org\u{fffd}) · 0 files · sent 27 November 2026"
        );
        let mut odd = card(None, "Example Org", 3);
        odd.sent_at = "yesterday".into();
        assert_eq!(sender_line(&odd), "from alice@example.org (Example Org) · 3 files");
    }

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(printable("a\u{1b}[2Jb", false), "a\u{fffd}[2Jb");
        assert_eq!(printable("x\ny\tz", true), "x\ny\tz");
        assert_eq!(printable("x\ny", false), "x\u{fffd}y");
        assert_eq!(printable("evil\u{202e}fdp.exe", false), "evil\u{fffd}fdp.exe");
    }
}
