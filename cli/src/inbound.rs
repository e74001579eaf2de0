//! Receiving files from people without an account (docs/inbound.md):
//! `kluis request` makes an upload link, `kluis inbox` lists what came in,
//! `kluis fetch` downloads and decrypts one item with the identity file of
//! `kluis key`.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use kluis_client::text::printable;
use kluis_crypto::{Error as AgeError, native};
use kluis_protocol::api::{self, DownloadBlob};
use kluis_protocol::inbound::{CreateRequest, InboxItem, InboxKind, InboxPage, RequestView};
use kluis_protocol::{Manifest, PackageId, RequestLink};

use crate::client::{Client, server_code};
use crate::key::{IdentityArg, key_state};
use crate::progress::format_bytes;
use crate::receive::{fetch_manifest, save_files, show_words};
use crate::send::ServerArgs;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Verify {
    /// Uploaders prove their address with a code sent by e-mail
    Email,
    /// Anyone with the link can upload
    None,
}

#[derive(Args)]
pub struct RequestArgs {
    /// Who may upload (their e-mail address); repeatable. Without it,
    /// anyone with the link. Kluis does not mail the link: send it yourself
    #[arg(long = "to", value_name = "EMAIL")]
    to: Vec<String>,
    /// A note shown on the upload page (not encrypted: instructions, not secrets)
    #[arg(long, value_name = "TEXT")]
    message: Option<String>,
    /// Days the link works (the server sets the default and the longest)
    #[arg(long, value_name = "N")]
    days: Option<u32>,
    /// How many uploads the link takes (default 1)
    #[arg(long, value_name = "N")]
    uploads: Option<u32>,
    /// Largest upload, e.g. 500MB, 2GB or bytes (default: the server's limit)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_size: Option<u64>,
    /// How uploaders prove who they are (--to implies email)
    #[arg(long, value_enum, default_value = "email")]
    verify: Verify,
    /// Print JSON (the request as the API gives it, with its link) for scripts
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct InboxArgs {
    /// Print JSON (an array of items, as the API gives them) for scripts
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct FetchArgs {
    /// The item's id (see `kluis inbox`)
    // An id may start with '-' (base64url): taken as the id, not as a flag.
    #[arg(allow_hyphen_values = true)]
    id: String,
    #[command(flatten)]
    identity: IdentityArg,
    /// Folder to save the files in
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
}

/// A size as bytes: `1000`, `500kB`, `1.5MB`, `2GB`, `1GiB` (case-insensitive).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(format!("unknown unit in {text:?}: use B, kB, MB, GB, TB (or KiB, MiB, GiB)")),
    };
    let value: f64 = number.parse().map_err(|_| format!("not a size: {text:?} (e.g. 500MB)"))?;
    let bytes = (value * factor as f64).round();
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("not a size: {text:?} (e.g. 500MB)"));
    }
    Ok(bytes as u64)
}

pub fn request(args: RequestArgs) -> Result<()> {
    let client = args.server.client()?;
    if !args.to.is_empty() && args.verify == Verify::None {
        bail!("--to names who may upload, and they prove it with a mailed code: drop --verify none");
    }
    let key = key_state(&client)?.key.context("you have no key yet: run `kluis key init` first")?;
    let body = CreateRequest {
        emails: args.to.clone(),
        message: args.message.clone(),
        expires_in_days: args.days,
        max_uploads: args.uploads,
        max_bytes: args.max_size,
        verify: match args.verify {
            Verify::Email => api::Verify::Email,
            Verify::None => api::Verify::None,
        },
    };
    let view: RequestView = client.post("/requests", &body).map_err(|e| match server_code(&e) {
        Some("no_key") => anyhow!("you have no key yet: run `kluis key init` first"),
        _ => e.into(),
    })?;
    // Uploads are encrypted to the recipient in the link: it must be this user's key.
    if view.recipient != key.recipient {
        bail!(
            "the server made the request for {} but your key is {}: do not use it (request {})",
            view.recipient,
            key.recipient,
            view.id.as_str()
        );
    }
    let link = request_link(&view)?;
    if args.json {
        let mut value = serde_json::to_value(&view)?;
        value["link"] = serde_json::Value::String(link.to_string());
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let who = if view.emails.is_empty() { "anyone with the link".to_string() } else { view.emails.join(", ") };
    let how = match view.verify {
        api::Verify::Email => "with a code mailed to them",
        api::Verify::None => "without a code",
    };
    let uploads = if view.max_uploads == 1 { "1 upload".to_string() } else { format!("{} uploads", view.max_uploads) };
    eprintln!(
        "Who may upload: {who}, {how}; {uploads} of at most {}; until {}.",
        format_bytes(view.max_bytes),
        when(&view.expires_at)
    );
    eprintln!("Send this link yourself; what comes in shows in `kluis inbox`.");
    println!("{link}");
    Ok(())
}

/// The link of a request: its URL and, after `#`, the recipient uploads are encrypted to.
fn request_link(view: &RequestView) -> Result<RequestLink> {
    RequestLink::parse(&format!("{}#{}", view.url, view.recipient))
        .map_err(|e| anyhow!("the server sent a request link this program cannot use ({e}): {}", view.url))
}

/// An RFC 3339 time as `2026-11-27 14:02` (UTC, as the server gives it).
fn when(rfc3339: &str) -> String {
    let t = printable(rfc3339, false).replacen('T', " ", 1);
    let minutes: String = t.chars().take(16).collect();
    if t.ends_with('Z') || t.ends_with("+00:00") { minutes } else { t }
}

/// Most items per request.
const PAGE: usize = 100;

pub fn inbox(args: InboxArgs) -> Result<()> {
    let client = args.server.client()?;
    let mut items: Vec<InboxItem> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/inbox?limit={PAGE}");
        if let Some(c) = &cursor {
            path += &format!("&cursor={c}");
        }
        let page: InboxPage = client.get(&path)?;
        items.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    if items.is_empty() {
        eprintln!("nothing received yet (make an upload link with `kluis request`)");
        return Ok(());
    }
    println!("{:<22}  {:<16}  {:>5}  {:>9}  from", "id", "received", "files", "size");
    for item in &items {
        let verified = match (item.kind, item.verified) {
            (InboxKind::Package, _) => " (a colleague's package)",
            (_, true) => "",
            (_, false) => " (address not verified)",
        };
        println!(
            "{:<22}  {:<16}  {:>5}  {:>9}  {}{verified}",
            item.id.as_str(),
            when(&item.received_at),
            item.blobs.len().saturating_sub(1),
            format_bytes(item.size),
            printable(&item.from, false),
        );
    }
    Ok(())
}

pub fn fetch(args: FetchArgs) -> Result<()> {
    let id = PackageId::parse(args.id.trim())
        .map_err(|_| anyhow!("{:?} is not an inbox item id (see `kluis inbox`)", args.id))?;
    let client = args.server.client()?;
    let path = args.identity.path()?;
    if !path.exists() {
        bail!(
            "no identity file at {}: give it with --identity, or write it here with `kluis key unlock`",
            path.display()
        );
    }
    let identities = crate::age::read_identity_file(&path, None)?;
    // An item of the inbox, or a package the user sent (encrypted to their own key too).
    let (item, blobs) = match client.get::<InboxItem>(&format!("/inbox/{id}")) {
        Ok(item) => {
            let blobs = item
                .blobs
                .iter()
                .map(|b| DownloadBlob { index: b.index, size: b.size, url: format!("/inbox/{id}/blobs/{}", b.index) })
                .collect::<Vec<_>>();
            (Some(item), blobs)
        }
        Err(e) if server_code(&e) == Some("not_found") => {
            let sent: api::PackageView = client.get(&format!("/packages/{id}")).map_err(|e| match server_code(&e) {
                Some("not_found") => anyhow!(
                    "there is no item {id} in your inbox nor among what you sent (see `kluis inbox`, `kluis list`)"
                ),
                _ => e.into(),
            })?;
            let blobs = sent
                .blobs
                .iter()
                .map(|b| DownloadBlob {
                    index: b.index,
                    size: b.size,
                    url: format!("/packages/{id}/blobs/{}", b.index),
                })
                .collect::<Vec<_>>();
            (None, blobs)
        }
        Err(e) => return Err(e.into()),
    };
    let (manifest_ref, files) = blobs.split_first().context("the item has no blobs")?;
    let manifest_file = fetch_manifest(&client, manifest_ref)?;
    let mut opened = None;
    for identity in &identities {
        match kluis_crypto::decrypt(&[identity], &manifest_file) {
            Ok(bytes) => {
                opened = Some((identity, bytes));
                break;
            }
            Err(AgeError::NoMatch) => continue,
            Err(e) => return Err(anyhow!(e).context("the item's file list is damaged")),
        }
    }
    let Some((identity, manifest_bytes)) = opened else {
        return Err(wrong_identity(&client, &path, &identities));
    };
    let manifest = Manifest::parse(&manifest_bytes, blobs.len())?;
    let files_word =
        if manifest.files.len() == 1 { "1 file".to_string() } else { format!("{} files", manifest.files.len()) };
    match &item {
        Some(item) => {
            let proven = match (item.kind, item.verified) {
                (InboxKind::Package, _) => "a colleague, sent to your key",
                (_, true) => "address verified",
                (_, false) => "address not verified",
            };
            eprintln!(
                "from {} ({proven}) · {files_word} · received {}",
                printable(&item.from, false),
                when(&item.received_at)
            );
        }
        None => eprintln!("sent by you · {files_word}"),
    }
    show_words(&manifest);
    save_files(&client, identity, &manifest, files, &args.out)
}

/// Why the identity file does not open an item, in words the user can act on.
fn wrong_identity(client: &Client, path: &std::path::Path, identities: &[native::Identity]) -> anyhow::Error {
    let have: Vec<String> = identities.iter().map(|i| i.to_public().to_string()).collect();
    let current = key_state(client).ok().and_then(|s| s.key).map(|k| k.recipient);
    match current {
        Some(current) if !have.contains(&current) => anyhow!(
            "the identity file {} is for {}, not for your key {current}: use your key's identity file \
             (`kluis key unlock --identity FILE` writes it)",
            path.display(),
            have.join(", ")
        ),
        _ => anyhow!(
            "the identity file {} ({}) does not open this item: it was encrypted to another key \
             (one you had before, if you replaced yours)",
            path.display(),
            have.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1.5 gb"), Ok(1_500_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}
