//! The durable spool (docs/relay.md, "Spool"): per message `<id>.msg`, the
//! message as an age file to the spool key, and `<id>.env`, its envelope as
//! JSON. Both are written with [`durable::write_file`]; the envelope is
//! written last and is the commit: a message is in the spool exactly when
//! its envelope is, and only then does the client get `250`.

use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use kluis_crypto::Encryptor;
use kluis_crypto::io::CodecWriter;
use kluis_crypto::native::{Identity, Recipient};
use serde::{Deserialize, Serialize};

use crate::durable;
use crate::session::Envelope;

const MESSAGE: &str = "msg";
const ENVELOPE: &str = "env";

/// A spooled message's envelope and delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub id: String,
    /// `MAIL FROM` (empty for a bounce).
    pub from: String,
    /// `RCPT TO`s.
    pub recipients: Vec<String>,
    pub eight_bit: bool,
    pub smtputf8: bool,
    pub client: IpAddr,
    pub helo: String,
    pub tls: bool,
    pub user: Option<String>,
    /// When the message was accepted, Unix seconds.
    pub received_at: i64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When to try next, Unix seconds.
    pub next_attempt: i64,
    /// Once the message was made a package: what a retry needs so that it
    /// makes no second package and sends no notification twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secured: Option<Secured>,
    /// The decision recorded in the organisation's audit log, so that a
    /// retry does not record it again ([`audit`](crate::audit)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audited: Option<crate::audit::Audited>,
}

/// A secured message's package and which notifications went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secured {
    /// The package id (the server knows it too).
    pub package: String,
    /// The link, sealed to the spool key ([`Spool::seal`]): the link secret
    /// is never on disk in the clear.
    pub link: String,
    /// Recipients whose notification the upstream accepted.
    pub notified: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the envelope {path} is damaged")]
    Envelope {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the spooled message {path} cannot be decrypted with the spool key")]
    Crypto {
        path: PathBuf,
        #[source]
        source: kluis_crypto::Error,
    },
    /// A message with this id is spooled already (ids derived from another
    /// message's, such as a bounce's, meet this after a crash).
    #[error("a message {0} is spooled already")]
    Exists(String),
}

/// The spool directory and its key.
pub struct Spool {
    dir: PathBuf,
    identity: Identity,
    recipient: Recipient,
}

impl Spool {
    /// Opens (creating, mode 0700) the spool in `dir` and rescans it:
    /// temporary files and messages without an envelope (a crash before
    /// `250`) are removed; the messages in it are returned, oldest first.
    pub fn open(dir: &Path, identity: Identity) -> Result<(Spool, Vec<Record>), SpoolError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SpoolError::Io { path, source }
        };
        durable::private_dir(dir).map_err(io(dir))?;
        let recipient = identity.to_public();
        let spool = Spool { dir: dir.to_path_buf(), identity, recipient };
        let mut records = Vec::new();
        let mut removed = false;
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let orphan = match name.rsplit_once('.') {
                _ if durable::is_temp(&name) => true,
                Some((id, MESSAGE)) => !spool.path(id, ENVELOPE).exists(),
                Some((_, ENVELOPE)) => {
                    let record = spool.read_record(&path)?;
                    records.push(record);
                    false
                }
                _ => false,
            };
            if orphan {
                fs::remove_file(&path).map_err(io(&path))?;
                removed = true;
            }
        }
        if removed {
            durable::sync_dir(dir).map_err(io(dir))?;
        }
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((spool, records))
    }

    fn path(&self, id: &str, kind: &str) -> PathBuf {
        self.dir.join(format!("{id}.{kind}"))
    }

    fn read_record(&self, path: &Path) -> Result<Record, SpoolError> {
        let text = fs::read(path).map_err(|source| SpoolError::Io { path: path.into(), source })?;
        serde_json::from_slice(&text).map_err(|source| SpoolError::Envelope { path: path.into(), source })
    }

    /// Spools a message: `parts` (the relay's trace header, then the
    /// message as received) encrypted to the spool key, then its envelope.
    /// When this returns `Ok` the message survives a crash.
    pub fn store(&self, envelope: &Envelope, parts: &[&[u8]], id: &str, now: i64) -> Result<Record, SpoolError> {
        let name = format!("{id}.{MESSAGE}");
        let io = |source| SpoolError::Io { path: self.dir.join(&name), source };
        if self.path(id, ENVELOPE).exists() {
            return Err(SpoolError::Exists(id.to_string()));
        }
        // A message file without its envelope is a store that a crash cut short: replace it.
        durable::write_file(&self.dir, &name, true, |file| {
            let encryptor = Encryptor::with_recipients(&[&self.recipient]).map_err(io::Error::other)?;
            let mut writer = CodecWriter::new(encryptor, io::BufWriter::new(&mut *file));
            for part in parts {
                writer.write_all(part)?;
            }
            writer.finish().map_err(io::Error::other)?.flush()
        })
        .map_err(io)?;
        let record = Record {
            id: id.to_string(),
            from: envelope.from.clone(),
            recipients: envelope.recipients.clone(),
            eight_bit: envelope.eight_bit,
            smtputf8: envelope.smtputf8,
            client: envelope.client,
            helo: envelope.helo.clone(),
            tls: envelope.tls,
            user: envelope.user.clone(),
            received_at: now,
            attempts: 0,
            next_attempt: now,
            secured: None,
            audited: None,
        };
        self.write_record(&record)?;
        Ok(record)
    }

    /// Writes `record` (a delivery attempt's outcome) over the old one.
    pub fn write_record(&self, record: &Record) -> Result<(), SpoolError> {
        let name = format!("{}.{ENVELOPE}", record.id);
        let json = serde_json::to_vec_pretty(record).expect("a record is JSON");
        durable::write_file(&self.dir, &name, true, |file| file.write_all(&json))
            .map_err(|source| SpoolError::Io { path: self.dir.join(&name), source })?;
        Ok(())
    }

    /// The message of `record`, decrypted.
    pub fn message(&self, id: &str) -> Result<Vec<u8>, SpoolError> {
        let path = self.path(id, MESSAGE);
        let file = fs::read(&path).map_err(|source| SpoolError::Io { path: path.clone(), source })?;
        let identities: [&dyn kluis_crypto::Identity; 1] = [&self.identity];
        kluis_crypto::decrypt(&identities, &file).map_err(|source| SpoolError::Crypto { path, source })
    }

    /// `text` encrypted to the spool key, ASCII-armored (for the envelope).
    pub fn seal(&self, text: &str) -> Result<String, kluis_crypto::Error> {
        kluis_crypto::encrypt_armored(&[&self.recipient], text.as_bytes())
    }

    /// What [`Spool::seal`] sealed.
    pub fn unseal(&self, sealed: &str) -> Result<String, SpoolError> {
        let identities: [&dyn kluis_crypto::Identity; 1] = [&self.identity];
        let path = self.dir.clone();
        let plain = kluis_crypto::decrypt(&identities, sealed.as_bytes())
            .map_err(|source| SpoolError::Crypto { path, source })?;
        String::from_utf8(plain).map_err(|e| SpoolError::Io { path: self.dir.clone(), source: io::Error::other(e) })
    }

    /// Takes a message out of the spool (delivered or bounced): the
    /// envelope first, so a crash halfway leaves an orphan that the next
    /// start removes, never a message delivered twice.
    pub fn remove(&self, id: &str) -> Result<(), SpoolError> {
        // The envelope first: a message without one is removed at start. One
        // fsync for both: if a crash undoes the removal, the message is
        // delivered again (RFC 5321 §6.1), never lost.
        for kind in [ENVELOPE, MESSAGE] {
            let path = self.path(id, kind);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(SpoolError::Io { path, source }),
            }
        }
        durable::sync_dir(&self.dir).map_err(|source| SpoolError::Io { path: self.dir.clone(), source })
    }
}

/// The id of the bounce of `id` for `recipients`: the same every time, so
/// a bounce spooled before a crash is not spooled again when the message is
/// bounced again; another for other recipients of the same message.
pub fn bounce_id(id: &str, recipients: &[String]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("kluis-relay bounce of {id} to {}", recipients.join(",")));
    format!("{}{}", &id[..12.min(id.len())], &hex::encode(digest)[..16])
}

/// A new message id: the time in milliseconds (12 hex digits, so ids sort
/// by arrival) and 64 random bits.
pub fn new_id(now_millis: u64) -> Result<String, getrandom::Error> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random)?;
    Ok(format!("{:012x}{}", now_millis & 0xffff_ffff_ffff, hex::encode(random)))
}

#[cfg(test)]
mod tests {
    use super::{Spool, SpoolError, bounce_id, new_id};
    use crate::session::Envelope;

    fn envelope() -> Envelope {
        Envelope {
            from: "alice@example.org".into(),
            recipients: vec!["bob@example.net".into()],
            eight_bit: true,
            smtputf8: false,
            client: "127.0.0.1".parse().unwrap(),
            helo: "mail.example.org".into(),
            esmtp: true,
            tls: false,
            user: None,
        }
    }

    #[test]
    fn messages_survive_a_reopen_encrypted_and_leave_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let identity = kluis_crypto::native::Identity::generate(false).unwrap();
        let secret = identity.to_secret_string();
        let (spool, found) = Spool::open(dir.path(), identity).unwrap();
        assert!(found.is_empty());
        let id = new_id(1_764_000_000_000).unwrap();
        let record =
            spool.store(&envelope(), &[b"Received: x\r\n", b"Subject: MARKER-7731\r\n\r\nhi\r\n"], &id, 5).unwrap();
        // A crash before the envelope: a message alone, and a temporary file.
        std::fs::write(dir.path().join("0000000000010000000000000000.msg"), b"half").unwrap();
        std::fs::write(dir.path().join(".x.env.tmp"), b"half").unwrap();

        let (spool, found) = Spool::open(dir.path(), secret.parse().unwrap()).unwrap();
        assert_eq!(found, vec![record]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "orphans are removed");
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            assert!(!bytes.windows(11).any(|w| w == b"MARKER-7731"), "no plaintext in the spool");
        }
        assert_eq!(spool.message(&id).unwrap(), b"Received: x\r\nSubject: MARKER-7731\r\n\r\nhi\r\n");
        // An id is spooled once: storing it again (a bounce after a crash) says so and changes nothing.
        assert!(matches!(spool.store(&envelope(), &[b"other"], &id, 2), Err(SpoolError::Exists(_))));
        assert!(spool.message(&id).unwrap().ends_with(b"hi\r\n"));
        spool.remove(&id).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn ids_sort_by_time() {
        let (a, b) = (new_id(1).unwrap(), new_id(2).unwrap());
        assert!(a < b && a.len() == 28 && a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_bounce_has_one_id_of_the_same_shape() {
        let id = new_id(5).unwrap();
        let to = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let bounce = bounce_id(&id, &to(&["a@x.example", "b@x.example"]));
        assert_eq!(bounce, bounce_id(&id, &to(&["a@x.example", "b@x.example"])));
        assert_ne!(bounce, bounce_id(&id, &to(&["a@x.example"])), "another bounce for other recipients");
        assert_ne!(bounce, id);
        assert!(bounce.len() == 28 && bounce.chars().all(|c| c.is_ascii_hexdigit()) && bounce[..12] == id[..12]);
    }
}
