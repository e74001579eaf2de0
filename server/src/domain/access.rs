//! The recipient's side, reached from the link `/p/<id>#<L>`: status, the
//! sender card, the access proof, verification codes, the access check that
//! releases S and counts a download, and the download sessions that fetch
//! blobs.
//!
//! Knowing a package id opens nothing and counts nothing: every call that
//! mails, counts or releases anything first checks the access proof A
//! against the stored `SHA-256(A)` in constant time (docs/architecture.md
//! §3). A wrong proof counts nothing, is limited per client (and, for
//! password packages, per package), and is logged once per hour per package.
//! Who sent a package is shown only for the link proof A_L (§3, link proof),
//! which proves possession of L without the password and unlocks nothing else.

use kluis_crypto::package::{AccessProof, AccessVerifier, LinkProof, LinkVerifier};

use super::codes::{self, CLIENT_BUDGET, Outcome, Purpose};
use super::packages::{availability, downloads_left};
use super::{Actor, Domain, DomainError, DomainResult, Event, Unavailable, address, invalid, mail, now, organisations};
use crate::secrets::{random_token, sha256_hex};
use crate::store::{Blob, Counter, Package};

/// Prefix of download session tokens.
pub(crate) const SESSION_PREFIX: &str = "kdl_";
/// Wrong access proofs per password package per hour (a wrong password is one).
pub(crate) const PROOF_BUDGET: i64 = 30;

/// A package a recipient may open now. Deliveries (files that came in) are
/// no package anyone opens with a link: only their owner reads them (`inbox`).
pub(crate) async fn open(domain: &Domain, id: &str) -> DomainResult<Package> {
    let package = domain.meta.package(id).await?.filter(|p| p.inbound.is_none());
    let package = package.ok_or(DomainError::NotFound("package"))?;
    availability(&package, now()).map_err(|u| match u {
        Unavailable::NotReady => DomainError::NotFound("package"),
        other => DomainError::Unavailable(other),
    })?;
    Ok(package)
}

/// The package and its blobs, for the status page.
pub(crate) async fn status(domain: &Domain, id: &str) -> DomainResult<(Package, Vec<Blob>)> {
    let package = open(domain, id).await?;
    let blobs = domain.meta.blobs(id).await?;
    Ok((package, blobs))
}

fn hour_window(at: i64) -> i64 {
    at - at.rem_euclid(3600)
}

/// Checks the access proof before anything else is done for the caller.
async fn check_proof(domain: &Domain, package: &Package, proof: &str, client: &str) -> DomainResult<()> {
    let at = now();
    // Only a password can be guessed (A itself is 256 bits), so only password
    // packages get a per-package budget: elsewhere it would only let anyone
    // who knows the id block the real link for an hour.
    // The first counter only aggregates failures for the audit log.
    let mut counters = vec![
        Counter { key: format!("proof-log:{}", package.id), window_start: hour_window(at) },
        Counter { key: format!("client:{client}"), window_start: hour_window(at) },
    ];
    if package.has_password {
        counters.push(Counter { key: format!("proof:{}", package.id), window_start: hour_window(at) });
    }
    let counts = domain.meta.failures(&counters).await?;
    let over = counts[1] >= CLIENT_BUDGET || counts.get(2).is_some_and(|&c| c >= PROOF_BUDGET);
    if over {
        return Err(DomainError::RateLimited { retry_after: (hour_window(at) + 3600 - at).max(1) as u64 });
    }
    let verifier = package.access_verifier.as_deref().and_then(|v| <[u8; 32]>::try_from(v).ok());
    let matches = match (verifier, AccessProof::from_base64url(proof)) {
        (Some(v), Ok(p)) => AccessVerifier::from_bytes(v).matches(&p),
        _ => false,
    };
    if matches {
        return Ok(());
    }
    let counts = domain.meta.count_failure(&counters, at).await?;
    if counts[0] == 1 {
        let detail = Some("wrong access proof (further ones this hour are counted, not logged)".to_string());
        domain
            .meta
            .record(domain.event(package.org_id, Event::AccessDenied, Actor::Client(client), Some(&package.id), detail))
            .await?;
    }
    Err(DomainError::WrongProof { password: package.has_password })
}

/// Who sent a package, as a recipient sees it before being asked for anything.
pub(crate) struct SenderCard {
    pub email: String,
    pub name: Option<String>,
    pub organisation: String,
    /// Files, not counting the manifest.
    pub files: u32,
    pub sent_at: i64,
}

/// The sender card, for a caller who presents the link proof A_L
/// (docs/architecture.md §3, link proof). It counts nothing and mails
/// nothing. A wrong proof, a package without a link verifier (finalized
/// before there was one) and an unknown id get the same answer, `not_found`,
/// and all of them spend the client's budget of wrong proofs; a wrong proof
/// for a package is logged once per hour. There is no per-package budget:
/// A_L is 256 bits and cannot be guessed. Expired, revoked and used-up
/// packages get the precise answers the status gives anyone.
pub(crate) async fn sender(domain: &Domain, id: &str, proof: &str, client: &str) -> DomainResult<SenderCard> {
    let at = now();
    let client_counter = Counter { key: format!("client:{client}"), window_start: hour_window(at) };
    if domain.meta.failures(std::slice::from_ref(&client_counter)).await?[0] >= CLIENT_BUDGET {
        return Err(DomainError::RateLimited { retry_after: (hour_window(at) + 3600 - at).max(1) as u64 });
    }
    let package = match open(domain, id).await {
        Ok(package) => Some(package),
        Err(DomainError::NotFound(_)) => None,
        Err(other) => return Err(other),
    };
    let verifier = package.as_ref().and_then(|p| p.link_verifier.as_deref()).and_then(|v| <[u8; 32]>::try_from(v).ok());
    let matches = match (verifier, LinkProof::from_base64url(proof)) {
        (Some(v), Ok(p)) => LinkVerifier::from_bytes(v).matches(&p),
        _ => false,
    };
    let package = match package {
        Some(package) if matches => package,
        package => {
            let mut counters = vec![client_counter];
            // The audit counter: one AccessDenied per hour per package.
            if let Some(package) = &package {
                counters.push(Counter { key: format!("link-proof-log:{}", package.id), window_start: hour_window(at) });
            }
            let counts = domain.meta.count_failure(&counters, at).await?;
            if let Some(package) = package.as_ref().filter(|_| counts.get(1) == Some(&1)) {
                let detail = Some("wrong link proof (further ones this hour are counted, not logged)".to_string());
                let event = domain.event(package.org_id, Event::AccessDenied, Actor::Client(client), Some(id), detail);
                domain.meta.record(event).await?;
            }
            return Err(DomainError::NotFound("package"));
        }
    };
    let sender = domain.meta.user(package.sender_id).await?.ok_or(DomainError::NotFound("package"))?;
    let files = domain.meta.blobs(id).await?.len().saturating_sub(1);
    Ok(SenderCard {
        email: sender.email,
        name: sender.name,
        organisation: organisations::get(domain, package.org_id).await?.name,
        files: u32::try_from(files).unwrap_or(u32::MAX),
        sent_at: package.created_at,
    })
}

/// Mails a verification code if the address is one of the package's
/// recipients. Every address gets the same answer and the same limits.
pub(crate) async fn request_code(domain: &Domain, id: &str, raw: &str, proof: &str, client: &str) -> DomainResult<()> {
    let package = open(domain, id).await?;
    if !package.verify_email {
        return Err(DomainError::NoVerification);
    }
    check_proof(domain, &package, proof, client).await?;
    let email = address::normalize(raw).map_err(|e| invalid("invalid_email", format!("{e}.")))?;
    if package.verification_locked {
        return Err(DomainError::Code(super::CodeRejection::Locked { retry_after: None }));
    }
    let recipient = domain.meta.is_recipient(id, &email).await?;
    let purpose = Purpose::Verify { package_id: id };
    if let Some(code) = codes::issue(domain, purpose, &email, client, recipient).await? {
        domain
            .meta
            .record(domain.event(
                package.org_id,
                Event::VerificationSent,
                Actor::Recipient(Some(&email)),
                Some(id),
                None,
            ))
            .await?;
        let sender = domain.meta.user(package.sender_id).await?.map(|u| u.email).unwrap_or_default();
        let files = domain.meta.blobs(id).await?.len().saturating_sub(1);
        mail::enqueue(
            domain,
            mail::verification_code(
                &email,
                &code,
                &sender,
                &organisations::get(domain, package.org_id).await?.name,
                files,
            ),
        )
        .await?;
    }
    Ok(())
}

/// What a recipient gets for passing the checks.
pub(crate) struct Granted {
    pub server_share: Vec<u8>,
    pub download_token: String,
    pub session_expires_at: i64,
    pub downloads_left: Option<i64>,
    pub blobs: Vec<Blob>,
}

/// The access check: proof, then (when asked) the code, then availability
/// inside the unit of work that counts the download and opens a session.
pub(crate) async fn access(
    domain: &Domain,
    id: &str,
    proof: &str,
    email: Option<&str>,
    code: Option<&str>,
    client: &str,
) -> DomainResult<Granted> {
    let package = open(domain, id).await?;
    check_proof(domain, &package, proof, client).await?;
    let mut verified = None;
    if package.verify_email {
        let (Some(raw), Some(code)) = (email, code) else { return Err(DomainError::VerificationRequired) };
        let email = address::normalize(raw).map_err(|e| invalid("invalid_email", format!("{e}.")))?;
        if package.verification_locked {
            return Err(DomainError::Code(super::CodeRejection::Locked { retry_after: None }));
        }
        match codes::check(domain, Purpose::Verify { package_id: id }, &email, code, client).await? {
            Outcome::Valid => verified = Some(email),
            Outcome::Rejected { rejection, first, package_spent, .. } => {
                if first {
                    let event = domain.event(
                        package.org_id,
                        Event::VerificationFailed,
                        Actor::Recipient(Some(&email)),
                        Some(id),
                        Some("wrong code (further ones for this address are counted, not logged)".into()),
                    );
                    domain.meta.record(event).await?;
                }
                if package_spent && domain.meta.lock_verification(id).await? {
                    let event = domain.event(package.org_id, Event::VerificationLocked, Actor::System, Some(id), None);
                    domain.meta.record(event).await?;
                    let sender = domain.meta.user(package.sender_id).await?.map(|u| u.email);
                    if let Some(sender) = sender {
                        let record = domain.meta.package_record(id).await?;
                        let (files, recipients) =
                            record.map(|r| (r.blobs.len().saturating_sub(1), r.recipients)).unwrap_or_default();
                        let about = mail::About { files, recipients: &recipients, sent_at: package.created_at };
                        mail::enqueue(domain, mail::verification_locked(&sender, &about)).await?;
                    }
                }
                return Err(DomainError::Code(rejection));
            }
        }
    }
    let token = random_token(SESSION_PREFIX);
    let at = now();
    let session_expires_at = at + i64::from(domain.limits.download_session_hours) * 3600;
    let event = domain.event(package.org_id, Event::Accessed, Actor::Recipient(verified.as_deref()), Some(id), None);
    let rule = Box::new(move |p: &Package| {
        availability(p, now()).map_err(DomainError::Unavailable)?;
        if p.server_share.is_none() {
            return Err(DomainError::Unavailable(Unavailable::Revoked));
        }
        Ok(())
    });
    let grant = domain
        .meta
        .grant_access(id, rule, &sha256_hex(token.as_bytes()), verified.as_deref(), session_expires_at, event)
        .await?;
    if let Some((sender, recipients)) = grant.notify {
        let files = domain.meta.blobs(id).await?.len().saturating_sub(1);
        let about = mail::About { files, recipients: &recipients, sent_at: grant.package.created_at };
        mail::enqueue(domain, mail::first_download(&sender, &about)).await?;
    }
    let mut counted = grant.package.clone();
    counted.downloads += 1;
    Ok(Granted {
        server_share: grant.package.server_share.clone().unwrap_or_default(),
        download_token: token,
        session_expires_at: session_expires_at.min(grant.package.expires_at),
        downloads_left: downloads_left(&counted),
        blobs: grant.blobs,
    })
}

/// A blob a download session may read, and who the session is for.
pub(crate) async fn authorize_download(
    domain: &Domain,
    id: &str,
    idx: i64,
    token: Option<&str>,
) -> DomainResult<(Blob, Option<String>)> {
    let (_, email) = in_session(domain, id, token).await?;
    let blob = domain.meta.blobs(id).await?.into_iter().find(|b| b.idx == idx).ok_or(DomainError::NotFound("blob"))?;
    Ok((blob, email))
}

/// The package of a live download session, while it has not ended (an open
/// session may finish its downloads after the last one was counted), and
/// the session's verified address, if any.
pub(crate) async fn in_session(
    domain: &Domain,
    id: &str,
    token: Option<&str>,
) -> DomainResult<(Package, Option<String>)> {
    let token = token.ok_or(DomainError::SessionRequired)?;
    if !token.starts_with(SESSION_PREFIX) || token.len() > 128 {
        return Err(DomainError::SessionExpired);
    }
    let email =
        domain.meta.session(&sha256_hex(token.as_bytes()), id, now()).await?.ok_or(DomainError::SessionExpired)?;
    let package = domain.meta.package(id).await?.ok_or(DomainError::NotFound("package"))?;
    match availability(&package, now()) {
        Ok(()) | Err(Unavailable::LimitReached) => Ok((package, email)),
        Err(reason) => Err(DomainError::Unavailable(reason)),
    }
}

/// A blob was read to its end.
pub(crate) async fn downloaded(domain: &Domain, id: &str, email: Option<&str>, detail: String) -> DomainResult<()> {
    let org_id = domain.meta.package(id).await?.map(|p| p.org_id);
    Ok(domain
        .meta
        .record(domain.event(org_id, Event::Downloaded, Actor::Recipient(email), Some(id), Some(detail)))
        .await?)
}
