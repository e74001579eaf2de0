//! Sending a package: encrypt files into a package, upload them resumably
//! over tus, and hand back the link.
//!
//! Steps (docs/architecture.md §3): make the link secret L; announce the blob
//! sizes and get the package id and server share S; derive the package
//! identity from L, S and the optional password; encrypt each file to it
//! while uploading; upload the manifest (names, sizes, types, and each blob's
//! header hash, which binds the file to its blob) last;
//! finalize. The server sees only ciphertext, sizes and recipient addresses.
//! Recipients who are colleagues with a key get every blob encrypted to
//! their key too, and the package in their inbox (docs/inbound.md).

use std::io::{self, Read, Seek, SeekFrom};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kluis_crypto::io::CodecReader;
use kluis_crypto::package::{
    LinkSecret, PackageId, PackageKind, ServerShare, access_proof, link_proof, package_identity, stretch_password,
};
use kluis_crypto::{Encryptor, HeaderHash, native};
use kluis_protocol::api::{self, BlobSpec, CreatePackage, CreatedPackage, FinalizeRequest, PackageView, PolicyView};
use kluis_protocol::inbound::{ColleagueKey, Colleagues, DirectoryLookup, KeyState};
use kluis_protocol::manifest::PLACEHOLDER_HEADER;
use kluis_protocol::{FileEntry, Link, Manifest};
use zeroize::Zeroizing;

use crate::api::Api;
use crate::error::Error;
use crate::overlap;

/// Bytes that can be read from any offset again: a file, a spool file, a
/// buffer in memory (`io::Cursor`). A broken upload resumes by reading from
/// the last chunk the server kept.
pub trait Content: Read + Seek + Send {}
impl<T: Read + Seek + Send> Content for T {}

/// One file of a package.
pub struct SendFile {
    /// Its name, as recipients see it.
    pub name: String,
    /// Its media type, for the recipient's browser (`application/pdf`).
    pub media_type: String,
    /// Its size in bytes: announced before the upload, and checked after it.
    pub size: u64,
    /// Its bytes, read from the start.
    pub content: Box<dyn Content>,
}

/// What to send, to whom, and how it is opened.
pub struct SendRequest {
    /// Who may open the package. Kluis does not mail the link.
    pub recipients: Vec<String>,
    /// Subject and message, encrypted like the files.
    pub subject: String,
    pub message: String,
    pub files: Vec<SendFile>,
    /// How long the package lives (the server sets the longest).
    pub expires_in_days: u32,
    /// How many times the package may be opened.
    pub max_downloads: Option<u32>,
    /// How recipients prove who they are.
    pub verify: api::Verify,
    /// A password that protects the package besides the link.
    pub password: Option<Zeroizing<String>>,
    /// Mail the sender when the package is opened for the first time.
    pub notify_on_download: bool,
}

/// A package that was sent.
#[derive(Debug)]
pub struct SentPackage {
    /// The link for the recipients: the only place the link secret L is.
    pub link: Link,
    pub id: PackageId,
    /// Recipients who also have the package in their Kluis inbox,
    /// encrypted to their own key.
    pub colleagues: Vec<ColleagueKey>,
}

/// What happens during [`send_package`], for a progress display.
#[derive(Debug)]
pub enum Event<'a> {
    /// File `index` of the request is being sent.
    File { index: usize, name: &'a str },
    /// `sent` of `total` plaintext bytes of the files are on their way (a
    /// resumed upload may move it back).
    Progress { sent: u64, total: u64 },
    /// The connection broke while uploading file `file` (`None`: the
    /// manifest), or a load balancer in front lost the node (HTTP 502–504);
    /// the upload resumes where the server stopped.
    Retrying { file: Option<usize>, reason: &'a Error },
    /// Another request still holds the upload of file `file` (HTTP 423);
    /// trying again in `seconds`.
    Busy { file: Option<usize>, seconds: u64 },
    /// A colleague's key is of another kind than the package (classic or
    /// post-quantum): they get the link, not a copy in their inbox.
    OtherKind { email: &'a str, package: PackageKind },
}

/// Encrypts and uploads `request` as a package; returns its link. Before
/// anything is encrypted the organisation's policy is checked
/// ([`Error::Policy`]); the server checks again.
pub fn send_package(
    api: &Api,
    mut request: SendRequest,
    progress: &mut dyn FnMut(Event<'_>),
) -> Result<SentPackage, Error> {
    let mut files = std::mem::take(&mut request.files);
    let (to, subject, message, password) = (&request.recipients, &request.subject, &request.message, &request.password);

    // The organisation's rules before anything is encrypted (the server checks again).
    let file_types = file_types(&mut files)?;
    check_policy(api, &request, &files, &file_types)?;

    // Sizes first: an X25519 header has a fixed length and a manifest's
    // length does not depend on the header hashes in it.
    let entries = |files: &[SendFile], hashes: &[HeaderHash]| {
        files.iter().zip(hashes).map(|(f, &h)| FileEntry::new(&f.name, f.size, &f.media_type, h)).collect::<Vec<_>>()
    };
    let placeholder = Manifest::new(subject, message, entries(&files, &vec![PLACEHOLDER_HEADER; files.len()]));
    // Every blob is also encrypted to the sender's own key, when they made one,
    // so they can open what they sent later (`kluis fetch`).
    let own: Option<native::Recipient> = api
        .get::<KeyState>("/key")
        .ok()
        .and_then(|state| state.key)
        .map(|key| key.recipient.parse())
        .transpose()
        .map_err(|_| Error::Protocol("sent an invalid recipient for your key".into()))?;
    // A package is post-quantum exactly when the sender's key is (docs/architecture.md §3).
    let kind = own.as_ref().map_or(PackageKind::Classic, PackageKind::of);
    let (colleagues, colleague_recipients) = colleague_keys(api, to, kind, progress)?;
    let probe_key = native::Identity::generate(kind == PackageKind::PostQuantum)?.to_public();
    let probe_to: Vec<&dyn kluis_crypto::Recipient> = std::iter::once(&probe_key as &dyn kluis_crypto::Recipient)
        .chain(own.as_ref().map(|r| r as _))
        .chain(colleague_recipients.iter().map(|r| r as _))
        .collect();
    let probe = Encryptor::with_recipients(&probe_to)?;
    let mut sizes = vec![probe.encrypted_len(placeholder.to_bytes().len() as u64)];
    sizes.extend(files.iter().map(|f| probe.encrypted_len(f.size)));

    let link_secret = LinkSecret::generate()?;
    let created: CreatedPackage = api.post(
        "/packages",
        &CreatePackage {
            recipients: to.clone(),
            expires_in_days: Some(request.expires_in_days),
            max_downloads: request.max_downloads.map(i64::from),
            verify: request.verify,
            password: password.is_some(),
            notify_on_download: request.notify_on_download,
            blobs: sizes.iter().map(|&size| BlobSpec { size }).collect(),
            file_types: Some(file_types),
            message: Some(!message.is_empty()),
            colleagues: colleagues.clone(),
        },
    )?;
    let id: PackageId = created.package.id.clone();
    let share = ServerShare::from_base64url(&created.server_share)
        .map_err(|_| Error::Protocol("sent an invalid server share".into()))?;
    let stretched = password.as_ref().map(|p| stretch_password(&id, p));
    let package_recipient = package_identity(&id, &link_secret, &share, stretched.as_ref(), kind).to_public();
    let recipients: Vec<native::Recipient> =
        std::iter::once(package_recipient).chain(own).chain(colleague_recipients).collect();

    // Progress counts the files' own bytes (what the user knows), not ciphertext.
    let total = files.iter().map(|f| f.size).sum();
    let mut uploader = Uploader { api, package: &id, progress, total };
    let to: Vec<&dyn kluis_crypto::Recipient> = recipients.iter().map(|r| r as _).collect();
    let mut hashes = Vec::new();
    let mut before = 0;
    for (i, file) in files.iter_mut().enumerate() {
        (uploader.progress)(Event::File { index: i, name: &file.name });
        // One pass over the file: the manifest binds it to its blob by the
        // blob's header hash, known before the first byte is read.
        let mut encryptor = Encryptor::with_recipients(&to)?;
        hashes.push(encryptor.header_hash());
        let mut source = Tracked { content: &mut file.content, read_to: 0 };
        let blob = Blob { index: i + 1, file: Some(i), size: sizes[i + 1], plain_size: file.size, before };
        uploader.upload(&blob, &mut encryptor, &mut source).map_err(|e| Error::Upload {
            file: Some(i),
            name: Some(file.name.clone()),
            source: Box::new(e),
        })?;
        if source.read_to != file.size {
            return Err(Error::Changed { file: i, name: file.name.clone() });
        }
        before += file.size;
    }
    let manifest = Manifest::new(subject, message, entries(&files, &hashes)).to_bytes();
    let manifest_len = manifest.len() as u64;
    let source = &mut MemorySource(io::Cursor::new(manifest));
    let mut encryptor = Encryptor::with_recipients(&to)?;
    // The manifest moves no progress: it is not one of the user's files.
    let blob = Blob { index: 0, file: None, size: sizes[0], plain_size: manifest_len, before: 0 };
    let mut quiet = |event: Event<'_>| {
        if !matches!(event, Event::Progress { .. }) {
            (uploader.progress)(event)
        }
    };
    Uploader { api, package: &id, progress: &mut quiet, total }
        .upload(&blob, &mut encryptor, source)
        .map_err(|e| Error::Upload { file: None, name: None, source: Box::new(e) })?;
    // The server keeps SHA-256(A): recipients prove they hold the link (and
    // password) with A. And SHA-256(A_L): with A_L, from the link alone, they
    // see who sent the package before they are asked for anything.
    let verifier = access_proof(&id, &link_secret, stretched.as_ref()).verifier();
    let link_verifier = link_proof(&id, &link_secret).verifier();
    api.post::<PackageView, _>(
        &format!("/packages/{id}/finalize"),
        &FinalizeRequest { access_verifier: verifier.to_base64url(), link_verifier: link_verifier.to_base64url() },
    )?;

    let url = &created.package.url;
    let server = url.rsplit_once("/p/").map(|(s, _)| s).unwrap_or(url);
    Ok(SentPackage { link: Link::new(server, id.clone(), link_secret), id, colleagues })
}

/// The recipients who are colleagues with a key (`POST /directory`): every
/// blob is encrypted to them too, and the package is in their inbox. A
/// server without the lookup sends as before.
fn colleague_keys(
    api: &Api,
    to: &[String],
    kind: PackageKind,
    progress: &mut dyn FnMut(Event<'_>),
) -> Result<(Vec<ColleagueKey>, Vec<native::Recipient>), Error> {
    if to.is_empty() {
        return Ok(Default::default());
    }
    let found = match api.post::<Colleagues, _>("/directory", &DirectoryLookup { emails: to.to_vec() }) {
        Ok(found) => found.colleagues,
        // An older server has no lookup (404, 405): the package goes by link only.
        Err(e) if matches!(e.server_code(), Some("not_found" | "http_error" | "method_not_allowed")) => Vec::new(),
        Err(e) => return Err(e),
    };
    // One age file is never for both kinds of key: a colleague whose key is
    // of the other kind than the package gets the link like any recipient.
    let (mut colleagues, mut recipients) = (Vec::new(), Vec::new());
    for colleague in found {
        let recipient: native::Recipient = colleague
            .recipient
            .parse()
            .map_err(|_| Error::Protocol(format!("sent an invalid recipient for {}", colleague.email)))?;
        if PackageKind::of(&recipient) == kind {
            colleagues.push(colleague);
            recipients.push(recipient);
        } else {
            progress(Event::OtherKind { email: &colleague.email, package: kind });
        }
    }
    Ok((colleagues, recipients))
}

/// Every file's types: its name's extension and what its first bytes show
/// (`kluis_policy::file_type`).
fn file_types(files: &mut [SendFile]) -> Result<Vec<String>, Error> {
    let mut types = Vec::new();
    for (i, file) in files.iter_mut().enumerate() {
        let mut head = Vec::with_capacity(kluis_policy::file_type::HEAD);
        file.content
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&mut file.content).take(kluis_policy::file_type::HEAD as u64).read_to_end(&mut head))
            .map_err(|source| Error::Read { file: i, name: file.name.clone(), source })?;
        for t in kluis_policy::file_type::of(&file.name, &head) {
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
fn check_policy(api: &Api, request: &SendRequest, files: &[SendFile], file_types: &[String]) -> Result<(), Error> {
    let Ok(view) = api.get::<PolicyView>("/policy") else { return Ok(()) };
    let plan = kluis_policy::PackagePlan {
        recipients: request.recipients.clone(),
        file_types: file_types.to_vec(),
        bytes: files.iter().map(|f| f.size).sum(),
        max_downloads: request.max_downloads,
        verification: request.verify == api::Verify::Email,
        password: request.password.is_some(),
        message: !request.message.is_empty(),
    };
    let breaches = kluis_policy::check(&view.document(), &plan);
    if breaches.is_empty() { Ok(()) } else { Err(Error::Policy(breaches)) }
}

/// Plaintext that can be read again from a chunk boundary, for resuming.
trait Source: Send {
    fn reader_at(&mut self, offset: u64) -> io::Result<Box<dyn Read + Send + '_>>;
}

/// A file's content, and how far it was read: content that grew or shrank
/// while it was sent is noticed.
struct Tracked<'a> {
    content: &'a mut Box<dyn Content>,
    /// The furthest byte read (a resume reads some bytes again).
    read_to: u64,
}

impl Source for Tracked<'_> {
    fn reader_at(&mut self, offset: u64) -> io::Result<Box<dyn Read + Send + '_>> {
        self.content.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(TrackingReader { source: self, pos: offset }))
    }
}

struct TrackingReader<'a, 'b> {
    source: &'a mut Tracked<'b>,
    pos: u64,
}

impl Read for TrackingReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.content.read(buf)?;
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

/// Reports progress as ciphertext is handed to the HTTP client, in
/// plaintext bytes: the ciphertext offset scaled to the file's size (the
/// difference is age's header and 16 bytes per 64 KiB).
struct Counting<'a, 'b, R> {
    inner: R,
    uploader: &'a mut Uploader<'b>,
    blob: &'a Blob,
    /// Ciphertext offset reached.
    at: u64,
}

/// The plaintext bytes that `offset` bytes of ciphertext stand for.
fn plain_at(offset: u64, (cipher, plain): (u64, u64)) -> u64 {
    if cipher == 0 { 0 } else { (u128::from(offset.min(cipher)) * u128::from(plain) / u128::from(cipher)) as u64 }
}

impl<R: Read> Read for Counting<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        self.uploader.moved(self.blob, self.at);
        Ok(n)
    }
}

const MAX_ATTEMPTS: u32 = 8;
/// Waits for another request's upload lease (HTTP 423) before giving up.
const MAX_BUSY_WAITS: u32 = 10;

/// One blob to upload.
struct Blob {
    /// Its index in the package (0: the manifest).
    index: usize,
    /// The request's file it holds (`None`: the manifest).
    file: Option<usize>,
    /// Ciphertext size.
    size: u64,
    plain_size: u64,
    /// Plaintext bytes of the files before it.
    before: u64,
}

struct Uploader<'a> {
    api: &'a Api,
    package: &'a PackageId,
    progress: &'a mut dyn FnMut(Event<'_>),
    total: u64,
}

impl Uploader<'_> {
    /// Reports that the ciphertext of `blob` is on its way up to `offset`.
    fn moved(&mut self, blob: &Blob, offset: u64) {
        let sent = blob.before + plain_at(offset, (blob.size, blob.plain_size));
        (self.progress)(Event::Progress { sent, total: self.total });
    }

    /// Uploads `blob` over tus with `encryptor`: create, then PATCH the
    /// ciphertext; after a broken connection, ask the server where it
    /// stopped (HEAD) and continue from there, encrypting again from that
    /// chunk (same key, same bytes).
    fn upload(&mut self, blob: &Blob, encryptor: &mut Encryptor, source: &mut dyn Source) -> Result<(), Error> {
        let api = self.api;
        let size = blob.size;
        let metadata = format!(
            "package {},blob {}",
            STANDARD.encode(self.package.as_str()),
            STANDARD.encode(blob.index.to_string())
        );
        let mut created = api
            .request("POST", "/uploads")
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", size.to_string())
            .header("Upload-Metadata", metadata)
            .send(&[][..])
            .map_err(|e| api.network(e))?;
        api.check(&mut created)?;
        let location = created
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Protocol("did not say where to upload".into()))?
            .to_string();

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
                match upload_offset(api, &location) {
                    Ok(o) => offset = o,
                    Err(e @ Error::Server(_)) => return Err(e),
                    Err(_) => {
                        attempt += 1;
                        continue;
                    }
                }
            }
            first = false;
            self.moved(blob, offset);
            if offset == size {
                return Ok(());
            }
            let resume = encryptor.resume_at(offset)?;
            let plain = source.reader_at(resume.plaintext_offset)?;
            // Three stages on their own threads: read the file; encrypt
            // (on every core); send. Each runs while the others work.
            let sent = overlap::read_ahead(plain, |plain| -> Result<_, Error> {
                let mut ciphertext = CodecReader::new(&mut *encryptor, plain);
                io::copy(&mut (&mut ciphertext).take(resume.skip_output as u64), &mut io::sink())?;
                Ok(overlap::read_ahead(ciphertext, |ciphertext| {
                    let mut body = Counting { inner: ciphertext, uploader: &mut *self, blob, at: offset };
                    api.request("PATCH", &location)
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
                    let _ = api.check(&mut response);
                    busy_waits += 1;
                    wait = Some(Duration::from_secs(seconds));
                    (self.progress)(Event::Busy { file: blob.file, seconds });
                    continue;
                }
                // 502, 503, 504: a load balancer lost the node that had the body
                // (it cannot pass on a body it streamed), or found none up. As
                // after a broken connection: resume from what the nodes kept.
                Ok(mut response) if (502..=504).contains(&response.status().as_u16()) => {
                    let reason = Error::Server(api.check(&mut response).expect_err("an error status"));
                    if attempt + 1 == MAX_ATTEMPTS {
                        return Err(reason);
                    }
                    (self.progress)(Event::Retrying { file: blob.file, reason: &reason });
                }
                // 409: the server has a different offset: resume from the one it reports.
                Ok(mut response) if response.status().as_u16() == 409 => {
                    let _ = api.check(&mut response);
                }
                Ok(mut response) => {
                    api.check(&mut response)?;
                    offset = header_u64(&response, "Upload-Offset")
                        .ok_or_else(|| Error::Protocol("did not confirm the upload".into()))?;
                    if offset == size {
                        self.moved(blob, size);
                        return Ok(());
                    }
                }
                Err(e) => {
                    // A broken connection: resume from what the server kept.
                    let reason = api.network(e);
                    if attempt + 1 == MAX_ATTEMPTS {
                        return Err(reason);
                    }
                    (self.progress)(Event::Retrying { file: blob.file, reason: &reason });
                }
            }
            attempt += 1;
        }
        Err(Error::Attempts(MAX_ATTEMPTS))
    }
}

fn header_u64<B>(response: &ureq::http::Response<B>, name: &str) -> Option<u64> {
    response.headers().get(name)?.to_str().ok()?.parse().ok()
}

fn upload_offset(api: &Api, location: &str) -> Result<u64, Error> {
    let mut response =
        api.request_empty("HEAD", location).header("Tus-Resumable", "1.0.0").call().map_err(|e| api.network(e))?;
    api.check(&mut response)?;
    header_u64(&response, "Upload-Offset").ok_or_else(|| Error::Protocol("did not say how much it has".into()))
}
