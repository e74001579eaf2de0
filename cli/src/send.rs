//! `kluis send`: encrypt files into a package, upload them resumably over
//! tus, and print the link. `kluis revoke`: withdraw a package.
//!
//! Steps (docs/architecture.md §3): make the link secret L; announce the blob
//! sizes and get the package id and server share S; derive the package
//! identity from L, S and the optional password; encrypt each file to it
//! while uploading; upload the manifest (names, sizes, types, and each blob's
//! header hash, which binds the file to its blob) last;
//! finalize. The server sees only ciphertext, sizes and recipient addresses.
//! Recipients who are colleagues with a key get every blob encrypted to
//! their key too, and the package in their inbox (docs/inbound.md).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use kluis_crypto::io::CodecReader;
use kluis_crypto::package::{
    LinkSecret, PackageId, PackageKind, ServerShare, access_proof, link_proof, package_identity, stretch_password,
};
use kluis_crypto::{Encryptor, HeaderHash, native};
use kluis_protocol::api::{
    self, BlobSpec, CreatePackage, CreatedPackage, FinalizeRequest, PackageView, PolicyView, Revoked,
};
use kluis_protocol::inbound::{ColleagueKey, Colleagues, DirectoryLookup, KeyState};
use kluis_protocol::manifest::PLACEHOLDER_HEADER;
use kluis_protocol::{FileEntry, Link, Manifest};

use crate::client::{self, Client, ServerError};
use crate::progress::Bar;
use crate::{overlap, passphrase};

/// Where the server is and who we are: flags, else environment.
#[derive(Args, Clone)]
pub struct ServerArgs {
    /// Kluis server URL, e.g. https://kluis.example.org
    #[arg(long, env = "KLUIS_SERVER", value_name = "URL", hide_env_values = true)]
    pub server: Option<String>,
    /// API token (your administrator makes one with `kluis-server token create EMAIL`)
    #[arg(long, env = "KLUIS_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ServerArgs {
    pub fn client(&self) -> Result<Client> {
        let server = self.server.as_deref().context("no server: use --server URL or set KLUIS_SERVER")?;
        let token = self.token.clone().context(
            "no API token: use --token or set KLUIS_TOKEN (your Kluis administrator makes one with \
             `kluis-server token create EMAIL`)",
        )?;
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            bail!("--server must be an http:// or https:// URL");
        }
        Ok(Client::new(server, Some(token)))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Verify {
    /// Recipients prove their address with a code sent by e-mail
    Email,
    /// Anyone with the link can open the package
    None,
}

#[derive(Args)]
pub struct SendArgs {
    /// Files to send
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Who may open the package (their e-mail address); repeatable. Kluis
    /// does not mail the link: send it in your own message. Needed unless
    /// --verify none
    #[arg(long = "to", value_name = "EMAIL", required_unless_present = "verify", required_if_eq("verify", "email"))]
    to: Vec<String>,
    /// Message for the recipients (encrypted like the files)
    #[arg(long, value_name = "TEXT", default_value = "", hide_default_value = true)]
    message: String,
    /// Subject (encrypted like the files)
    #[arg(long, value_name = "TEXT", default_value = "", hide_default_value = true)]
    subject: String,
    /// How long the package lives, in days: 7d, 30d (the server sets the longest)
    #[arg(long, value_name = "DAYS", default_value = "7d")]
    expires: String,
    /// How many times the package may be opened
    #[arg(long, value_name = "N")]
    max_downloads: Option<u32>,
    /// How recipients prove who they are [default: email]
    #[arg(long, value_enum)]
    verify: Option<Verify>,
    /// Also protect the package with a password, typed twice at the terminal
    #[arg(long, conflicts_with = "password_file")]
    password: bool,
    /// Also protect the package with the password on the first line of FILE
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Mail me when the package is opened for the first time
    #[arg(long)]
    notify: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct RevokeArgs {
    /// The package link (or its id)
    // An id may start with '-' (base64url): taken as the link, not as a flag.
    #[arg(allow_hyphen_values = true)]
    link: String,
    #[command(flatten)]
    server: ServerArgs,
}

fn parse_days(text: &str) -> Result<u32> {
    let digits = text.trim().strip_suffix('d').unwrap_or(text.trim());
    digits.parse().ok().filter(|&d| d > 0).with_context(|| format!("--expires takes days, e.g. 7d; got {text:?}"))
}

/// A media type from the file extension, for the recipient's browser.
fn media_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => "application/octet-stream",
    }
}

struct Input {
    path: PathBuf,
    name: String,
    size: u64,
}

pub fn send(args: SendArgs) -> Result<()> {
    let client = args.server.client()?;
    let days = parse_days(&args.expires)?;
    let password = match (&args.password_file, args.password) {
        (Some(file), _) => Some(passphrase::password_from_file(file)?),
        (None, true) => Some(passphrase::prompt_new_password()?),
        (None, false) => None,
    };
    let inputs = args
        .files
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
            if !meta.is_file() {
                bail!("{} is not a file", path.display());
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
            Ok(Input { path: path.clone(), name, size: meta.len() })
        })
        .collect::<Result<Vec<_>>>()?;

    // The organisation's rules before anything is encrypted (the server checks again).
    let file_types = file_types(&inputs)?;
    check_policy(&client, &args, &inputs, &file_types, password.is_some())?;

    // Sizes first: an X25519 header has a fixed length and a manifest's
    // length does not depend on the header hashes in it.
    let entries = |hashes: &[HeaderHash]| {
        inputs
            .iter()
            .zip(hashes)
            .map(|(i, &h)| FileEntry::new(&i.name, i.size, media_type(&i.path), h))
            .collect::<Vec<_>>()
    };
    let placeholder = Manifest::new(&args.subject, &args.message, entries(&vec![PLACEHOLDER_HEADER; inputs.len()]));
    // Every blob is also encrypted to the sender's own key, when they made one,
    // so they can open what they sent later (`kluis fetch`).
    let own: Option<native::Recipient> = client
        .get::<KeyState>("/key")
        .ok()
        .and_then(|state| state.key)
        .map(|key| key.recipient.parse())
        .transpose()
        .context("the server sent an invalid recipient for your key")?;
    // A package is post-quantum exactly when the sender's key is (docs/architecture.md §3).
    let kind = own.as_ref().map_or(PackageKind::Classic, PackageKind::of);
    let (colleagues, colleague_recipients) = colleague_keys(&client, &args.to, kind)?;
    let probe_key = native::Identity::generate(kind == PackageKind::PostQuantum)?.to_public();
    let probe_to: Vec<&dyn kluis_crypto::Recipient> = std::iter::once(&probe_key as &dyn kluis_crypto::Recipient)
        .chain(own.as_ref().map(|r| r as _))
        .chain(colleague_recipients.iter().map(|r| r as _))
        .collect();
    let probe = Encryptor::with_recipients(&probe_to)?;
    let mut sizes = vec![probe.encrypted_len(placeholder.to_bytes().len() as u64)];
    sizes.extend(inputs.iter().map(|i| probe.encrypted_len(i.size)));

    let link_secret = LinkSecret::generate()?;
    let created: CreatedPackage = client
        .post(
            "/packages",
            &CreatePackage {
                recipients: args.to.clone(),
                expires_in_days: Some(days),
                max_downloads: args.max_downloads.map(i64::from),
                verify: match args.verify.unwrap_or(Verify::Email) {
                    Verify::Email => api::Verify::Email,
                    Verify::None => api::Verify::None,
                },
                password: password.is_some(),
                notify_on_download: args.notify,
                blobs: sizes.iter().map(|&size| BlobSpec { size }).collect(),
                file_types: Some(file_types),
                message: Some(!args.message.is_empty()),
                colleagues: colleagues.clone(),
            },
        )
        .map_err(|e| explain_refusal(e, &client, &args.expires))?;
    let id: PackageId = created.package.id.clone();
    let share =
        ServerShare::from_base64url(&created.server_share).context("the server sent an invalid server share")?;
    let stretched = password.as_ref().map(|p| stretch_password(&id, p));
    let package_recipient = package_identity(&id, &link_secret, &share, stretched.as_ref(), kind).to_public();
    let recipients: Vec<native::Recipient> =
        std::iter::once(package_recipient).chain(own).chain(colleague_recipients).collect();

    // The bar counts the files' own bytes (what the user knows), not ciphertext.
    let progress = Bar::new(inputs.iter().map(|i| i.size).sum(), inputs.iter().map(|i| i.name.as_str()));
    let to: Vec<&dyn kluis_crypto::Recipient> = recipients.iter().map(|r| r as _).collect();
    let mut hashes = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        progress.file(&input.name);
        // One pass over the file: the manifest binds it to its blob by the
        // blob's header hash, known before the first byte is read.
        let mut encryptor = Encryptor::with_recipients(&to)?;
        hashes.push(encryptor.header_hash());
        let mut source = FileSource { file: File::open(&input.path)?, read_to: 0 };
        upload(&client, &id, i + 1, (sizes[i + 1], input.size), &mut encryptor, &mut source, &progress.bar)
            .with_context(|| format!("cannot upload {}", input.path.display()))?;
        if source.read_to != input.size {
            bail!("{} changed while it was being sent", input.path.display());
        }
    }
    let manifest = Manifest::new(&args.subject, &args.message, entries(&hashes)).to_bytes();
    let manifest_len = manifest.len() as u64;
    let source = &mut MemorySource(io::Cursor::new(manifest));
    let mut encryptor = Encryptor::with_recipients(&to)?;
    upload(&client, &id, 0, (sizes[0], manifest_len), &mut encryptor, source, &ProgressBar::hidden())
        .context("cannot upload the file list")?;
    // The server keeps SHA-256(A): recipients prove they hold the link (and
    // password) with A. And SHA-256(A_L): with A_L, from the link alone, they
    // see who sent the package before they are asked for anything.
    let verifier = access_proof(&id, &link_secret, stretched.as_ref()).verifier();
    let link_verifier = link_proof(&id, &link_secret).verifier();
    client.post::<PackageView, _>(
        &format!("/packages/{id}/finalize"),
        &FinalizeRequest { access_verifier: verifier.to_base64url(), link_verifier: link_verifier.to_base64url() },
    )?;
    progress.bar.finish_and_clear();

    let url = &created.package.url;
    let server = url.rsplit_once("/p/").map(|(s, _)| s).unwrap_or(url);
    if !colleagues.is_empty() {
        let names: Vec<&str> = colleagues.iter().map(|c| c.email.as_str()).collect();
        eprintln!("Also in the Kluis inbox of {} (encrypted to their key).", names.join(", "));
    }
    println!("{}", Link::new(server, id, link_secret));
    Ok(())
}

/// The recipients who are colleagues with a key (`POST /directory`): every
/// blob is encrypted to them too, and the package is in their inbox. A
/// server without the lookup sends as before.
fn colleague_keys(
    client: &Client,
    to: &[String],
    kind: PackageKind,
) -> Result<(Vec<ColleagueKey>, Vec<native::Recipient>)> {
    if to.is_empty() {
        return Ok(Default::default());
    }
    let found = match client.post::<Colleagues, _>("/directory", &DirectoryLookup { emails: to.to_vec() }) {
        Ok(found) => found.colleagues,
        // An older server has no lookup (404, 405): the package goes by link only.
        Err(e) if matches!(client::server_code(&e), Some("not_found" | "http_error" | "method_not_allowed")) => {
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    // One age file is never for both kinds of key: a colleague whose key is
    // of the other kind than the package gets the link like any recipient.
    let (mut colleagues, mut recipients) = (Vec::new(), Vec::new());
    for colleague in found {
        let recipient: native::Recipient = colleague
            .recipient
            .parse()
            .with_context(|| format!("the server sent an invalid recipient for {}", colleague.email))?;
        if PackageKind::of(&recipient) == kind {
            colleagues.push(colleague);
            recipients.push(recipient);
        } else {
            eprintln!(
                "{}'s key is {} and yours is not: they get the link, not a copy in their Kluis inbox.",
                colleague.email,
                if kind == PackageKind::PostQuantum { "classic" } else { "post-quantum" },
            );
        }
    }
    Ok((colleagues, recipients))
}

/// Every file's types: its extension and what its first bytes show (`kluis_policy::file_type`).
fn file_types(inputs: &[Input]) -> Result<Vec<String>> {
    let mut types = Vec::new();
    for input in inputs {
        let mut head = Vec::with_capacity(kluis_policy::file_type::HEAD);
        File::open(&input.path)
            .and_then(|f| f.take(kluis_policy::file_type::HEAD as u64).read_to_end(&mut head))
            .with_context(|| format!("cannot read {}", input.path.display()))?;
        for t in kluis_policy::file_type::of(&input.name, &head) {
            if !types.contains(&t) {
                types.push(t);
            }
        }
    }
    Ok(types)
}

/// Refuses, before anything is encrypted or uploaded, a package that breaks
/// a rule of the organisation's policy, naming every rule it breaks. When
/// the policy cannot be read, the server's answer at creation says it.
fn check_policy(
    client: &Client,
    args: &SendArgs,
    inputs: &[Input],
    file_types: &[String],
    password: bool,
) -> Result<()> {
    let Ok(view) = client.get::<PolicyView>("/policy") else { return Ok(()) };
    let plan = kluis_policy::PackagePlan {
        recipients: args.to.clone(),
        file_types: file_types.to_vec(),
        bytes: inputs.iter().map(|i| i.size).sum(),
        max_downloads: args.max_downloads,
        verification: args.verify.unwrap_or(Verify::Email) == Verify::Email,
        password,
        message: !args.message.is_empty(),
    };
    let breaches = kluis_policy::check(&view.document(), &plan);
    if breaches.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = breaches.iter().map(|b| format!("  - {b}")).collect();
    bail!("nothing was sent: this breaks your organisation's policy:\n{}", lines.join("\n"))
}

/// The server's refusal of a new package in the words of this program's
/// flags (the server names API fields: `expires_in_days`, `max_downloads`).
fn explain_refusal(e: anyhow::Error, client: &Client, expires: &str) -> anyhow::Error {
    let Some(refusal) = e.downcast_ref::<ServerError>() else { return e };
    match refusal.code.as_str() {
        "invalid_expiry" => match client.get::<PolicyView>("/policy") {
            Ok(policy) => anyhow!(
                "--expires {expires} is too long for this server: packages live 1d to {}d",
                policy.send.max_expiry_days
            ),
            Err(_) => anyhow!("--expires {expires} is too long for this server"),
        },
        "invalid_max_downloads" => anyhow!("{}", refusal.to_string().replace("max_downloads", "--max-downloads")),
        "invalid_recipient" => anyhow!("--to: {refusal}"),
        "wrong_recipient" => anyhow!("nothing was sent: {refusal} (a colleague's key changed meanwhile: send again)"),
        "no_recipients" => anyhow!("--verify email needs at least one --to address"),
        "policy_verification" => {
            anyhow!(
                "your organisation requires recipients to confirm their address with a code: leave out --verify none"
            )
        }
        "policy_password" => {
            anyhow!("your organisation requires a password on every package: use --password or --password-file FILE")
        }
        _ => e,
    }
}

/// Plaintext that can be read again from a chunk boundary, for resuming.
trait Source: Send {
    fn reader_at(&mut self, offset: u64) -> io::Result<Box<dyn Read + Send + '_>>;
}

/// A file, and how far it was read: a file that grew or shrank while it
/// was sent is noticed.
struct FileSource {
    file: File,
    /// The furthest byte read (a resume reads some bytes again).
    read_to: u64,
}

impl Source for FileSource {
    fn reader_at(&mut self, offset: u64) -> io::Result<Box<dyn Read + Send + '_>> {
        self.file.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(TrackingReader { source: self, pos: offset }))
    }
}

struct TrackingReader<'a> {
    source: &'a mut FileSource,
    pos: u64,
}

impl Read for TrackingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.file.read(buf)?;
        self.pos += n as u64;
        self.source.read_to = self.source.read_to.max(self.pos);
        Ok(n)
    }
}

struct MemorySource(io::Cursor<Vec<u8>>);

impl Source for MemorySource {
    fn reader_at(&mut self, offset: u64) -> io::Result<Box<dyn Read + Send + '_>> {
        self.0.set_position(offset);
        Ok(Box::new(&mut self.0))
    }
}

/// Moves the progress bar as ciphertext is handed to the HTTP client, in
/// plaintext bytes: the ciphertext offset scaled to the file's size (the
/// difference is age's header and 16 bytes per 64 KiB).
struct Counting<'a, R> {
    inner: R,
    progress: &'a ProgressBar,
    /// The bar's position when this blob started.
    started: u64,
    /// Ciphertext offset reached.
    at: u64,
    /// (ciphertext, plaintext) sizes.
    sizes: (u64, u64),
}

/// The plaintext bytes that `offset` bytes of ciphertext stand for.
fn plain_at(offset: u64, (cipher, plain): (u64, u64)) -> u64 {
    if cipher == 0 { 0 } else { (u128::from(offset.min(cipher)) * u128::from(plain) / u128::from(cipher)) as u64 }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        self.progress.set_position(self.started + plain_at(self.at, self.sizes));
        Ok(n)
    }
}

const MAX_ATTEMPTS: u32 = 8;
/// Waits for another request's upload lease (HTTP 423) before giving up.
const MAX_BUSY_WAITS: u32 = 10;

/// Uploads blob `index` over tus with `encryptor`: create, then PATCH the
/// ciphertext; after a broken connection, ask the server where it stopped
/// (HEAD) and continue from there, encrypting again from that chunk (same
/// key, same bytes).
fn upload(
    client: &Client,
    package: &PackageId,
    index: usize,
    (size, plain_size): (u64, u64),
    encryptor: &mut Encryptor,
    source: &mut dyn Source,
    progress: &ProgressBar,
) -> Result<()> {
    let metadata = format!("package {},blob {}", STANDARD.encode(package.as_str()), STANDARD.encode(index.to_string()));
    let mut created = client
        .request("POST", "/uploads")
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", size.to_string())
        .header("Upload-Metadata", metadata)
        .send(&[][..])
        .map_err(|e| client::network(&client.api, e))?;
    client::check(&mut created)?;
    let location = created
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .context("the server did not say where to upload")?
        .to_string();

    let started = progress.position();
    let mut offset = 0u64;
    // Waits for another request's lease (HTTP 423) do not use up attempts: a
    // broken connection's lease lapses after a minute or two, and the server
    // says when (Retry-After).
    let mut busy_waits = 0;
    let mut wait = None;
    let mut attempt: u32 = 0;
    let mut first = true;
    while attempt < MAX_ATTEMPTS {
        if !first {
            std::thread::sleep(wait.take().unwrap_or(Duration::from_secs(1 << attempt.min(5))));
            match upload_offset(client, &location) {
                Ok(o) => offset = o,
                Err(e) if e.is::<ServerError>() => return Err(e),
                Err(_) => {
                    attempt += 1;
                    continue;
                }
            }
        }
        first = false;
        progress.set_position(started + plain_at(offset, (size, plain_size)));
        if offset == size {
            return Ok(());
        }
        let resume = encryptor.resume_at(offset)?;
        let plain = source.reader_at(resume.plaintext_offset)?;
        // Three stages on their own threads: read the file; encrypt
        // (on every core); send. Each runs while the others work.
        let sent = overlap::read_ahead(plain, |plain| -> Result<_> {
            let mut ciphertext = CodecReader::new(&mut *encryptor, plain);
            io::copy(&mut (&mut ciphertext).take(resume.skip_output as u64), &mut io::sink())?;
            Ok(overlap::read_ahead(ciphertext, |ciphertext| {
                let sizes = (size, plain_size);
                let mut body = Counting { inner: ciphertext, progress, started, at: offset, sizes };
                client
                    .request("PATCH", &location)
                    .header("Tus-Resumable", "1.0.0")
                    .header("Upload-Offset", offset.to_string())
                    .header("Content-Type", "application/offset+octet-stream")
                    // A known length spares the chunked encoding.
                    .header("Content-Length", (size - offset).to_string())
                    .send(ureq::SendBody::from_reader(&mut body))
            }))
        })?;
        match sent {
            // 423: another request (perhaps our own broken one) still holds the
            // upload. Its lease is usually given up as soon as its connection
            // drops, and lapses at the latest after Retry-After: try again with
            // a growing wait, never longer than that.
            Ok(mut response) if response.status().as_u16() == 423 && busy_waits < MAX_BUSY_WAITS => {
                let lapses = header_u64(&response, "Retry-After").unwrap_or(120).clamp(1, 120);
                let seconds = (2u64 << busy_waits.min(6)).min(lapses);
                let _ = client::check(&mut response);
                busy_waits += 1;
                wait = Some(Duration::from_secs(seconds));
                let note = format!("the upload is still held by an earlier request; trying again in {seconds} s");
                if progress.is_hidden() {
                    eprintln!("{note}")
                } else {
                    progress.println(note)
                }
                continue;
            }
            // 409: the server has a different offset: resume from the one it reports.
            Ok(mut response) if response.status().as_u16() == 409 => {
                let _ = client::check(&mut response);
            }
            Ok(mut response) => {
                client::check(&mut response)?;
                offset = header_u64(&response, "Upload-Offset").context("the server did not confirm the upload")?;
                if offset == size {
                    progress.set_position(started + plain_size);
                    return Ok(());
                }
            }
            Err(e) => {
                // A broken connection: resume from what the server kept.
                let reason = client::network(&client.api, e);
                if attempt + 1 == MAX_ATTEMPTS {
                    return Err(reason);
                }
                let note = format!("connection lost ({reason:#}); resuming");
                if progress.is_hidden() { eprintln!("{note}") } else { progress.println(note) }
            }
        }
        attempt += 1;
    }
    bail!("the upload did not complete after {MAX_ATTEMPTS} attempts")
}

fn header_u64<B>(response: &ureq::http::Response<B>, name: &str) -> Option<u64> {
    response.headers().get(name)?.to_str().ok()?.parse().ok()
}

fn upload_offset(client: &Client, location: &str) -> Result<u64> {
    let mut response = client
        .request_empty("HEAD", location)
        .header("Tus-Resumable", "1.0.0")
        .call()
        .map_err(|e| client::network(&client.api, e))?;
    client::check(&mut response)?;
    header_u64(&response, "Upload-Offset").context("the server did not say how much it has")
}

/// The same server, as far as sending it the API token is concerned: scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    let origin = |url: &str| -> String {
        let url = url.trim().trim_end_matches('/').to_ascii_lowercase();
        let (scheme, rest) = url.split_once("://").unwrap_or(("", &url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let host = host.strip_suffix(default_port).unwrap_or(host);
        format!("{scheme}://{host}")
    };
    origin(a) == origin(b)
}

pub fn revoke(mut args: RevokeArgs) -> Result<()> {
    let id = package_of(&args.link, &mut args.server, "revoke")?;
    let client = args.server.client()?;
    client.post::<Revoked, _>(&format!("/packages/{id}/revoke"), &serde_json::json!({}))?;
    eprintln!("revoked: the link no longer opens the package, and its files are deleted");
    Ok(())
}

/// The package a link (or a bare id) names, for a command of its sender
/// (`verb`: "revoke", "see"). Only the id matters. A link names a server
/// too, but the API token goes only to the configured server: a link from
/// someone else must not make this program send it elsewhere.
pub fn package_of(link: &str, server: &mut ServerArgs, verb: &str) -> Result<PackageId> {
    Ok(match Link::parse(link) {
        Ok(link) => {
            match &server.server {
                Some(configured) if !same_origin(configured, &link.server) => bail!(
                    "the link is for {}, but your server is {configured}: {verb} it with an account on that server",
                    link.server
                ),
                Some(_) => {}
                None if server.token.is_some() => bail!(
                    "no server configured: set --server or KLUIS_SERVER to the server of your account \
                     (the link names {}, and your API token is sent only to your own server)",
                    link.server
                ),
                None => {}
            }
            server.server.get_or_insert(link.server);
            link.package_id
        }
        Err(_) => PackageId::parse(link.trim())
            .map_err(|_| anyhow::anyhow!("that is neither a package link nor a package id"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn the_token_goes_only_to_the_same_origin() {
        assert!(same_origin("https://kluis.example.org", "https://KLUIS.example.org/"));
        assert!(same_origin("https://kluis.example.org:443", "https://kluis.example.org"));
        assert!(!same_origin("https://kluis.example.org", "https://evil.example"));
        assert!(!same_origin("https://kluis.example.org", "http://kluis.example.org"));
        assert!(!same_origin("https://kluis.example.org", "https://kluis.example.org.evil.example"));
    }
}
