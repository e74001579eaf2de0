//! `kluis send`: encrypt files into a package, upload them, and print the
//! link (the steps are `kluis_client::send`'s). `kluis revoke`: withdraw a
//! package.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use kluis_client::text::error_chain;
use kluis_client::{Event, SendFile, SendRequest};
use kluis_crypto::package::{PackageId, PackageKind};
use kluis_protocol::Link;
use kluis_protocol::api::{self, PolicyView, Revoked};

use crate::client::{self, Client, ServerError};
use crate::passphrase;
use crate::progress::Bar;

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
        Ok(client::new(server, Some(token)))
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

pub fn send(args: SendArgs) -> Result<()> {
    let client = args.server.client()?;
    let days = parse_days(&args.expires)?;
    let password = match (&args.password_file, args.password) {
        (Some(file), _) => Some(passphrase::password_from_file(file)?),
        (None, true) => Some(passphrase::prompt_new_password()?),
        (None, false) => None,
    };
    let mut names = Vec::new();
    let files = args
        .files
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
            if !meta.is_file() {
                bail!("{} is not a file", path.display());
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
            let content = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            names.push(name.clone());
            Ok(SendFile { name, media_type: media_type(path).into(), size: meta.len(), content: Box::new(content) })
        })
        .collect::<Result<Vec<_>>>()?;

    let request = SendRequest {
        recipients: args.to.clone(),
        subject: args.subject.clone(),
        message: args.message.clone(),
        files,
        expires_in_days: days,
        max_downloads: args.max_downloads,
        verify: match args.verify.unwrap_or(Verify::Email) {
            Verify::Email => api::Verify::Email,
            Verify::None => api::Verify::None,
        },
        password,
        notify_on_download: args.notify,
    };
    // The bar counts the files' own bytes (what the user knows), not ciphertext.
    let total = request.files.iter().map(|f| f.size).sum();
    let progress = Bar::new(total, names.iter().map(String::as_str));
    let note = |text: String| if progress.bar.is_hidden() { eprintln!("{text}") } else { progress.bar.println(text) };
    let sent = kluis_client::send_package(&client, request, &mut |event| match event {
        Event::File { name, .. } => progress.file(name),
        Event::Progress { sent, .. } => progress.bar.set_position(sent),
        // While the file list (the manifest) is uploaded there is no bar.
        Event::Retrying { file: None, reason } => eprintln!("connection lost ({}); resuming", error_chain(reason)),
        Event::Retrying { file: Some(_), reason } => {
            note(format!("connection lost ({}); resuming", error_chain(reason)))
        }
        Event::Busy { file, seconds } => {
            let text = format!("the upload is still held by an earlier request; trying again in {seconds} s");
            if file.is_none() { eprintln!("{text}") } else { note(text) }
        }
        Event::OtherKind { email, package } => eprintln!(
            "{email}'s key is {} and yours is not: they get the link, not a copy in their Kluis inbox.",
            if package == PackageKind::PostQuantum { "classic" } else { "post-quantum" },
        ),
    });
    progress.bar.finish_and_clear();
    let sent = sent.map_err(|e| in_this_programs_words(e, &client, &args))?;

    if !sent.colleagues.is_empty() {
        let names: Vec<&str> = sent.colleagues.iter().map(|c| c.email.as_str()).collect();
        eprintln!("Also in the Kluis inbox of {} (encrypted to their key).", names.join(", "));
    }
    println!("{}", sent.link);
    Ok(())
}

/// A failed send in the words of this program: files by the path given,
/// and the server's refusals of a new package in terms of this program's
/// flags (the server names API fields: `expires_in_days`, `max_downloads`).
fn in_this_programs_words(e: kluis_client::Error, client: &Client, args: &SendArgs) -> anyhow::Error {
    use kluis_client::Error as E;
    let path = |file: usize| args.files[file].display().to_string();
    match e {
        E::Read { file, source, .. } => anyhow::Error::new(source).context(format!("cannot read {}", path(file))),
        E::Changed { file, .. } => anyhow!("{} changed while it was being sent", path(file)),
        E::Upload { file: Some(file), source, .. } => {
            anyhow::Error::new(*source).context(format!("cannot upload {}", path(file)))
        }
        E::Server(refusal) => explain_refusal(refusal, client, &args.expires),
        e => e.into(),
    }
}

/// The server's refusal of a new package in the words of this program's
/// flags (the server names API fields: `expires_in_days`, `max_downloads`).
fn explain_refusal(refusal: ServerError, client: &Client, expires: &str) -> anyhow::Error {
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
        _ => refusal.into(),
    }
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
