//! Users' keys (docs/inbound.md, "The user's key"; docs/architecture.md §3,
//! "Accounts and inbound files"). The identity is made in the user's client
//! and reaches the server only as an age file encrypted with the user's
//! passphrase (scrypt) and, while the organisation has recovery on, as one
//! encrypted to the organisation's recovery recipient. The server checks the
//! shape of both (it cannot check more without the keys) so that a client
//! cannot store an identity in the clear or under a weak work factor.

use kluis_crypto::format::read_stanzas;
use kluis_crypto::package::PackageKind;
use kluis_crypto::{native, x25519};
use kluis_protocol::inbound::{MAX_WRAPPED_LEN, PutKey};

use super::accounts::{Caller, OrgAdmin};
use super::{Actor, Domain, DomainError, DomainResult, Event, address, invalid, now};
use crate::store::{StoredKey, User};

/// Lowest scrypt work factor (log2 N) accepted for a wrapped identity: the
/// age default. The server holds the wrapped file, so the passphrase is all
/// that stands between a stolen database and the key.
pub(crate) const MIN_WORK_FACTOR: u8 = 18;

fn invalid_key(message: impl Into<String>) -> DomainError {
    invalid("invalid_key", message)
}

/// A user's recipient, X25519 (`age1…`) or post-quantum (`age1pq1…`, about
/// 1950 characters; docs/architecture.md §3, "Post-quantum recipients"), in
/// its canonical (lower-case) spelling.
pub(crate) fn parse_recipient(raw: &str) -> DomainResult<String> {
    let recipient: native::Recipient = raw
        .trim()
        .parse()
        .map_err(|_| invalid_key("recipient must be an age recipient (age1… or post-quantum age1pq1…)."))?;
    Ok(recipient.to_string())
}

/// The organisation's recovery recipient: X25519 (`age1…`) only, the kind
/// the console makes, so that every recovery copy is one X25519 stanza.
fn parse_recovery_recipient(raw: &str) -> DomainResult<String> {
    let recipient: x25519::Recipient = raw
        .trim()
        .parse()
        .map_err(|_| invalid_key("the recovery recipient must be an age X25519 recipient (age1…)."))?;
    Ok(recipient.to_string())
}

/// The kind of a kept recipient (canonical, as [`parse_recipient`] made
/// it); `None` for one that does not parse (none does).
pub(crate) fn kind_of(recipient: &str) -> Option<PackageKind> {
    recipient.parse::<native::Recipient>().ok().map(|r| PackageKind::of(&r))
}

/// A kept recipient as the audit log names it: an X25519 one whole, a
/// post-quantum one (about 1950 characters) by its first 23 characters and
/// its last 6 (the Bech32 checksum), which tells keys apart in the log
/// without filling it.
fn logged(recipient: &str) -> String {
    const HEAD: usize = 23;
    const TAIL: usize = 6;
    match kind_of(recipient) {
        Some(PackageKind::PostQuantum) if recipient.len() > HEAD + TAIL => {
            format!("{}…{}", &recipient[..HEAD], &recipient[recipient.len() - TAIL..])
        }
        _ => recipient.to_string(),
    }
}

/// True when `recipients` hold keys of both kinds: no age file can be
/// encrypted to all of them (c2sp.org/age forbids mixing post-quantum and
/// classic recipients).
pub(crate) fn mixed_kinds(recipients: &[String]) -> bool {
    let mut kinds = recipients.iter().filter_map(|r| kind_of(r));
    kinds.next().is_some_and(|first| kinds.any(|k| k != first))
}

/// An armored age file of at most [`MAX_WRAPPED_LEN`] bytes with exactly
/// one stanza of type `tag`; returns that stanza's arguments.
fn one_stanza(file: &str, tag: &str, what: &str) -> DomainResult<Vec<String>> {
    if file.len() > MAX_WRAPPED_LEN || !file.trim_start().starts_with("-----BEGIN AGE ENCRYPTED FILE-----") {
        return Err(invalid_key(format!("{what} must be an armored age file of at most {MAX_WRAPPED_LEN} bytes.")));
    }
    let stanzas = read_stanzas(file.as_bytes()).map_err(|e| invalid_key(format!("{what} is not an age file: {e}.")))?;
    match stanzas.as_slice() {
        [only] if only.tag == tag => Ok(only.args.clone()),
        _ => Err(invalid_key(format!("{what} must be encrypted to exactly one {tag} recipient."))),
    }
}

/// The passphrase-wrapped identity: one scrypt stanza of at least [`MIN_WORK_FACTOR`].
fn check_wrapped(wrapped: &str) -> DomainResult<()> {
    let args = one_stanza(wrapped, "scrypt", "wrapped")?;
    let work_factor = args.get(1).and_then(|w| w.parse::<u8>().ok()).unwrap_or(0);
    if work_factor < MIN_WORK_FACTOR {
        return Err(invalid_key(format!("wrapped must use a scrypt work factor of at least {MIN_WORK_FACTOR}.")));
    }
    Ok(())
}

/// The caller's key, if made, and the organisation's recovery recipient.
pub(crate) async fn get(domain: &Domain, caller: &Caller) -> DomainResult<(Option<StoredKey>, Option<String>)> {
    let key = domain.meta.user_key(caller.user.id).await?;
    let recovery = domain.meta.recovery_recipient(caller.user.org_id).await?;
    Ok((key, recovery))
}

/// Stores the caller's first key, the same key under a new passphrase, or
/// (with `replace`) a new key.
pub(crate) async fn put(domain: &Domain, caller: &Caller, put: PutKey) -> DomainResult<StoredKey> {
    let recipient = parse_recipient(&put.recipient)?;
    check_wrapped(&put.wrapped)?;
    let recovery_recipient = domain.meta.recovery_recipient(caller.user.org_id).await?;
    let recovery = match (&recovery_recipient, put.recovery) {
        (Some(_), None) => {
            return Err(invalid(
                "recovery_required",
                "Your organisation keeps a recovery copy of every key: send the key encrypted to its recovery recipient too.",
            ));
        }
        (Some(_), Some(copy)) => {
            one_stanza(&copy, "X25519", "recovery")?;
            Some(copy)
        }
        (None, _) => None,
    };
    let kept = domain.meta.user_key(caller.user.id).await?;
    let event = match &kept {
        None => "key_made",
        Some(k) if k.recipient == recipient => "key_rewrapped",
        Some(_) if put.replace => "key_replaced",
        Some(_) => {
            return Err(DomainError::Conflict {
                code: "key_exists",
                message:
                    "You have a key already. Replacing it makes what was sent to it unreadable: ask again with replace."
                        .into(),
            });
        }
    };
    let at = now();
    let key = StoredKey {
        user_id: caller.user.id,
        recipient: recipient.clone(),
        wrapped: put.wrapped,
        recovery,
        recovery_recipient,
        must_change: false,
        created_at: kept.as_ref().filter(|k| k.recipient == recipient).map_or(at, |k| k.created_at),
        updated_at: at,
    };
    // The key kept must still be the one decided on above (two clients at once).
    let seen = kept.map(|k| k.recipient);
    let rule = Box::new(move |now_kept: &Option<StoredKey>| {
        if now_kept.as_ref().map(|k| &k.recipient) == seen.as_ref() {
            Ok(())
        } else {
            Err(DomainError::Conflict {
                code: "key_changed",
                message: "Your key changed meanwhile: load it again.".into(),
            })
        }
    });
    let detail = Some(format!("recipient {}", logged(&recipient)));
    let event = domain.event(caller.user.org_id, Event::Inbound(event), Actor::User(&caller.user.email), None, detail);
    domain.meta.put_user_key(key.clone(), rule, event).await?;
    Ok(key)
}

/// A colleague (an active user of the caller's organisation) and their
/// recipient; anyone else is "not found".
pub(crate) async fn colleague(domain: &Domain, caller: &Caller, raw: &str) -> DomainResult<(User, Option<String>)> {
    let email = address::normalize(raw).map_err(|e| invalid("invalid_email", format!("{e}.")))?;
    domain.meta.colleague(caller.user.org_id, &email).await?.ok_or(DomainError::NotFound("user"))
}

/// Turns the organisation's key recovery on (with the recipient whose
/// identity the admin keeps offline) or off. Keys made before keep their
/// old copy until their users unlock them again.
pub(crate) async fn set_recovery(domain: &Domain, admin: &OrgAdmin, recipient: Option<&str>) -> DomainResult<()> {
    let recipient = recipient.map(parse_recovery_recipient).transpose()?;
    let detail = Some(recipient.as_ref().map_or("off".to_string(), |r| format!("on, to {r}")));
    let event =
        domain.event(admin.org_id(), Event::Admin("recovery_changed"), Actor::User(admin.email()), None, detail);
    domain.meta.set_recovery_recipient(admin.org_id(), recipient, event).await?;
    Ok(())
}

/// The organisation's recovery recipient, if recovery is on.
pub(crate) async fn recovery(domain: &Domain, admin: &OrgAdmin) -> DomainResult<Option<String>> {
    Ok(domain.meta.recovery_recipient(admin.org_id()).await?)
}

/// A user's key for their admin: the recovery copy is what the admin
/// decrypts offline with the organisation's recovery identity.
pub(crate) async fn for_recovery(domain: &Domain, admin: &OrgAdmin, user_id: i64) -> DomainResult<StoredKey> {
    domain.meta.org_user(admin.org_id(), user_id).await?.ok_or(DomainError::NotFound("user"))?;
    domain.meta.user_key(user_id).await?.ok_or(DomainError::NotFound("key"))
}

/// An admin hands a user their own key back under a passphrase the admin
/// chose (after decrypting the recovery copy offline): the recipient must
/// stay the same, and the user is asked to choose their own at next unlock.
pub(crate) async fn recover(
    domain: &Domain,
    admin: &OrgAdmin,
    user_id: i64,
    wrapped: String,
) -> DomainResult<StoredKey> {
    check_wrapped(&wrapped)?;
    let kept = for_recovery(domain, admin, user_id).await?;
    let at = now();
    let key = StoredKey { wrapped, must_change: true, updated_at: at, ..kept.clone() };
    let seen = kept.recipient.clone();
    let rule = Box::new(move |now_kept: &Option<StoredKey>| match now_kept {
        Some(k) if k.recipient == seen => Ok(()),
        _ => Err(DomainError::Conflict { code: "key_changed", message: "The user's key changed meanwhile.".into() }),
    });
    let detail = Some(format!("user {user_id}, recipient {}", logged(&kept.recipient)));
    let event = domain.event(admin.org_id(), Event::Admin("key_recovered"), Actor::User(admin.email()), None, detail);
    domain.meta.put_user_key(key.clone(), rule, event).await?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kluis_crypto::scrypt;

    fn wrapped(work_factor: u8) -> String {
        let recipient =
            scrypt::Recipient::new("a passphrase".to_string().into()).with_work_factor(work_factor).unwrap();
        kluis_crypto::encrypt_armored(&[&recipient], b"AGE-SECRET-KEY-1...").unwrap()
    }

    #[test]
    fn only_a_passphrase_wrapped_file_of_enough_work_is_kept() {
        assert!(check_wrapped(&wrapped(MIN_WORK_FACTOR)).is_ok());
        assert!(check_wrapped(&wrapped(10)).is_err());
        let identity = x25519::Identity::generate().unwrap();
        let to_key = kluis_crypto::encrypt_armored(&[&identity.to_public()], b"x").unwrap();
        assert!(check_wrapped(&to_key).is_err());
        assert!(one_stanza(&to_key, "X25519", "recovery").is_ok());
        // Binary, or the identity itself, are refused.
        assert!(check_wrapped("AGE-SECRET-KEY-1QQQ").is_err());
        let binary = kluis_crypto::encrypt(&[&identity.to_public()], b"x").unwrap();
        assert!(one_stanza(&String::from_utf8_lossy(&binary), "X25519", "recovery").is_err());
        assert!(check_wrapped(&" ".repeat(MAX_WRAPPED_LEN + 1)).is_err());
    }

    #[test]
    fn recipients_are_canonical() {
        let identity = x25519::Identity::generate().unwrap();
        let text = identity.to_public().to_string();
        assert_eq!(parse_recipient(&format!(" {} ", text.to_uppercase())).unwrap(), text);
        assert!(parse_recipient("age1nope").is_err());
        assert_eq!(parse_recovery_recipient(&text).unwrap(), text);
        let post_quantum = native::Identity::generate(true).unwrap().to_public().to_string();
        assert_eq!(parse_recipient(&post_quantum.to_uppercase()).unwrap(), post_quantum);
        assert!(parse_recovery_recipient(&post_quantum).is_err());
        assert_eq!(kind_of(&post_quantum), Some(PackageKind::PostQuantum));
        assert_eq!(kind_of(&text), Some(PackageKind::Classic));
    }

    #[test]
    fn the_log_names_a_post_quantum_key_shortly() {
        let classic = x25519::Identity::generate().unwrap().to_public().to_string();
        assert_eq!(logged(&classic), classic);
        let post_quantum = native::Identity::generate(true).unwrap().to_public().to_string();
        let short = logged(&post_quantum);
        assert_eq!(short.chars().count(), 23 + 1 + 6, "{short}");
        assert!(short.starts_with(&post_quantum[..23]) && short.ends_with(&post_quantum[post_quantum.len() - 6..]));
    }

    #[test]
    fn mixed_kinds_are_told() {
        let classic = || x25519::Identity::generate().unwrap().to_public().to_string();
        let post_quantum = || native::Identity::generate(true).unwrap().to_public().to_string();
        assert!(!mixed_kinds(&[]));
        assert!(!mixed_kinds(&[classic(), classic()]));
        assert!(!mixed_kinds(&[post_quantum(), post_quantum()]));
        assert!(mixed_kinds(&[classic(), post_quantum()]));
        assert!(mixed_kinds(&[post_quantum(), classic(), classic()]));
    }
}
