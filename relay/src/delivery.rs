//! Delivery of spooled messages to the upstream mail server. Each message
//! is first classified ([`classify`](crate::classify)) by the
//! organisation's policy: one to be passed through goes to the upstream
//! unchanged; one to be secured becomes a Kluis package
//! ([`secure`](crate::secure), through the server's API) and each recipient
//! gets a notification with the link through the upstream. Without a Kluis
//! server it is held, never passed on in the clear. One task works through
//! the messages that are due, oldest first:
//!
//! - accepted by the upstream: removed from the spool;
//! - refused for good (5xx), or still not delivered after
//!   `delivery.bounce_after`: a bounce (RFC 3464, [`dsn`](crate::dsn)) to the
//!   sender is spooled, then the message removed; a bounce itself is never
//!   bounced (RFC 5321 §6.1), it is dropped with a log line;
//! - anything else (4xx, no connection): tried again after the next wait
//!   of `delivery.retry`, the last one repeating.
//!
//! A message is removed only after the upstream's `250`, so a crash in
//! between delivers it twice rather than never (RFC 5321 §6.1: the
//! duplicate is the lesser harm). A secured message's envelope records its
//! package (the link sealed to the spool key) as soon as the server made
//! it, and each notification the upstream accepted: a retry makes no
//! second package and sends no notification twice. Only a crash between
//! the server's answer and that record makes a second package (the first
//! is never announced and expires unopened).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use kluis_client::{Api, send_package};
use kluis_protocol::PackageId;
use kluis_protocol::api::SendPolicy;
use mail_parser::MessageParser;

use crate::audit::{self, Audited};
use crate::classify::{Classification, Triggers, classify};
use crate::dsn::{self, Failure};
use crate::error_chain;
use crate::policy::PolicySource;
use crate::secure::{asks_code, notification, package_of};
use crate::session::Envelope;
use crate::spool::{self, Record, Secured, Spool};
use crate::upstream;

/// The spooled messages waiting for delivery, by id (ids sort by arrival).
#[derive(Default)]
pub struct Queue {
    records: Mutex<BTreeMap<String, Record>>,
    wake: Notify,
}

impl Queue {
    pub fn new(records: Vec<Record>) -> Queue {
        Queue { records: Mutex::new(records.into_iter().map(|r| (r.id.clone(), r)).collect()), wake: Notify::new() }
    }

    /// A newly spooled message: delivery starts at once.
    pub fn push(&self, record: Record) {
        self.records.lock().expect("not poisoned").insert(record.id.clone(), record);
        self.wake.notify_one();
    }

    pub fn len(&self) -> usize {
        self.records.lock().expect("not poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The messages due at `now`, oldest first.
    fn due(&self, now: i64) -> Vec<Record> {
        self.records.lock().expect("not poisoned").values().filter(|r| r.next_attempt <= now).cloned().collect()
    }

    /// When the next message is due.
    fn next_due(&self) -> Option<i64> {
        self.records.lock().expect("not poisoned").values().map(|r| r.next_attempt).min()
    }

    fn update(&self, record: Record) {
        self.records.lock().expect("not poisoned").insert(record.id.clone(), record);
    }

    fn remove(&self, id: &str) {
        self.records.lock().expect("not poisoned").remove(id);
    }
}

pub use crate::upstream::Outcome;

/// What to do with a message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Remove,
    /// Try again at this time (Unix seconds).
    RetryAt(i64),
    Bounce(Failure),
}

/// The schedule: when to retry and when to give up.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The waits after the first, second, … failed attempt; the last repeats.
    pub retry: Vec<Duration>,
    /// How long after its arrival a message is given up.
    pub bounce_after: Duration,
}

impl Schedule {
    /// What to do with `record` after `outcome` at `now`; `record.attempts`
    /// counts the attempts before this one.
    pub fn decide(&self, record: &Record, outcome: Outcome, now: i64) -> Decision {
        match outcome {
            Outcome::Delivered => Decision::Remove,
            Outcome::Permanent(reply) => Decision::Bounce(Failure::Refused { reply }),
            Outcome::Transient(error) => {
                let wait = self.retry.get(record.attempts as usize).or(self.retry.last()).copied();
                let at = now.saturating_add(wait.unwrap_or(Duration::from_secs(60)).as_secs() as i64);
                let give_up = record.received_at.saturating_add(self.bounce_after.as_secs() as i64);
                if now >= give_up {
                    Decision::Bounce(Failure::Expired { last_error: error })
                } else {
                    Decision::RetryAt(at.min(give_up))
                }
            }
        }
    }
}

/// Delivers what is in the queue to the upstream.
pub struct Delivery {
    pub spool: Arc<Spool>,
    pub queue: Arc<Queue>,
    pub upstream: upstream::Client,
    /// `split` mode: every message sent upstream gets `X-Kluis-Relay: <this>`
    /// on top, so the organisation's mail server delivers it instead of
    /// routing it back here.
    pub loop_guard: Option<zeroize::Zeroizing<String>>,
    pub schedule: Schedule,
    /// This relay's name, in EHLO and in bounces.
    pub hostname: String,
    pub policy: PolicySource,
    pub triggers: Triggers,
    /// `secure.verify`: recipients confirm their address with a code (always
    /// where the organisation's policy requires it).
    pub verify_email: bool,
}

/// Messages delivered at once: as many as the upstream connections kept.
const CONCURRENT: usize = upstream::POOL;

/// The header that marks mail this relay sent (`split` mode), and that no
/// message may bring to it: one that does has been here before.
pub const LOOP_GUARD: &str = "X-Kluis-Relay";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64
}

impl Delivery {
    /// Works until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            // Several at once: one slow upstream transaction (or package upload) does not hold up the rest.
            let due = self.queue.due(now());
            futures_util::StreamExt::for_each_concurrent(futures_util::stream::iter(due), CONCURRENT, |record| {
                self.attempt(record)
            })
            .await;
            // Sleep until the next message is due or a new one arrives.
            let wait = self.queue.next_due().map_or(3600, |at| (at - now()).clamp(1, 3600));
            tokio::select! {
                () = &mut shutdown => return,
                () = self.queue.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(wait as u64)) => {}
            }
        }
    }

    async fn attempt(&self, mut record: Record) {
        let spool = self.spool.clone();
        let id = record.id.clone();
        let message = match tokio::task::spawn_blocking(move || spool.message(&id)).await {
            Ok(Ok(message)) => message,
            Ok(Err(e)) => {
                tracing::error!(id = %record.id, error = %e, "cannot read a spooled message; it stays in the spool");
                self.queue.remove(&record.id);
                return;
            }
            Err(e) => {
                tracing::error!(id = %record.id, error = %e, "reading a spooled message failed");
                return;
            }
        };
        let outcome = self.route(&mut record, &message).await;
        let at = now();
        let decision = self.schedule.decide(&record, outcome.clone(), at);
        record.attempts += 1;
        let result = match decision {
            Decision::Remove => {
                tracing::info!(id = %record.id, attempts = record.attempts, "delivered");
                self.remove(&record.id).await
            }
            Decision::RetryAt(next) => {
                tracing::warn!(id = %record.id, attempts = record.attempts, error = ?outcome, retry_in = next - at, "deferred");
                record.next_attempt = next;
                let spool = self.spool.clone();
                let written = record.clone();
                let saved = tokio::task::spawn_blocking(move || spool.write_record(&written)).await;
                self.queue.update(record.clone());
                saved.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()))
            }
            Decision::Bounce(failure) => self.bounce(&record, &message, failure, at).await,
        };
        if let Err(e) = result {
            tracing::error!(id = %record.id, error = %e, "cannot update the spool");
        }
    }

    /// Classifies the message, records the decision in the audit log, then
    /// passes it through or secures it. A message made a package in an
    /// earlier attempt is finished as one.
    async fn route(&self, record: &mut Record, message: &[u8]) -> Outcome {
        let policy = match self.policy.current().await {
            Ok(policy) => policy,
            Err(e) => return Outcome::Transient(format!("held: {e}")),
        };
        let api = policy.server.as_ref().map(|(_, api)| api.clone());
        let classification = classify(&policy.content, &self.triggers, &record.from, &record.recipients, message);
        let reasons = match classification {
            Classification::PassThrough { ref warnings } if record.secured.is_none() => {
                if !warnings.is_empty() {
                    tracing::info!(id = %record.id, ?warnings, "passed through: the policy advises, it does not require");
                }
                if let Err(outcome) = self.audit(record, &classification, None, api).await {
                    return outcome;
                }
                let body = message.strip_suffix(b"\r\n").unwrap_or(message);
                let results = self.send(&record.from, &record.recipients, body).await;
                return self.settle(record, message, results).await;
            }
            Classification::Secure(reasons) => {
                tracing::info!(id = %record.id, ?reasons, "to be secured");
                reasons
            }
            // Secured in an earlier attempt, though the policy has changed since.
            Classification::PassThrough { .. } => Vec::new(),
        };
        match &policy.server {
            Some((send, api)) => self.secure(record, message, Classification::Secure(reasons), send, api.clone()).await,
            None => {
                Outcome::Transient("held: to be secured, but no Kluis server is configured (--server, --token)".into())
            }
        }
    }

    /// Records `classification` of the message in the audit log, unless its
    /// envelope says this decision is recorded; `Err` with the outcome of the
    /// attempt when it cannot be (the message waits: nothing leaves the relay
    /// unaudited). Without a Kluis server there is no audit log to write to.
    async fn audit(
        &self,
        record: &mut Record,
        classification: &Classification,
        package: Option<PackageId>,
        api: Option<Arc<Api>>,
    ) -> Result<(), Outcome> {
        let decided = match classification {
            Classification::Secure(_) => Audited::Secured,
            Classification::PassThrough { .. } => Audited::Passed,
        };
        let Some(api) = api else { return Ok(()) };
        if record.audited == Some(decided) {
            return Ok(());
        }
        let verdict = audit::verdict(classification, &record.from, &record.id, package);
        let recorded = tokio::task::spawn_blocking(move || audit::record(&api, &verdict)).await;
        match recorded {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let e = error_chain(&e);
                return Err(Outcome::Transient(format!("cannot record the decision in the audit log: {e}")));
            }
            Err(e) => return Err(Outcome::Transient(e.to_string())),
        }
        tracing::info!(id = %record.id, decision = ?decided, "decision recorded in the audit log");
        record.audited = Some(decided);
        self.save(record).await.map_err(Outcome::Transient)
    }

    /// Makes the message a package (once: the envelope records it, with the
    /// link sealed to the spool key), then sends each recipient not yet
    /// notified their notification, recording each one sent.
    async fn secure(
        &self,
        record: &mut Record,
        message: &[u8],
        classification: Classification,
        send: &SendPolicy,
        api: Arc<Api>,
    ) -> Outcome {
        let code = asks_code(send, self.verify_email);
        let link = match &record.secured {
            Some(secured) => match self.spool.unseal(&secured.link) {
                Ok(link) => link,
                Err(e) => return Outcome::Transient(format!("cannot unseal the package link: {}", error_chain(&e))),
            },
            None => {
                let request = match package_of(message, &record.recipients, send, code) {
                    Ok(request) => request,
                    Err(e) => return Outcome::Permanent(format!("cannot make a package of it: {e}")),
                };
                let client = api.clone();
                let sent = tokio::task::spawn_blocking(move || send_package(&client, request, &mut |_| {})).await;
                let sent = match sent {
                    Ok(Ok(sent)) => sent,
                    Ok(Err(e)) => return package_failure(&e),
                    Err(e) => return Outcome::Transient(e.to_string()),
                };
                let link = sent.link.to_string();
                let sealed = match self.spool.seal(&link) {
                    Ok(sealed) => sealed,
                    Err(e) => return Outcome::Transient(format!("cannot seal the package link: {e}")),
                };
                record.secured = Some(Secured { package: sent.id.to_string(), link: sealed, notified: Vec::new() });
                if let Err(e) = self.save(record).await {
                    return Outcome::Transient(e);
                }
                tracing::info!(id = %record.id, package = %sent.id, "secured as a package");
                link
            }
        };
        let package = record.secured.as_ref().and_then(|s| PackageId::parse(&s.package).ok());
        if let Err(outcome) = self.audit(record, &classification, package, Some(api)).await {
            return outcome;
        }
        let parsed = MessageParser::default().parse(message);
        let subject = parsed.as_ref().and_then(|m| m.subject()).unwrap_or_default().to_string();
        let from = parsed
            .as_ref()
            .and_then(|m| m.from())
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map_or_else(|| record.from.clone(), str::to_string);
        let notified = record.secured.as_ref().map(|s| s.notified.clone()).unwrap_or_default();
        let pending: Vec<String> = record.recipients.iter().filter(|r| !notified.contains(r)).cloned().collect();
        let mut results = Vec::new();
        for recipient in pending {
            let mail = notification(&from, &recipient, &subject, &link, send.default_expiry_days, code, now());
            let body = mail.strip_suffix(b"\r\n").unwrap_or(&mail);
            let sent = self.send(&record.from, std::slice::from_ref(&recipient), body).await;
            let outcome = sent.into_iter().next().map_or(Outcome::Transient("no answer".into()), |(_, o)| o);
            if outcome == Outcome::Delivered
                && let Some(secured) = record.secured.as_mut()
            {
                secured.notified.push(recipient.clone());
                if let Err(e) = self.save(record).await {
                    return Outcome::Transient(e);
                }
            }
            results.push((recipient, outcome));
        }
        self.settle(record, message, results).await
    }

    /// Settles each recipient's result of an attempt: delivered ones are
    /// done, refused ones are bounced (one report per reply), the rest stay
    /// in the envelope for the next attempt. `Delivered` when no recipient
    /// is left; the first retryable failure otherwise.
    async fn settle(&self, record: &mut Record, message: &[u8], results: Vec<(String, Outcome)>) -> Outcome {
        let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut retry = None;
        let mut done = Vec::new();
        for (recipient, outcome) in results {
            match outcome {
                Outcome::Delivered => done.push(recipient),
                Outcome::Permanent(reply) => {
                    refused.entry(reply).or_default().push(recipient.clone());
                    done.push(recipient);
                }
                Outcome::Transient(error) => {
                    retry.get_or_insert(error);
                }
            }
        }
        if retry.is_none() && refused.is_empty() {
            return Outcome::Delivered;
        }
        let refused_count: usize = refused.values().map(Vec::len).sum();
        if retry.is_none() && refused.len() == 1 && refused_count == record.recipients.len() {
            // Every recipient refused with one reply: the usual bounce of the whole message.
            return Outcome::Permanent(refused.into_keys().next().expect("one"));
        }
        for (reply, recipients) in refused {
            let failed = Record { recipients, ..record.clone() };
            if let Err(e) = self.spool_bounce(&failed, message, Failure::Refused { reply }, now()).await {
                return Outcome::Transient(format!("cannot spool a bounce: {e}"));
            }
        }
        record.recipients.retain(|r| !done.contains(r));
        if let Err(e) = self.save(record).await {
            return Outcome::Transient(e);
        }
        match retry {
            Some(error) => Outcome::Transient(error),
            None => Outcome::Delivered,
        }
    }

    /// Writes `record` to the spool.
    async fn save(&self, record: &Record) -> Result<(), String> {
        let spool = self.spool.clone();
        let record = record.clone();
        let saved = tokio::task::spawn_blocking(move || spool.write_record(&record)).await;
        saved.map_err(|e| e.to_string())?.map_err(|e| error_chain(&e))
    }

    /// Sends `body` from `from` to `recipients` through the upstream (RFC
    /// 5321 §4.1.1.4: the end of DATA adds CRLF.CRLF, so `body` is given
    /// without its final CRLF); each recipient's outcome.
    async fn send(&self, from: &str, recipients: &[String], body: &[u8]) -> Vec<(String, Outcome)> {
        let guarded;
        let body = match &self.loop_guard {
            Some(guard) => {
                guarded = [format!("{LOOP_GUARD}: {}\r\n", guard.as_str()).as_bytes(), body].concat();
                &guarded[..]
            }
            None => body,
        };
        self.upstream.send(from, recipients, body).await
    }

    /// Spools a bounce to the sender, then removes the message. A bounce
    /// that bounces is dropped (RFC 5321 §6.1: no bounce loops).
    async fn bounce(&self, record: &Record, message: &[u8], failure: Failure, now: i64) -> Result<(), String> {
        self.spool_bounce(record, message, failure, now).await?;
        self.remove(&record.id).await
    }

    /// Spools the report that `record`'s message did not reach its
    /// recipients (those of `record`) for its sender; once: its id is
    /// derived from the message and those recipients.
    async fn spool_bounce(&self, record: &Record, message: &[u8], failure: Failure, now: i64) -> Result<(), String> {
        if record.from.is_empty() {
            tracing::warn!(id = %record.id, reason = ?failure, "undeliverable bounce dropped");
            return Ok(());
        }
        let report = dsn::bounce(record, message, &failure, &self.hostname, now);
        let envelope = Envelope {
            from: String::new(),
            recipients: vec![record.from.clone()],
            eight_bit: false,
            smtputf8: record.smtputf8,
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            helo: self.hostname.clone(),
            esmtp: true,
            tls: false,
            user: None,
        };
        let spool = self.spool.clone();
        let id = spool::bounce_id(&record.id, &record.recipients);
        let stored = tokio::task::spawn_blocking(move || match spool.store(&envelope, &[&report], &id, now) {
            Ok(stored) => Ok(Some(stored)),
            // Spooled before a crash cut this short: it is queued already.
            Err(spool::SpoolError::Exists(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        })
        .await
        .map_err(|e| e.to_string())??;
        if let Some(stored) = stored {
            tracing::warn!(id = %record.id, bounce = %stored.id, recipients = ?record.recipients, reason = ?failure, "bounced to the sender");
            self.queue.push(stored);
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), String> {
        self.queue.remove(id);
        let spool = self.spool.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || spool.remove(&id))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

/// What a failure to make the package means for the message: the
/// organisation's rules and a message the server can never take (too large,
/// a request it calls invalid) are for good; everything else (an
/// unreachable or failing server, a refused token, a busy upload, a full
/// quota, a lapsed licence) may pass, so it is retried until `bounce_after`.
fn package_failure(e: &kluis_client::Error) -> Outcome {
    let text = format!("the Kluis server: {}", error_chain(e));
    let permanent = match e {
        kluis_client::Error::Policy(_) => true,
        _ => e
            .server_code()
            .is_some_and(|code| code == "too_large" || code.starts_with("policy") || code.starts_with("invalid")),
    };
    if permanent { Outcome::Permanent(text) } else { Outcome::Transient(text) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Decision, Outcome, Schedule, package_failure};
    use crate::dsn::Failure;
    use crate::spool::Record;

    fn record(received_at: i64, attempts: u32) -> Record {
        Record {
            id: "a".into(),
            from: "alice@example.org".into(),
            recipients: vec!["bob@example.net".into()],
            eight_bit: false,
            smtputf8: false,
            client: "127.0.0.1".parse().unwrap(),
            helo: "x".into(),
            tls: false,
            user: None,
            received_at,
            attempts,
            next_attempt: received_at,
            secured: None,
            audited: None,
        }
    }

    #[test]
    fn retries_follow_the_schedule_and_give_up_after_bounce_after() {
        let schedule = Schedule {
            retry: vec![Duration::from_secs(60), Duration::from_secs(300)],
            bounce_after: Duration::from_secs(3600),
        };
        let failed = || Outcome::Transient("421 busy".into());
        assert_eq!(schedule.decide(&record(0, 0), failed(), 0), Decision::RetryAt(60));
        assert_eq!(schedule.decide(&record(0, 1), failed(), 60), Decision::RetryAt(360));
        assert_eq!(schedule.decide(&record(0, 7), failed(), 1000), Decision::RetryAt(1300), "the last wait repeats");
        assert_eq!(schedule.decide(&record(0, 9), failed(), 3500), Decision::RetryAt(3600), "one last try at the end");
        assert_eq!(
            schedule.decide(&record(0, 10), failed(), 3600),
            Decision::Bounce(Failure::Expired { last_error: "421 busy".into() })
        );
        assert_eq!(schedule.decide(&record(0, 0), Outcome::Delivered, 5), Decision::Remove);
        assert_eq!(
            schedule.decide(&record(0, 0), Outcome::Permanent("550 no".into()), 5),
            Decision::Bounce(Failure::Refused { reply: "550 no".into() })
        );
    }

    #[test]
    fn only_refusals_for_good_bounce_at_once_when_making_the_package() {
        let server = |code: &str| {
            kluis_client::Error::Server(kluis_client::ServerError {
                code: code.into(),
                message: String::new(),
                details: serde_json::Value::Null,
            })
        };
        for code in ["too_large", "policy_too_large", "invalid_expiry"] {
            assert!(matches!(package_failure(&server(code)), Outcome::Permanent(_)), "{code}");
        }
        for code in ["internal", "upload_busy", "quota_exceeded", "offset_mismatch", "unauthorized", "licence_lapsed"] {
            assert!(matches!(package_failure(&server(code)), Outcome::Transient(_)), "{code}");
        }
    }
}
