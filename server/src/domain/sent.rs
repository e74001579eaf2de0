//! The sender's sent items: their packages page by page, newest first, each
//! with what its recipients did, derived from the package's audit rows
//! (`verification_sent`, `accessed`, `downloaded`). A recipient is known by
//! their e-mail verification; on a package without verification nobody is
//! known by name, so only the package's opens and downloads are told.

use std::collections::{BTreeMap, BTreeSet};

use super::DomainResult;
use super::accounts::Caller;
use crate::store::{ActivityRow, PackageRecord};

/// Packages per page of the sent list when the caller names no limit, and the most.
pub(crate) const DEFAULT_PAGE: i64 = 20;
pub(crate) const MAX_PAGE: i64 = 100;

/// What one recipient address did (unix times).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RecipientActivity {
    pub email: String,
    pub code_requested_at: Option<i64>,
    pub opened_at: Option<i64>,
    pub opens: i64,
    pub downloads: i64,
    pub files_downloaded: u32,
    pub all_files: bool,
}

/// What recipients did with one package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Activity {
    pub opens: i64,
    pub first_opened_at: Option<i64>,
    pub last_opened_at: Option<i64>,
    pub files_downloaded: u32,
    pub all_files: bool,
    pub recipients: Vec<RecipientActivity>,
}

#[derive(Default)]
struct Tally {
    code_requested_at: Option<i64>,
    opened_at: Option<i64>,
    opens: i64,
    downloads: i64,
    files: BTreeSet<i64>,
}

/// Folds a package's aggregated audit rows into its activity. Blob 0 is the
/// manifest; files are blobs 1 and up.
pub(crate) fn activity(record: &PackageRecord, rows: &[ActivityRow]) -> Activity {
    let files = record.blobs.iter().filter(|b| b.idx >= 1).count() as u32;
    let all = |n: u32| files > 0 && n >= files;
    let mut out = Activity::default();
    let mut any_files = BTreeSet::new();
    let mut people: BTreeMap<String, Tally> = record.recipients.iter().map(|e| (e.clone(), Tally::default())).collect();
    for row in rows.iter().filter(|r| r.package_id == record.package.id) {
        let email = row.actor.strip_prefix("recipient:").filter(|e| !e.is_empty());
        let file = row.blob.filter(|&b| b >= 1);
        match row.event.as_str() {
            "accessed" => {
                out.opens += row.count;
                out.first_opened_at = Some(out.first_opened_at.map_or(row.first_at, |t| t.min(row.first_at)));
                out.last_opened_at = Some(out.last_opened_at.map_or(row.last_at, |t| t.max(row.last_at)));
            }
            "downloaded" => any_files.extend(file),
            _ => {}
        }
        let Some(email) = email else { continue };
        let tally = people.entry(email.to_string()).or_default();
        match row.event.as_str() {
            "verification_sent" => {
                tally.code_requested_at = Some(tally.code_requested_at.map_or(row.last_at, |t| t.max(row.last_at)));
            }
            "accessed" => {
                tally.opens += row.count;
                tally.opened_at = Some(tally.opened_at.map_or(row.first_at, |t| t.min(row.first_at)));
            }
            "downloaded" => {
                if let Some(file) = file {
                    tally.downloads += row.count;
                    tally.files.insert(file);
                }
            }
            _ => {}
        }
    }
    out.files_downloaded = any_files.len() as u32;
    out.all_files = all(out.files_downloaded);
    out.recipients = people
        .into_iter()
        .map(|(email, t)| {
            let n = t.files.len() as u32;
            RecipientActivity {
                email,
                code_requested_at: t.code_requested_at,
                opened_at: t.opened_at,
                opens: t.opens,
                downloads: t.downloads,
                files_downloaded: n,
                all_files: all(n),
            }
        })
        .collect();
    out
}

/// A page of the caller's packages (newest first) with their activity, and the cursor of the next page.
pub(crate) async fn page(
    domain: &super::Domain,
    caller: &Caller,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> DomainResult<(Vec<(PackageRecord, Activity)>, Option<String>)> {
    let after = cursor.filter(|c| !c.is_empty()).map(super::packages::parse_cursor).transpose()?;
    let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let (records, rows) = domain.meta.sent_page(caller.user.id, caller.user.org_id, after, limit + 1).await?;
    let (records, next) = super::page(records, limit, super::packages::cursor_of);
    let page = records
        .into_iter()
        .map(|r| {
            let a = activity(&r, &rows);
            (r, a)
        })
        .collect();
    Ok((page, next))
}

/// The activity on one package of the caller's (checked by the caller of this).
pub(crate) async fn of_package(domain: &super::Domain, record: &PackageRecord) -> DomainResult<Activity> {
    let rows = domain.meta.activity(&record.package.id).await?;
    Ok(activity(record, &rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Blob, Package, PackageState};

    fn record(recipients: &[&str], files: i64) -> PackageRecord {
        PackageRecord {
            package: Package {
                id: "p1".into(),
                org_id: 1,
                sender_id: 1,
                server_share: None,
                access_verifier: None,
                state: PackageState::Ready,
                created_at: 0,
                expires_at: 100,
                max_downloads: None,
                downloads: 0,
                verify_email: true,
                has_password: false,
                notify_on_download: false,
                verification_locked: false,
                link_verifier: None,
                inbound: None,
                direct: None,
            },
            recipients: recipients.iter().map(|s| s.to_string()).collect(),
            blobs: (0..=files).map(|idx| Blob { idx, size: 100, complete: true }).collect(),
        }
    }

    fn row(event: &str, actor: &str, blob: Option<i64>, count: i64, first_at: i64, last_at: i64) -> ActivityRow {
        ActivityRow {
            package_id: "p1".into(),
            event: event.into(),
            actor: actor.into(),
            blob,
            count,
            first_at,
            last_at,
        }
    }

    #[test]
    fn recipients_are_told_apart_by_their_verification() {
        let r = record(&["bob@example.org", "carol@example.org"], 2);
        let rows = [
            row("verification_sent", "recipient:bob@example.org", None, 2, 10, 20),
            row("accessed", "recipient:bob@example.org", None, 2, 30, 40),
            row("downloaded", "recipient:bob@example.org", Some(0), 2, 31, 41),
            row("downloaded", "recipient:bob@example.org", Some(1), 2, 32, 42),
            row("downloaded", "recipient:bob@example.org", Some(2), 1, 33, 33),
            row("verification_sent", "recipient:carol@example.org", None, 1, 50, 50),
            row("downloaded", "recipient:carol@example.org", Some(1), 1, 60, 60),
            row("accessed", "recipient:other@example.org", None, 1, 70, 70),
        ];
        let a = activity(&r, &rows);
        assert_eq!((a.opens, a.first_opened_at, a.last_opened_at), (3, Some(30), Some(70)));
        assert_eq!((a.files_downloaded, a.all_files), (2, true));
        assert_eq!(a.recipients.len(), 3);
        let bob = &a.recipients[0];
        assert_eq!(bob.email, "bob@example.org");
        assert_eq!((bob.code_requested_at, bob.opened_at, bob.opens), (Some(20), Some(30), 2));
        assert_eq!((bob.downloads, bob.files_downloaded, bob.all_files), (3, 2, true));
        let carol = &a.recipients[1];
        assert_eq!((carol.code_requested_at, carol.opened_at), (Some(50), None));
        assert_eq!((carol.downloads, carol.files_downloaded, carol.all_files), (1, 1, false));
        assert_eq!(a.recipients[2].email, "other@example.org");
    }

    #[test]
    fn without_verification_only_the_package_counts() {
        let r = record(&[], 1);
        let rows = [row("accessed", "recipient", None, 3, 5, 9), row("downloaded", "recipient", Some(1), 2, 6, 8)];
        let a = activity(&r, &rows);
        assert_eq!((a.opens, a.files_downloaded, a.all_files), (3, 1, true));
        assert!(a.recipients.is_empty());
    }
}
