//! The audit log's hash chain (docs/architecture.md §5, issue 11): every row
//! carries the SHA-256 of the previous row of its organisation, so a row
//! changed, deleted or moved afterwards is found by [`verify`], which names
//! the first broken row of each organisation.
//!
//! What is hashed, written here once ([`row_hash`]) for the store that
//! writes rows and for [`verify`] that checks them:
//!
//! ```text
//! hash = SHA-256( field("kluis/v1/audit") || field(prev_hash)
//!               || int(id) || int(org_id) || int(at) || field(event) || field(actor)
//!               || field(package_id) || field(detail) )
//! field(b) = 0x01 || u64 big-endian length of b || b      absent (NULL): 0x00
//! int(n)   = field(n as 8 bytes, big-endian two's complement)
//! ```
//!
//! `prev_hash` is the previous row's `hash`, 32 zero bytes ([`GENESIS`]) for
//! an organisation's first row. Why this shape: the label keeps these hashes
//! apart from any other SHA-256 the server makes; every field is
//! length-prefixed and marked present or absent, so no two different rows
//! encode alike (`detail` "ab" with no package is not `package_id` "a" with
//! `detail` "b", nor an empty detail a missing one); the row's own `id` is in
//! it, so rows cannot swap places; `prev_hash` ties each row to all before it.
//!
//! The newest row of each organisation is also recorded as the chain's head
//! (written with the row), and a new row chains onto that head: deleting the
//! newest rows is seen at once by [`verify`] (the chain ends before its head)
//! and later as a gap before the next row.
//!
//! The limit: the hashes are not keyed. Whoever can write the database file
//! can rewrite every row after the one they changed, and the head, and the
//! chain is intact again. The chain detects changes by hand and by anyone who
//! does not redo it; against a rewrite, keep the heads [`verify`] reports
//! somewhere else (a monitoring system, a ticket) and compare them later.

use sha2::{Digest, Sha256};

use crate::store::{AuditHead, ChainedRow, MetaStore};

use super::DomainResult;

/// A row's hash, and the `prev_hash` it carries.
pub(crate) type Hash = [u8; 32];

/// The `prev_hash` of an organisation's first row.
pub(crate) const GENESIS: Hash = [0; 32];

/// Domain separation: these hashes are never confused with any other.
const LABEL: &[u8] = b"kluis/v1/audit";

/// Rows read per query while verifying: memory stays flat for any log size.
const PAGE: i64 = 1000;

/// A row's contents, as they are hashed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub id: i64,
    /// `None` for rows written before rows had an organisation.
    pub org_id: Option<i64>,
    pub at: i64,
    pub event: &'a str,
    pub actor: &'a str,
    pub package_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// The hash of the row `entry` that follows a row whose hash is `prev`.
pub(crate) fn row_hash(prev: &Hash, entry: &Entry) -> Hash {
    let mut h = Sha256::new();
    let mut field = |bytes: Option<&[u8]>| match bytes {
        None => h.update([0]),
        Some(b) => {
            h.update([1]);
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        }
    };
    field(Some(LABEL));
    field(Some(prev));
    field(Some(&entry.id.to_be_bytes()));
    field(entry.org_id.map(i64::to_be_bytes).as_ref().map(|b| &b[..]));
    field(Some(&entry.at.to_be_bytes()));
    field(Some(entry.event.as_bytes()));
    field(Some(entry.actor.as_bytes()));
    field(entry.package_id.map(str::as_bytes));
    field(entry.detail.map(str::as_bytes));
    h.finalize().into()
}

/// The outcome of [`verify`], for the command line and the admin console.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditCheck {
    /// Rows checked (each chain up to its head as it was when the check began).
    pub rows: u64,
    /// Chains checked: one per organisation.
    pub organisations: usize,
    /// Each chain's head, for keeping elsewhere.
    pub heads: Vec<Head>,
    /// The first broken row of each broken chain, oldest organisation first.
    pub breaks: Vec<Break>,
}

impl AuditCheck {
    pub(crate) fn intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

/// An organisation's chain ends at row `last_id`, whose hash is `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub org_id: Option<i64>,
    pub rows: u64,
    pub last_id: i64,
    pub hash: Hash,
}

impl std::fmt::Display for Head {
    /// `head of organisation 1: row 1234, sha256 9f86…` (the full hash in hex).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.org_id {
            Some(org) => write!(f, "head of organisation {org}: ")?,
            None => write!(f, "head of the rows without an organisation: ")?,
        }
        write!(f, "row {}, sha256 {}", self.last_id, hex::encode(self.hash))
    }
}

/// A row named in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowRef {
    pub id: i64,
    pub at: i64,
    pub event: String,
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Break {
    pub org_id: Option<i64>,
    /// The first row that does not verify; for [`BreakKind::NewestMissing`]
    /// and [`BreakKind::NoHead`], the last row that does (`None`: none left).
    pub row: Option<RowRef>,
    pub kind: BreakKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BreakKind {
    /// The row has no hash (not written by Kluis).
    Unchained,
    /// The row's contents (or its `prev_hash`) are not what its hash was made of.
    Changed,
    /// The row does not chain onto the row before it (`None`: it is the
    /// organisation's oldest row, yet does not start the chain): rows are
    /// missing before it, or the one before was rewritten.
    DoesNotFollow { previous: Option<i64> },
    /// The chain ends before its recorded head: the newest rows were deleted.
    NewestMissing { head: i64 },
    /// The last row is the recorded head's row, but not with the recorded hash.
    HeadChanged,
    /// The row comes after the recorded head, which Kluis moves with every
    /// row it writes: it was added by hand.
    AfterHead { head: i64 },
    /// There are rows but no recorded head: it was deleted.
    NoHead,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let row = |r: &RowRef| format!("row {} ({}, {})", r.id, rfc3339(r.at), r.event);
        let place = match (&self.kind, &self.row) {
            (BreakKind::NewestMissing { .. } | BreakKind::NoHead, Some(r)) => format!("after {}", row(r)),
            (_, Some(r)) => format!("at {}", row(r)),
            (_, None) => match self.org_id {
                Some(org) => format!("in organisation {org}"),
                None => "in the rows without an organisation".into(),
            },
        };
        let id = self.row.as_ref().map_or(0, |r| r.id);
        let why = match &self.kind {
            BreakKind::Unchained => "it has no hash (not written by Kluis)".to_string(),
            BreakKind::Changed => "its contents do not match its hash".to_string(),
            BreakKind::DoesNotFollow { previous: Some(p) } => {
                format!("row {id} does not follow row {p}: row(s) missing or changed before it")
            }
            BreakKind::DoesNotFollow { previous: None } => {
                format!("row {id} is the oldest row but does not start the chain: row(s) missing before it")
            }
            BreakKind::NewestMissing { head } => {
                format!("the newest row(s) were deleted (the chain's head is row {head})")
            }
            BreakKind::HeadChanged => "it is not the row recorded as the chain's head (replaced)".to_string(),
            BreakKind::AfterHead { head } => {
                format!("it comes after the chain's recorded head, row {head}: added by hand")
            }
            BreakKind::NoHead => "the chain's recorded head was deleted".to_string(),
        };
        write!(f, "audit log broken {place}: {why}")
    }
}

impl std::fmt::Display for AuditCheck {
    /// One line: intact with its size, or the first break of each broken chain.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.breaks.is_empty() {
            let s = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
            return write!(
                f,
                "audit log intact: {} in {}",
                s(self.rows, "row", "rows"),
                s(self.organisations as u64, "organisation", "organisations")
            );
        }
        let lines: Vec<String> = self.breaks.iter().map(Break::to_string).collect();
        write!(f, "{}", lines.join("\n"))
    }
}

fn rfc3339(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| at.to_string())
}

/// Checks every organisation's chain, page by page, to its recorded head.
pub(crate) async fn verify(meta: &dyn MetaStore) -> DomainResult<AuditCheck> {
    let mut check = AuditCheck::default();
    for head in meta.audit_heads().await? {
        check.organisations += 1;
        let (rows, outcome) = verify_chain(meta, &head).await?;
        check.rows += rows;
        match outcome {
            Ok(Some(h)) => check.heads.push(h),
            Ok(None) => {}
            Err(b) => check.breaks.push(b),
        }
    }
    Ok(check)
}

/// One organisation's chain (the admin console's check): the rows checked, and its head or first break.
pub(crate) async fn verify_organisation(
    meta: &dyn MetaStore,
    org_id: i64,
) -> DomainResult<(u64, Result<Option<Head>, Break>)> {
    let heads = meta.audit_heads().await?;
    match heads.into_iter().find(|h| h.org_id == Some(org_id)) {
        Some(head) => verify_chain(meta, &head).await,
        None => Ok((0, Ok(None))),
    }
}

/// One organisation's chain, oldest row first, to its end, which must be
/// its recorded head (read after the rows: a row and the head are written
/// in one transaction, so rows written meanwhile are read on and checked
/// too): the rows checked, and its head or first break.
async fn verify_chain(meta: &dyn MetaStore, head: &AuditHead) -> DomainResult<(u64, Result<Option<Head>, Break>)> {
    let org_id = head.org_id;
    let broken = |row: Option<&ChainedRow>, kind| Break {
        org_id,
        row: row.map(|r| RowRef { id: r.id, at: r.at, event: r.event.clone() }),
        kind,
    };
    let mut rows = 0u64;
    let mut last: Option<ChainedRow> = None;
    // After a retention sweep the chain starts at the anchor: the last deleted row's hash.
    let mut expected = head.anchor.as_deref().and_then(|a| <Hash>::try_from(a).ok()).unwrap_or(GENESIS);
    loop {
        loop {
            let after = last.as_ref().map_or(0, |r| r.id);
            let page = meta.audit_chain(org_id, after, None, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for row in page {
                let (Some(prev), Some(hash)) = (as_hash(&row.prev_hash), as_hash(&row.hash)) else {
                    return Ok((rows, Err(broken(Some(&row), BreakKind::Unchained))));
                };
                let entry = Entry {
                    id: row.id,
                    org_id: row.org_id,
                    at: row.at,
                    event: &row.event,
                    actor: &row.actor,
                    package_id: row.package_id.as_deref(),
                    detail: row.detail.as_deref(),
                };
                if row_hash(&prev, &entry) != hash {
                    return Ok((rows, Err(broken(Some(&row), BreakKind::Changed))));
                }
                if prev != expected {
                    let kind = BreakKind::DoesNotFollow { previous: last.as_ref().map(|r| r.id) };
                    return Ok((rows, Err(broken(Some(&row), kind))));
                }
                expected = hash;
                rows += 1;
                last = Some(row);
            }
            if !full {
                break;
            }
        }
        let recorded = meta.audit_heads().await?.into_iter().find(|h| h.org_id == org_id).and_then(|h| h.head);
        let last_id = last.as_ref().map(|r| r.id);
        let outcome = match recorded {
            None if last.is_none() => Ok(None),
            None => Err(broken(last.as_ref(), BreakKind::NoHead)),
            Some((id, _)) if Some(id) > last_id => {
                if !meta.audit_chain(org_id, last_id.unwrap_or(0), None, 1).await?.is_empty() {
                    continue; // written while this check ran
                }
                Err(broken(last.as_ref(), BreakKind::NewestMissing { head: id }))
            }
            Some((id, _)) if Some(id) < last_id => {
                let beyond = meta.audit_chain(org_id, id, None, 1).await?;
                Err(broken(beyond.first(), BreakKind::AfterHead { head: id }))
            }
            Some((_, hash)) if hash.as_slice() != expected => Err(broken(last.as_ref(), BreakKind::HeadChanged)),
            Some((id, _)) => Ok(Some(Head { org_id, rows, last_id: id, hash: expected })),
        };
        return Ok((rows, outcome));
    }
}

fn as_hash(bytes: &Option<Vec<u8>>) -> Option<Hash> {
    bytes.as_deref().and_then(|b| b.try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(package_id: Option<&'a str>, detail: Option<&'a str>) -> Entry<'a> {
        Entry {
            id: 7,
            org_id: Some(1),
            at: 1_800_000_000,
            event: "accessed",
            actor: "client:192.0.2.1",
            package_id,
            detail,
        }
    }

    #[test]
    fn field_boundaries_and_absence_change_the_hash() {
        let h = |e: &Entry| row_hash(&GENESIS, e);
        // Moving a byte across a field boundary.
        let ab = Entry { event: "ab", actor: "", ..entry(None, None) };
        let a_b = Entry { event: "a", actor: "b", ..entry(None, None) };
        assert_ne!(h(&ab), h(&a_b));
        assert_ne!(h(&entry(Some("ab"), Some(""))), h(&entry(Some("a"), Some("b"))));
        assert_ne!(h(&entry(None, Some("ab"))), h(&entry(Some("a"), Some("b"))));
        // Empty is not absent, in either optional field.
        assert_ne!(h(&entry(None, Some(""))), h(&entry(None, None)));
        assert_ne!(h(&entry(Some(""), None)), h(&entry(None, None)));
        assert_ne!(h(&entry(Some(""), None)), h(&entry(None, Some(""))));
        // Every field counts: id, organisation, time, and the previous hash.
        let base = h(&entry(None, None));
        assert_ne!(base, h(&Entry { id: 8, ..entry(None, None) }));
        assert_ne!(base, h(&Entry { org_id: None, ..entry(None, None) }));
        assert_ne!(base, h(&Entry { org_id: Some(2), ..entry(None, None) }));
        assert_ne!(base, h(&Entry { at: 1_800_000_001, ..entry(None, None) }));
        assert_ne!(base, row_hash(&[1; 32], &entry(None, None)));
        assert_eq!(base, h(&entry(None, None)), "the hash is a function of the row");
    }

    /// The encoding written out by hand for one row: a change to `row_hash`
    /// that changes existing hashes (and so breaks every stored chain) fails here.
    #[test]
    fn the_encoding_is_as_documented() {
        let e = Entry {
            id: 1,
            org_id: Some(2),
            at: 3,
            event: "created",
            actor: "user:a@example.org",
            package_id: Some("pkg"),
            detail: None,
        };
        let mut m = Vec::new();
        let mut field = |b: &[u8]| {
            m.push(1);
            m.extend((b.len() as u64).to_be_bytes());
            m.extend(b);
        };
        field(b"kluis/v1/audit");
        field(&[9; 32]);
        field(&1i64.to_be_bytes());
        field(&2i64.to_be_bytes());
        field(&3i64.to_be_bytes());
        field(b"created");
        field(b"user:a@example.org");
        field(b"pkg");
        m.push(0);
        let expected: Hash = Sha256::digest(&m).into();
        assert_eq!(row_hash(&[9; 32], &e), expected);
    }

    #[test]
    fn breaks_read_as_sentences() {
        let row = Some(RowRef { id: 57, at: 1_795_773_600, event: "sign_in_failed".into() });
        let b = |kind| Break { org_id: Some(1), row: row.clone(), kind }.to_string();
        assert_eq!(
            b(BreakKind::Changed),
            "audit log broken at row 57 (2026-11-27T10:00:00Z, sign_in_failed): its contents do not match its hash"
        );
        assert_eq!(
            b(BreakKind::DoesNotFollow { previous: Some(55) }),
            "audit log broken at row 57 (2026-11-27T10:00:00Z, sign_in_failed): row 57 does not follow row 55: \
             row(s) missing or changed before it"
        );
        assert!(b(BreakKind::NewestMissing { head: 60 }).starts_with("audit log broken after row 57 ("));
        let check = AuditCheck { rows: 1, organisations: 1, ..AuditCheck::default() };
        assert_eq!(check.to_string(), "audit log intact: 1 row in 1 organisation");
    }
}
