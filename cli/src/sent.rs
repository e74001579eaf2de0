//! `kluis list` and `kluis status`: the sender's sent packages, with what
//! each recipient did (asked for a code, opened, downloaded), from
//! `GET /api/v1/sent` and `GET /api/v1/packages/{id}`. Subjects and file
//! names are encrypted and never reach the server, so packages are known
//! here by id, dates, recipients, files and size.

use anyhow::Result;
use clap::Args;
use kluis_protocol::api::{
    Activity, EventPage, EventView, PackageDetail, PackageState, PackageView, RecipientActivity, SentPackage, SentPage,
    Verify,
};

use crate::progress::format_bytes;
use crate::send::{ServerArgs, package_of};

/// Most packages per request (the server's page size limit).
const PAGE: usize = 100;

#[derive(Args)]
pub struct ListArgs {
    /// How many of your newest packages to list
    #[arg(long, short = 'n', value_name = "N", default_value_t = 20, conflicts_with = "all")]
    limit: usize,
    /// List every package you sent
    #[arg(long)]
    all: bool,
    /// Print JSON (an array of packages, as the API gives them) for scripts
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The package link (or its id)
    // An id may start with '-' (base64url): taken as the link, not as a flag.
    #[arg(allow_hyphen_values = true)]
    link: String,
    /// Print JSON (the package, its recipients' activity and every event) for scripts
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Text from the server without terminal control characters.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}

/// An RFC 3339 time as `2026-11-27 14:02` (UTC, as the server gives it).
fn when(rfc3339: &str) -> String {
    let t = clean(rfc3339).replacen('T', " ", 1);
    let minutes: String = t.chars().take(16).collect();
    if t.ends_with('Z') || t.ends_with("+00:00") { minutes } else { t }
}

fn files(p: &PackageView) -> usize {
    p.blobs.iter().filter(|b| b.index >= 1).count()
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn state(s: PackageState) -> &'static str {
    match s {
        PackageState::Uploading => "uploading",
        PackageState::Ready => "ready",
        PackageState::Revoked => "revoked",
        PackageState::Expired => "expired",
    }
}

/// Downloads so far, with what is left when limited: `1 (2 left)`.
fn downloads(p: &PackageView) -> String {
    match p.downloads_left {
        Some(left) => format!("{} ({left} left)", p.downloads),
        None => p.downloads.to_string(),
    }
}

/// What the files of a package were downloaded as: `all 2 files`, `1 of 2 files`.
fn file_words(done: u32, all: bool, total: usize) -> String {
    if all {
        if total == 1 { "the file".into() } else { format!("all {total} files") }
    } else {
        format!("{done} of {}", plural(total as u64, "file", "files"))
    }
}

/// One recipient's status in words: `downloaded all 2 files`, `opened, nothing downloaded`, `code asked, not opened`.
fn recipient_words(r: &RecipientActivity, total: usize, with_times: bool) -> String {
    let at = |t: &Option<String>| match (with_times, t) {
        (true, Some(t)) => format!(" {}", when(t)),
        _ => String::new(),
    };
    let mut parts = Vec::new();
    if r.code_requested_at.is_some() {
        parts.push(format!("code asked{}", at(&r.code_requested_at)));
    }
    match (&r.opened_at, r.files_downloaded) {
        (None, _) if r.code_requested_at.is_some() => parts.push("not opened".into()),
        (None, _) => parts.push("nothing yet".into()),
        (Some(_), 0) => parts.push(format!("opened{}, nothing downloaded", at(&r.opened_at))),
        (Some(_), n) => {
            parts.push(format!("opened{}", at(&r.opened_at)));
            parts.push(format!("downloaded {}", file_words(n, r.all_files, total)));
        }
    }
    if with_times && r.opens > 1 {
        parts.push(format!("opened {} times", r.opens));
    }
    parts.join(", ")
}

/// Opens of a package whose recipients are not known by name (no verification).
fn anonymous_words(a: &Activity, total: usize) -> String {
    if a.opens == 0 {
        return "not opened".into();
    }
    let opened = format!("opened {}", plural(a.opens as u64, "time", "times"));
    if a.files_downloaded == 0 {
        opened
    } else {
        format!("{opened}, downloaded {}", file_words(a.files_downloaded, a.all_files, total))
    }
}

/// The recipients column of `kluis list`.
fn summary(s: &SentPackage) -> String {
    let total = files(&s.package);
    if s.package.verify == Verify::None {
        let who = if s.package.recipients.is_empty() {
            "anyone with the link".to_string()
        } else {
            clean(&s.package.recipients.join(", "))
        };
        return format!("{who} (no code): {}", anonymous_words(&s.activity, total));
    }
    let people: Vec<String> = s
        .activity
        .recipients
        .iter()
        .map(|r| format!("{}: {}", clean(&r.email), recipient_words(r, total, false)))
        .collect();
    people.join("; ")
}

pub fn list(args: ListArgs) -> Result<()> {
    let client = args.server.client()?;
    let wanted = if args.all { usize::MAX } else { args.limit };
    let mut packages: Vec<SentPackage> = Vec::new();
    let mut cursor: Option<String> = None;
    while packages.len() < wanted {
        let limit = PAGE.min(wanted - packages.len());
        let mut path = format!("/sent?limit={limit}");
        if let Some(c) = &cursor {
            path += &format!("&cursor={c}");
        }
        let page: SentPage = client.get(&path)?;
        packages.extend(page.packages);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    packages.truncate(wanted);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&packages)?);
        return Ok(());
    }
    if packages.is_empty() {
        eprintln!("no packages sent yet");
        return Ok(());
    }
    println!(
        "{:<22}  {:<16}  {:<16}  {:<9}  {:>5}  {:<12}  recipients",
        "id", "created", "expires", "state", "files", "downloads"
    );
    for s in &packages {
        let p = &s.package;
        println!(
            "{:<22}  {:<16}  {:<16}  {:<9}  {:>5}  {:<12}  {}",
            p.id.as_str(),
            when(&p.created_at),
            when(&p.expires_at),
            state(p.state),
            // An ended package's blobs are deleted, and with them what the server knew of its files.
            if p.blobs.is_empty() { "-".to_string() } else { files(p).to_string() },
            downloads(p),
            summary(s)
        );
    }
    if cursor.is_some() {
        eprintln!("(the newest {wanted}; --all or -n N for more)");
    }
    Ok(())
}

pub fn status(mut args: StatusArgs) -> Result<()> {
    let id = package_of(&args.link, &mut args.server, "see")?;
    let client = args.server.client()?;
    let detail: PackageDetail = client.get(&format!("/packages/{id}"))?;
    let mut events = detail.events.clone();
    let mut next = detail.events_next;
    while let Some(after) = next {
        let page: EventPage = client.get(&format!("/packages/{id}/events?after={after}&limit=100"))?;
        events.extend(page.events);
        next = page.next;
    }
    if args.json {
        let mut value = serde_json::to_value(&detail)?;
        value["events"] = serde_json::to_value(&events)?;
        value["events_next"] = serde_json::Value::Null;
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    print_status(&detail, &events);
    Ok(())
}

fn print_status(detail: &PackageDetail, events: &[EventView]) {
    let p = &detail.package;
    let a = &detail.activity;
    let total = files(p);
    let size: u64 = p.blobs.iter().map(|b| b.size).sum();
    println!("package    {}", p.id.as_str());
    println!("link       {}#… (the key is only in the link you sent)", clean(&p.url));
    println!("state      {}", state(p.state));
    println!("created    {}", when(&p.created_at));
    println!("expires    {}", when(&p.expires_at));
    if p.blobs.is_empty() {
        println!("files      deleted");
    } else {
        println!("files      {} ({} encrypted)", total, format_bytes(size));
    }
    let verify = match p.verify {
        Verify::Email => "a code mailed to a recipient's address",
        Verify::None => "none (anyone with the link)",
    };
    println!("opens with {verify}{}", if p.password { ", and a password" } else { "" });
    match p.max_downloads {
        Some(max) => println!("downloads  {} of {max} ({} left)", p.downloads, p.downloads_left.unwrap_or(0)),
        None => println!("downloads  {} (no limit)", p.downloads),
    }
    let opens = match (&a.first_opened_at, &a.last_opened_at) {
        (Some(first), Some(last)) if a.opens > 1 => format!("{} (first {}, last {})", a.opens, when(first), when(last)),
        (Some(first), _) => format!("{} ({})", a.opens, when(first)),
        _ => "0".into(),
    };
    println!("opened     {opens}");
    if a.files_downloaded > 0 {
        println!("files read {}", file_words(a.files_downloaded, a.all_files, total));
    }
    if p.notify_on_download {
        println!("notify     you are mailed at the first download");
    }
    println!("recipients");
    if a.recipients.is_empty() {
        println!("  (none named: anyone with the link)");
    }
    let width = a.recipients.iter().map(|r| r.email.chars().count()).max().unwrap_or(0);
    for r in &a.recipients {
        let words = if p.verify == Verify::None {
            "not known by name (no code is asked)".to_string()
        } else {
            let mut w = recipient_words(r, total, true);
            if r.downloads > i64::from(r.files_downloaded) {
                w += &format!(" ({})", plural(r.downloads as u64, "download", "downloads"));
            }
            w
        };
        println!("  {:<width$}  {words}", clean(&r.email));
    }
    println!("events");
    for e in events {
        let detail = e.detail.as_deref().map(clean).unwrap_or_default();
        println!("  {}  {:<20}  {:<30}  {detail}", when(&e.at), clean(&e.event), clean(&e.actor));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: bool, opened: bool, n: u32, all: bool) -> RecipientActivity {
        RecipientActivity {
            email: "bob@example.org".into(),
            code_requested_at: code.then(|| "2026-11-27T14:01:05Z".into()),
            opened_at: opened.then(|| "2026-11-27T14:02:00Z".into()),
            opens: opened as i64,
            downloads: i64::from(n),
            files_downloaded: n,
            all_files: all,
        }
    }

    #[test]
    fn statuses_in_words() {
        assert_eq!(recipient_words(&r(false, false, 0, false), 2, false), "nothing yet");
        assert_eq!(recipient_words(&r(true, false, 0, false), 2, false), "code asked, not opened");
        assert_eq!(recipient_words(&r(true, true, 0, false), 2, false), "code asked, opened, nothing downloaded");
        assert_eq!(recipient_words(&r(true, true, 1, false), 2, false), "code asked, opened, downloaded 1 of 2 files");
        assert_eq!(
            recipient_words(&r(true, true, 2, true), 2, true),
            "code asked 2026-11-27 14:01, opened 2026-11-27 14:02, downloaded all 2 files"
        );
        assert_eq!(recipient_words(&r(true, true, 1, true), 1, false), "code asked, opened, downloaded the file");
        assert_eq!(when("2026-11-27T14:02:09Z"), "2026-11-27 14:02");
    }
}
