//! Upload requests (docs/inbound.md): a user asks outsiders for files with
//! a link `https://HOST/r/<id>#<recipient>`; an uploader proves their
//! address when asked, gets a session, declares a delivery and uploads it
//! encrypted to the requester's recipient. The server checks that the
//! declared recipient is the request's, so a page given a changed link is
//! refused before anything is uploaded; it never holds anything that opens
//! the files.

use kluis_crypto::package::PackageKind;
use kluis_protocol::api::Verify;
use kluis_protocol::inbound::{CreateDelivery, CreateRequest, RequestState};

use super::accounts::Caller;
use super::accounts::OrgAdmin;
use super::codes::{self, Outcome, Purpose};
use super::packages::{MIN_BLOB_SIZE, purge_blobs, upload_quota};
use super::{Actor, Domain, DomainError, DomainResult, Event, address, invalid, mail, now, organisations};
use crate::secrets::{random_id, random_token, sha256_hex};
use crate::store::{
    EventOf, Finalized, Inbound, NewDelivery, NewEvent, PackageRecord, PackageState, UploadRequest, UploaderSession,
    User,
};
use kluis_licence::Feature;

/// Prefix of uploader session tokens.
pub(crate) const UPLOADER_PREFIX: &str = "kluis_up_";
/// Most addresses one request names.
pub(crate) const MAX_EMAILS: usize = 50;
/// Longest note on the upload page, in characters.
pub(crate) const MAX_MESSAGE: usize = 2000;
/// Most uploads one request takes.
pub(crate) const MAX_UPLOADS: u32 = 100;
/// Most replies to one package.
pub(crate) const MAX_REPLIES: i64 = 20;
/// How long an uploader's session lasts: long enough for a large upload to resume.
const SESSION_SECONDS: i64 = 24 * 3600;
/// Requests listed at most.
const LIST_LIMIT: i64 = 200;

/// Where a request is at `at`.
pub(crate) fn state(r: &UploadRequest, at: i64) -> RequestState {
    if r.closed_at.is_some() {
        RequestState::Closed
    } else if at >= r.expires_at {
        RequestState::Expired
    } else if r.uploads >= r.max_uploads {
        RequestState::Used
    } else {
        RequestState::Open
    }
}

/// Makes an upload request of the caller, to the recipient of their key.
pub(crate) async fn create(domain: &Domain, caller: &Caller, req: CreateRequest) -> DomainResult<UploadRequest> {
    if req.emails.len() > MAX_EMAILS {
        return Err(invalid("too_many_emails", format!("A request names at most {MAX_EMAILS} addresses.")));
    }
    let mut emails: Vec<String> = Vec::with_capacity(req.emails.len());
    for raw in &req.emails {
        let email = address::normalize(raw).map_err(|e| invalid("invalid_email", format!("{e}.")))?;
        if !emails.contains(&email) {
            emails.push(email);
        }
    }
    let message = req
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| m.chars().filter(|c| !c.is_control() || *c == '\n').take(MAX_MESSAGE).collect::<String>());
    let org = domain.meta.organisation(caller.user.org_id).await?;
    let (default_days, max_days) = organisations::expiry(domain, org.as_ref());
    let days = req.expires_in_days.unwrap_or(default_days);
    if days == 0 || days > max_days {
        return Err(invalid("invalid_expiry", format!("expires_in_days must be between 1 and {max_days}.")));
    }
    let max_uploads = req.max_uploads.unwrap_or(1);
    if !(1..=MAX_UPLOADS).contains(&max_uploads) {
        return Err(invalid("invalid_max_uploads", format!("max_uploads must be between 1 and {MAX_UPLOADS}.")));
    }
    let limit = domain.limits.max_package_bytes.min(i64::MAX as u64);
    let max_bytes = req.max_bytes.unwrap_or(limit);
    if max_bytes < MIN_BLOB_SIZE * 2 || max_bytes > limit {
        return Err(invalid("invalid_max_bytes", format!("max_bytes must be between 200 and {limit}.")));
    }
    let key = domain.meta.user_key(caller.user.id).await?.ok_or_else(|| DomainError::Conflict {
        code: "no_key",
        message: "Make your key first: uploads are encrypted to it.".into(),
    })?;
    super::licences::may_send(domain, caller).await?;
    super::licences::require(domain, caller.user.org_id, Feature::UploadPortal).await?;
    let at = now();
    let request = UploadRequest {
        id: random_id(),
        org_id: caller.user.org_id,
        user_id: caller.user.id,
        reply_to: None,
        portal: None,
        receivers: vec![caller.user.id],
        recipients: vec![key.recipient.clone()],
        recipient: key.recipient,
        message,
        // Naming who may upload means nothing unless they prove it.
        verify_email: req.verify == Verify::Email || !emails.is_empty(),
        max_uploads: i64::from(max_uploads),
        max_bytes: max_bytes as i64,
        created_at: at,
        expires_at: at + i64::from(days) * 86_400,
        closed_at: None,
        emails,
        uploads: 0,
        pending: 0,
    };
    let detail = Some(format!(
        "{} addresses, {} uploads of at most {} bytes, verification {}",
        request.emails.len(),
        max_uploads,
        max_bytes,
        if request.verify_email { "by code" } else { "none" }
    ));
    let event = domain.event(
        caller.user.org_id,
        Event::Inbound("request_created"),
        Actor::User(&caller.user.email),
        Some(&request.id),
        detail,
    );
    domain.meta.create_request(request.clone(), event).await?;
    Ok(request)
}

/// The caller's requests, newest first.
pub(crate) async fn list(domain: &Domain, caller: &Caller) -> DomainResult<Vec<UploadRequest>> {
    Ok(domain.meta.requests(caller.user.id, now(), LIST_LIMIT).await?)
}

/// A request of the caller (anyone else's is "not found").
async fn owned(domain: &Domain, caller: &Caller, id: &str) -> DomainResult<UploadRequest> {
    let request = domain.meta.request(id, now()).await?;
    request
        .filter(|r| r.user_id == caller.user.id && r.org_id == caller.user.org_id)
        .ok_or(DomainError::NotFound("request"))
}

/// Closes one of the caller's requests: it takes no more uploads.
pub(crate) async fn close(domain: &Domain, caller: &Caller, id: &str) -> DomainResult<UploadRequest> {
    owned(domain, caller, id).await?;
    let at = now();
    let event = domain.event(
        caller.user.org_id,
        Event::Inbound("request_closed"),
        Actor::User(&caller.user.email),
        Some(id),
        None,
    );
    domain.meta.close_request(id, at, event).await?;
    owned(domain, caller, id).await
}

/// What the upload page shows before asking anything.
pub(crate) struct RequestCard {
    pub request: UploadRequest,
    pub requester: User,
    pub organisation: String,
    pub blocked_file_types: Vec<String>,
}

/// A request that takes uploads now, of a requester who may still receive.
/// Unknown, closed, used-up and expired requests are all "not found". One
/// whose last places are held by unfinished uploads is still open: those
/// uploaders continue (after a reload too), and a new delivery is refused
/// with `request_full` until a place frees up ([`create_delivery`]).
async fn open(domain: &Domain, id: &str) -> DomainResult<(UploadRequest, User)> {
    let request = domain.meta.request(id, now()).await?.ok_or(DomainError::NotFound("request"))?;
    if state(&request, now()) != RequestState::Open || request.recipients.is_empty() {
        return Err(DomainError::NotFound("request"));
    }
    // One file cannot be encrypted to post-quantum and classic keys together
    // (c2sp.org/age): a portal whose receivers have both takes nothing until
    // they are of one kind, rather than leaving some receivers out
    // (docs/inbound.md, "Upload portals").
    if request.portal.is_some() && super::keys::mixed_kinds(&request.recipients) {
        return Err(DomainError::Conflict {
            code: "portal_mixed_keys",
            message: "This portal cannot take uploads right now: its receivers' keys are of different kinds. \
                      Try again later, or ask the organisation for another way to send the files."
                .into(),
        });
    }
    super::licences::require(domain, request.org_id, Feature::UploadPortal).await?;
    // A disabled or removed requester receives nothing more; a portal
    // answers for its organisation as long as one receiver can receive.
    let requester = match domain.meta.user(request.user_id).await? {
        Some(user) => user,
        None if request.portal.is_some() => {
            let first = request.receivers.first().copied().unwrap_or_default();
            domain.meta.user(first).await?.ok_or(DomainError::NotFound("request"))?
        }
        None => return Err(DomainError::NotFound("request")),
    };
    Ok((request, requester))
}

pub(crate) async fn card(domain: &Domain, id: &str) -> DomainResult<RequestCard> {
    let (request, requester) = open(domain, id).await?;
    Ok(RequestCard {
        organisation: organisations::get(domain, request.org_id).await?.name,
        blocked_file_types: super::policy::blocked_file_types(domain, request.org_id).await?,
        request,
        requester,
    })
}

fn uploader_email(raw: &str) -> DomainResult<String> {
    address::normalize(raw).map_err(|e| invalid("invalid_email", format!("{e}.")))
}

/// Mails the uploader a code if the request asks for one and the address
/// may upload. Every address gets the same answer and the same limits.
pub(crate) async fn request_code(domain: &Domain, id: &str, raw: &str, client: &str) -> DomainResult<()> {
    let (request, requester) = open(domain, id).await?;
    if !request.verify_email {
        return Err(DomainError::NoVerification);
    }
    let email = uploader_email(raw)?;
    let invited = request.emails.is_empty() || request.emails.contains(&email);
    if let Some(code) = codes::issue(domain, Purpose::Upload { request_id: id }, &email, client, invited).await? {
        let organisation = organisations::get(domain, request.org_id).await?.name;
        mail::enqueue(domain, mail::uploader_code(&email, &code, &requester.email, &organisation)).await?;
    }
    Ok(())
}

/// Starts an uploader's session: with the mailed code when the request asks
/// for one (an address not invited never has one). Returns the token, shown
/// once, and when it ends.
pub(crate) async fn start(
    domain: &Domain,
    id: &str,
    raw: &str,
    code: Option<&str>,
    client: &str,
) -> DomainResult<(String, i64)> {
    let (request, _) = open(domain, id).await?;
    let email = uploader_email(raw)?;
    let verified = if request.verify_email {
        let code = code.ok_or(DomainError::VerificationRequired)?;
        match codes::check(domain, Purpose::Upload { request_id: id }, &email, code, client).await? {
            Outcome::Valid => true,
            Outcome::Rejected { rejection, first, .. } => {
                if first {
                    let detail = Some("wrong code (further ones for this address are counted, not logged)".into());
                    let event = domain.event(
                        request.org_id,
                        Event::VerificationFailed,
                        Actor::Uploader(&email),
                        Some(id),
                        detail,
                    );
                    domain.meta.record(event).await?;
                }
                return Err(DomainError::Code(rejection));
            }
        }
    } else {
        false
    };
    let token = random_token(UPLOADER_PREFIX);
    let expires_at = now() + SESSION_SECONDS;
    let session = UploaderSession { hash: sha256_hex(token.as_bytes()), request_id: request.id, email, verified };
    new_session(domain, request.org_id, session, expires_at).await?;
    Ok((token, expires_at))
}

/// Stores a new uploader session. When its address is proven (a code on the
/// request, or a reply's verified recipient), the same address's unfinished
/// deliveries on the request from earlier sessions are given up in the same
/// unit of work: whoever proved the address again started afresh (a closed
/// tab, "Start again"), and those deliveries would otherwise hold places
/// until their sessions end. An address that is only typed in proves
/// nothing, so it never ends anyone's upload.
async fn new_session(domain: &Domain, org_id: i64, session: UploaderSession, expires_at: i64) -> DomainResult<()> {
    let supersede = (session.verified && !session.email.is_empty()).then(|| {
        let actor = Actor::Uploader(&session.email).name();
        Box::new(move |id: &str| NewEvent {
            org_id: Some(org_id),
            event: Event::Inbound("abandoned").as_str(),
            actor: actor.clone(),
            package_id: Some(id.to_string()),
            detail: Some("unfinished; its uploader proved their address again in a new session".into()),
        }) as EventOf
    });
    for id in domain.meta.create_uploader_session(session, expires_at, supersede).await? {
        purge_blobs(domain, &id).await;
    }
    Ok(())
}

/// The live uploader session of `token`.
pub(crate) async fn uploader(domain: &Domain, token: &str) -> DomainResult<UploaderSession> {
    if !token.starts_with(UPLOADER_PREFIX) || token.len() > 128 {
        return Err(DomainError::Unauthorized);
    }
    domain.meta.uploader_session(&sha256_hex(token.as_bytes()), now()).await?.ok_or(DomainError::Unauthorized)
}

/// Declares a delivery for the session's request: the recipient must be
/// the request's, the size within the request's and the policy's limits,
/// the file types not blocked, and the request must still have a place.
pub(crate) async fn create_delivery(
    domain: &Domain,
    session: &UploaderSession,
    request_id: &str,
    body: CreateDelivery,
) -> DomainResult<PackageRecord> {
    if session.request_id != request_id {
        return Err(DomainError::NotFound("request"));
    }
    let (request, _) = open(domain, request_id).await?;
    let mut declared: Vec<String> = std::iter::once(&body.recipient)
        .chain(&body.recipients)
        .map(|r| super::keys::parse_recipient(r).unwrap_or_default())
        .collect();
    declared.sort();
    declared.dedup();
    let mut expected = request.recipients.clone();
    expected.sort();
    if declared != expected {
        return Err(invalid(
            "wrong_recipient",
            "The link's key is not the requester's: the link was changed. Ask the requester for it again.",
        ));
    }
    let limits = &domain.limits;
    if body.blobs.is_empty() || body.blobs.len() > limits.max_blobs as usize {
        let message = format!("An upload has 1 to {} blobs (the manifest and the files).", limits.max_blobs);
        return Err(invalid("invalid_blobs", message));
    }
    if body.blobs.iter().any(|b| b.size < MIN_BLOB_SIZE) {
        return Err(invalid("invalid_blob_size", "Every blob is an age file of at least 100 bytes."));
    }
    let max = request.max_bytes as u64;
    let too_large = || DomainError::TooLarge {
        message: format!("The upload is larger than the limit of {max} bytes."),
        limit: max,
    };
    let total = body.blobs.iter().try_fold(0u64, |sum, b| sum.checked_add(b.size)).filter(|&t| t <= max);
    let total = total.ok_or_else(too_large)?;
    if body.file_types.len() > limits.max_blobs as usize {
        return Err(invalid("invalid_file_types", "More file types than files."));
    }
    super::policy::check_inbound(domain, request.org_id, &body.file_types, total).await?;

    let at = now();
    let id = random_id();
    let new = NewDelivery {
        id: id.clone(),
        org_id: request.org_id,
        owner_id: request.user_id,
        created_at: at,
        // Until finalized, only as long as its uploader's session can write it.
        expires_at: at + SESSION_SECONDS + 3600,
        blob_sizes: body.blobs.iter().map(|b| b.size as i64).collect(),
        inbound: Inbound {
            request_id: request.id.clone(),
            uploader_email: session.email.clone(),
            verified: session.verified,
            session: session.hash.clone(),
            received_at: None,
            reply_to: request.reply_to.clone(),
        },
    };
    let rule = Box::new(move |r: &UploadRequest| match state(r, now()) {
        RequestState::Open if r.uploads + r.pending < r.max_uploads => Ok(()),
        RequestState::Open => Err(DomainError::Conflict {
            code: "request_full",
            message:
                "Every upload this link takes is under way. Try again later: a place frees up if one is not finished."
                    .into(),
        }),
        _ => Err(DomainError::NotFound("request")),
    });
    let detail = Some(format!("delivery for request {request_id}: {} blobs, {total} bytes", new.blob_sizes.len()));
    let event = domain.event(request.org_id, Event::Created, Actor::Uploader(&session.email), Some(&id), detail);
    domain.meta.create_delivery(new, rule, upload_quota(domain), event).await?;
    domain.meta.package_record(&id).await?.ok_or(DomainError::NotFound("delivery"))
}

/// A delivery the session made and has not given up.
pub(crate) async fn delivery(
    domain: &Domain,
    session: &UploaderSession,
    request_id: &str,
    id: &str,
) -> DomainResult<PackageRecord> {
    let record = domain.meta.package_record(id).await?;
    let mine = |r: &PackageRecord| {
        r.package.state != PackageState::Revoked
            && r.package.inbound.as_ref().is_some_and(|i| i.session == session.hash && i.request_id == request_id)
    };
    record.filter(mine).ok_or(DomainError::NotFound("delivery"))
}

/// The uploader gives up an unfinished delivery of theirs ("Cancel", "Start
/// again" on the page): it ends at once, its place is free for the next
/// upload, and its blobs go the way of any ended package's. Any other
/// delivery (another session's, finished, unknown) is "not found".
pub(crate) async fn abandon(
    domain: &Domain,
    session: &UploaderSession,
    request_id: &str,
    id: &str,
) -> DomainResult<()> {
    let record = delivery(domain, session, request_id, id).await?;
    if record.package.state != PackageState::Uploading {
        return Err(DomainError::NotFound("delivery"));
    }
    let event = domain.event(
        record.package.org_id,
        Event::Inbound("abandoned"),
        Actor::Uploader(&session.email),
        Some(id),
        Some("unfinished; given up by its uploader".into()),
    );
    // Ended only if still uploading: a finalize that won the race keeps it.
    if !domain.meta.abandon_delivery(id, &session.hash, event).await? {
        return Err(DomainError::NotFound("delivery"));
    }
    purge_blobs(domain, id).await;
    Ok(())
}

/// Finalizes a delivery once every blob is uploaded; the requester is told
/// (who sent how many files; never names).
pub(crate) async fn finalize(
    domain: &Domain,
    session: &UploaderSession,
    request_id: &str,
    id: &str,
) -> DomainResult<()> {
    let record = delivery(domain, session, request_id, id).await?;
    if record.package.state == PackageState::Ready {
        return Ok(());
    }
    if record.package.state != PackageState::Uploading || now() >= record.package.expires_at {
        return Err(DomainError::NotUploading);
    }
    let files = record.blobs.len().saturating_sub(1);
    let detail = Some(format!(
        "from {} ({}), {files} files",
        session.email,
        if session.verified { "address verified by code" } else { "address not verified" }
    ));
    let event = domain.event(
        record.package.org_id,
        Event::Inbound("received"),
        Actor::Uploader(&session.email),
        Some(id),
        detail,
    );
    // Kept, once received, as long as the organisation's longest package.
    let org = domain.meta.organisation(record.package.org_id).await?;
    let (_, keep_days) = organisations::expiry(domain, org.as_ref());
    let at = now();
    match domain.meta.finalize_delivery(id, at, at + i64::from(keep_days) * 86_400, event).await? {
        Finalized::Missing(missing) => Err(DomainError::UploadIncomplete(missing)),
        Finalized::Done(_) => {
            if let Some(owner) = domain.meta.user(record.package.sender_id).await? {
                let answered = match record.package.inbound.as_ref().and_then(|i| i.reply_to.as_deref()) {
                    Some(package_id) => domain.meta.package_record(package_id).await?,
                    None => None,
                };
                let from = if session.email.is_empty() { None } else { Some(session.email.as_str()) };
                let mail = match &answered {
                    Some(r) => {
                        let about = mail::About {
                            files: r.blobs.len().saturating_sub(1),
                            recipients: &r.recipients,
                            sent_at: r.package.created_at,
                        };
                        mail::reply_received(&owner.email, from, files, &about)
                    }
                    None => mail::files_received(&owner.email, &session.email, session.verified, files),
                };
                mail::enqueue(domain, mail).await?;
            }
            Ok(())
        }
    }
}

/// A recipient's start of a secure reply: the request behind replies to the
/// package (made at the first reply, to the sender's recipient) and an
/// uploader session on it; the reply then goes up like any delivery.
pub(crate) struct ReplyStart {
    pub card: RequestCard,
    pub token: String,
    pub expires_at: i64,
}

/// Starts a reply to package `package_id` for the holder of a live download
/// session of it (`token`): the sender's organisation must allow replies and
/// the sender must have a key. The reply is from the session's verified
/// address, or from an unverified recipient.
pub(crate) async fn reply(domain: &Domain, package_id: &str, token: Option<&str>) -> DomainResult<ReplyStart> {
    let (package, email) = super::access::in_session(domain, package_id, token).await?;
    let org = organisations::get(domain, package.org_id).await?;
    if org.settings.replies == Some(false) {
        return Err(DomainError::Refused {
            code: "replies_off",
            message: format!("{} does not take secure replies.", org.name),
        });
    }
    let sender = domain.meta.user(package.sender_id).await?.ok_or(DomainError::NotFound("package"))?;
    let key = domain.meta.user_key(sender.id).await?.ok_or_else(|| DomainError::Conflict {
        code: "no_key",
        message: format!("{} cannot receive a secure reply yet.", sender.email),
    })?;
    let at = now();
    let make = UploadRequest {
        id: random_id(),
        org_id: package.org_id,
        user_id: sender.id,
        reply_to: Some(package.id.clone()),
        portal: None,
        receivers: vec![sender.id],
        recipients: vec![key.recipient.clone()],
        recipient: key.recipient,
        message: None,
        // The recipient proved what the package asked already.
        verify_email: false,
        max_uploads: MAX_REPLIES,
        max_bytes: domain.limits.max_package_bytes.min(i64::MAX as u64) as i64,
        created_at: at,
        // Replies are taken while the package lives.
        expires_at: package.expires_at,
        closed_at: None,
        emails: Vec::new(),
        uploads: 0,
        pending: 0,
    };
    let request = domain.meta.reply_request(&package.id, make, at).await?;
    let (request, _) = open(domain, &request.id).await?;
    let token = random_token(UPLOADER_PREFIX);
    let expires_at = at + SESSION_SECONDS;
    let verified = email.is_some();
    let session = UploaderSession {
        hash: sha256_hex(token.as_bytes()),
        request_id: request.id.clone(),
        email: email.unwrap_or_default(),
        verified,
    };
    new_session(domain, request.org_id, session, expires_at).await?;
    Ok(ReplyStart { card: card(domain, &request.id).await?, token, expires_at })
}

/// Longest a portal's name is.
const MAX_PORTAL_NAME: usize = 40;

/// A portal's name: 2 to 40 of a-z, 0-9 and `-`, not at either end.
fn portal_name(raw: &str) -> DomainResult<String> {
    let name = raw.trim().to_ascii_lowercase();
    let ok = (2..=MAX_PORTAL_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(name)
    } else {
        Err(invalid("invalid_name", "A portal's name is 2 to 40 of a-z, 0-9 and -, like tax-returns."))
    }
}

/// What an admin asks for when publishing a portal.
pub(crate) struct NewPortal {
    pub name: String,
    pub message: Option<String>,
    pub receivers: Vec<String>,
    pub verify_email: bool,
    pub max_bytes: Option<u64>,
}

/// Publishes a permanent upload page for the admin's organisation; what
/// comes in is encrypted to every receiver (each must have a key).
pub(crate) async fn create_portal(domain: &Domain, admin: &OrgAdmin, new: NewPortal) -> DomainResult<UploadRequest> {
    let name = portal_name(&new.name)?;
    if new.receivers.is_empty() || new.receivers.len() > MAX_EMAILS {
        return Err(invalid("invalid_receivers", format!("A portal has 1 to {MAX_EMAILS} receivers.")));
    }
    let mut receivers = Vec::new();
    for raw in &new.receivers {
        let email = address::normalize(raw).map_err(|e| invalid("invalid_email", format!("{e}.")))?;
        let (user, key) = domain
            .meta
            .colleague(admin.org_id(), &email)
            .await?
            .ok_or_else(|| invalid("invalid_receivers", format!("{email} is not a user of your organisation.")))?;
        if key.is_none() {
            return Err(invalid(
                "invalid_receivers",
                format!("{email} has no key yet: they make one on their inbox page."),
            ));
        }
        if !receivers.contains(&user.id) {
            receivers.push(user.id);
        }
    }
    let limit = domain.limits.max_package_bytes.min(i64::MAX as u64);
    let max_bytes = new.max_bytes.unwrap_or(limit);
    if max_bytes < MIN_BLOB_SIZE * 2 || max_bytes > limit {
        return Err(invalid("invalid_max_bytes", format!("max_bytes must be between 200 and {limit}.")));
    }
    super::licences::require(domain, admin.org_id(), Feature::UploadPortal).await?;
    if domain.meta.portal(&name, now()).await?.is_some() {
        return Err(DomainError::Conflict {
            code: "name_taken",
            message: format!("There is a portal called {name} already."),
        });
    }
    let message = new
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| m.chars().filter(|c| !c.is_control() || *c == '\n').take(MAX_MESSAGE).collect::<String>());
    let at = now();
    let request = UploadRequest {
        id: random_id(),
        org_id: admin.org_id(),
        user_id: admin.user_id(),
        reply_to: None,
        portal: Some(name.clone()),
        receivers,
        recipients: Vec::new(),
        recipient: String::new(),
        message,
        verify_email: new.verify_email,
        max_uploads: i64::from(u32::MAX),
        max_bytes: max_bytes as i64,
        created_at: at,
        // A portal is permanent until an admin closes it.
        expires_at: i64::from(u32::MAX) * 2,
        closed_at: None,
        emails: Vec::new(),
        uploads: 0,
        pending: 0,
    };
    let detail = Some(format!("portal {name}, {} receivers", request.receivers.len()));
    let event = domain.event(
        admin.org_id(),
        Event::Admin("portal_created"),
        Actor::User(admin.email()),
        Some(&request.id),
        detail,
    );
    domain.meta.create_request(request.clone(), event).await?;
    domain.meta.request(&request.id, now()).await?.ok_or(DomainError::NotFound("portal"))
}

/// The admin's organisation's portals, newest first.
pub(crate) async fn portals(domain: &Domain, admin: &OrgAdmin) -> DomainResult<Vec<UploadRequest>> {
    Ok(domain.meta.portals(admin.org_id(), now()).await?)
}

/// Closes a portal of the admin's organisation: its page takes nothing more.
pub(crate) async fn close_portal(domain: &Domain, admin: &OrgAdmin, id: &str) -> DomainResult<UploadRequest> {
    let portal = domain.meta.request(id, now()).await?;
    let portal =
        portal.filter(|r| r.portal.is_some() && r.org_id == admin.org_id()).ok_or(DomainError::NotFound("portal"))?;
    let event = domain.event(
        admin.org_id(),
        Event::Admin("portal_closed"),
        Actor::User(admin.email()),
        Some(id),
        portal.portal.clone(),
    );
    domain.meta.close_request(id, now(), event).await?;
    domain.meta.request(id, now()).await?.ok_or(DomainError::NotFound("portal"))
}

/// The open portal `name` and what its page shows.
pub(crate) async fn portal_card(domain: &Domain, name: &str) -> DomainResult<RequestCard> {
    let name = portal_name(name).map_err(|_| DomainError::NotFound("request"))?;
    let portal = domain.meta.portal(&name, now()).await?.ok_or(DomainError::NotFound("request"))?;
    card(domain, &portal.id).await
}

/// A portal's receivers as its admin sees them.
#[derive(Debug, Default)]
pub(crate) struct PortalReceivers {
    /// Every receiver's address.
    pub(crate) all: Vec<String>,
    /// Those without a key (they receive nothing until they make one).
    pub(crate) without_key: Vec<String>,
    /// Those whose key is post-quantum: when others have classic keys, the
    /// portal takes nothing (`portal_mixed_keys`).
    pub(crate) post_quantum: Vec<String>,
}

/// A portal's receivers' addresses, and those of them without a key or
/// with a post-quantum one.
pub(crate) async fn portal_receivers(
    domain: &Domain,
    admin: &OrgAdmin,
    portal: &UploadRequest,
) -> DomainResult<PortalReceivers> {
    let mut receivers = PortalReceivers::default();
    for id in &portal.receivers {
        let Some(user) = domain.meta.org_user(admin.org_id(), *id).await? else { continue };
        match domain.meta.user_key(*id).await? {
            None => receivers.without_key.push(user.user.email.clone()),
            Some(key) if super::keys::kind_of(&key.recipient) == Some(PackageKind::PostQuantum) => {
                receivers.post_quantum.push(user.user.email.clone());
            }
            Some(_) => {}
        }
        receivers.all.push(user.user.email);
    }
    Ok(receivers)
}
