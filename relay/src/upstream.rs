//! The SMTP client of the upstream mail server: one transaction per
//! message, on lettre's connection (its parser of replies, STARTTLS with
//! rustls), driven command by command so that each recipient has its own
//! result (RFC 5321 §3.3: a server refuses recipients one by one). lettre's
//! transport gives up the whole transaction at the first refused `RCPT`;
//! here the others still get the message, and only the refused are bounced
//! or retried.
//!
//! Speed (measured with `tests/bench/relay.sh`): the socket has Nagle's
//! algorithm off, since the end of DATA is a small write of its own that it
//! would otherwise hold until the server acknowledged the body, which
//! delayed ACKs hold for 40 ms (15 messages a second instead of 150 and
//! more); and a connection is used again for the next message (`RSET`
//! first) while it is less than [`IDLE`] old, up to [`POOL`] of them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::Address;
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use crate::config::Upstream;
use crate::error_chain;

/// How long one command may take (RFC 5321 §4.5.3.2 asks for minutes;
/// the end of DATA up to 10).
const TIMEOUT: Duration = Duration::from_secs(300);

/// The longest one message's whole transaction may take.
const TRANSACTION: Duration = Duration::from_secs(900);

/// How long an idle connection is kept for the next message (servers close
/// them after a few minutes; RFC 5321 §4.5.3.2.7 asks for at least 5).
const IDLE: Duration = Duration::from_secs(30);

/// How long a kept connection may take to answer `RSET`.
const RSET: Duration = Duration::from_secs(30);

/// Idle connections kept at most.
pub const POOL: usize = 8;

/// What became of one recipient, or of the whole transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// 4xx or no answer at all: worth trying again.
    Transient(String),
    /// 5xx, or something the upstream could never take.
    Permanent(String),
}

/// The upstream and how to reach it.
pub struct Client {
    upstream: Upstream,
    hello: ClientId,
    /// Connections after a finished transaction, and since when.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl Client {
    pub fn new(upstream: &Upstream, hostname: &str) -> Client {
        Client { upstream: upstream.clone(), hello: ClientId::Domain(hostname.to_string()), idle: Mutex::default() }
    }

    /// Sends `body` (without its final CRLF: the end of DATA adds it) from
    /// `from` to `recipients`; returns each recipient's outcome, in order.
    pub async fn send(&self, from: &str, recipients: &[String], body: &[u8]) -> Vec<(String, Outcome)> {
        let all = |outcome: Outcome| recipients.iter().map(|r| (r.clone(), outcome.clone())).collect();
        let attempt = async {
            let mut connection = self.connection().await?;
            match transaction(&mut connection, from, recipients, body).await {
                Ok(results) => {
                    self.keep(connection);
                    Ok(results)
                }
                Err(outcome) => {
                    connection.abort().await;
                    Err(outcome)
                }
            }
        };
        match tokio::time::timeout(TRANSACTION, attempt).await {
            Ok(Ok(results)) => results,
            Ok(Err(outcome)) => all(outcome),
            Err(_) => {
                all(Outcome::Transient(format!("the upstream did not finish within {} s", TRANSACTION.as_secs())))
            }
        }
    }

    /// An idle connection still good for a new transaction (`RSET`
    /// answered), or a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, Outcome> {
        loop {
            let reused = {
                let mut idle = self.idle.lock().expect("not poisoned");
                idle.retain(|(_, since)| since.elapsed() < IDLE);
                idle.pop()
            };
            let Some((mut connection, _)) = reused else { break };
            // A connection the server left hanging is given up quickly, not after the transaction's limit.
            if let Ok(Ok(_)) = tokio::time::timeout(RSET, connection.command(Rset)).await {
                return Ok(connection);
            }
            connection.abort().await;
        }
        self.connect().await
    }

    /// Keeps `connection` for the next message, if there is room.
    fn keep(&self, connection: AsyncSmtpConnection) {
        if connection.has_broken() {
            return;
        }
        let mut idle = self.idle.lock().expect("not poisoned");
        if idle.len() < POOL {
            idle.push((connection, Instant::now()));
        }
    }

    /// A connection after EHLO, over TLS as configured.
    async fn connect(&self) -> Result<AsyncSmtpConnection, Outcome> {
        let Upstream { host, port, implicit_tls, require_starttls } = &self.upstream;
        let transient = |what: &str, e: lettre::transport::smtp::Error| {
            Outcome::Transient(format!("{what} {host}:{port}: {}", error_chain(&e)))
        };
        let tls = TlsParameters::new(host.clone()).map_err(|e| transient("cannot set up TLS for", e))?;
        let address = (host.as_str(), *port);
        let mut connection = if *implicit_tls {
            // lettre's own TLS socket (Nagle's algorithm on: smtps:// pays the 40 ms per message).
            AsyncSmtpConnection::connect_tokio1(address, Some(TIMEOUT), &self.hello, Some(tls.clone()), None)
                .await
                .map_err(|e| transient("cannot connect to", e))?
        } else {
            let failed = |e: std::io::Error| Outcome::Transient(format!("cannot connect to {host}:{port}: {e}"));
            let stream = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(address))
                .await
                .map_err(|_| Outcome::Transient(format!("cannot connect to {host}:{port}: timed out")))?
                .map_err(failed)?;
            stream.set_nodelay(true).map_err(failed)?;
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                .await
                .map_err(|e| transient("no greeting from", e))?
        };
        if !implicit_tls {
            if connection.can_starttls() {
                connection.starttls(tls, &self.hello).await.map_err(|e| transient("STARTTLS failed with", e))?;
            } else if *require_starttls {
                connection.abort().await;
                return Err(Outcome::Transient(format!(
                    "{host}:{port} does not offer STARTTLS, and upstream_tls is \"required\""
                )));
            }
        }
        Ok(connection)
    }
}

/// MAIL, a RCPT per recipient, and DATA if any was accepted. `Err`: an
/// outcome for every recipient (the transaction failed as a whole).
async fn transaction(
    connection: &mut AsyncSmtpConnection,
    from: &str,
    recipients: &[String],
    body: &[u8],
) -> Result<Vec<(String, Outcome)>, Outcome> {
    let from = if from.is_empty() { None } else { Some(address(from)?) };
    let mut parameters = Vec::new();
    let info = connection.server_info();
    let utf8 = from.iter().any(|a| !AsRef::<str>::as_ref(a).is_ascii()) || recipients.iter().any(|r| !r.is_ascii());
    if utf8 {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            // RFC 6531 §3.2: such a message cannot be relayed to a server without SMTPUTF8.
            return Err(Outcome::Permanent("the upstream does not take internationalised addresses (SMTPUTF8)".into()));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !body.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            // RFC 6152 §3: an 8-bit message to a server without 8BITMIME is returned, not changed.
            return Err(Outcome::Permanent("the upstream does not take 8-bit messages (8BITMIME)".into()));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    connection.command(Mail::new(from, parameters)).await.map_err(refused)?;

    let mut results = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let outcome = match address(recipient) {
            Err(outcome) => outcome,
            Ok(to) => match connection.command(Rcpt::new(to, Vec::new())).await {
                Ok(_) => Outcome::Delivered,
                Err(e) if e.is_permanent() || e.is_transient() => refused(e),
                // The connection broke: nothing more can be said on it.
                Err(e) => return Err(refused(e)),
            },
        };
        results.push((recipient.clone(), outcome));
    }
    if !results.iter().any(|(_, outcome)| *outcome == Outcome::Delivered) {
        return Ok(results);
    }
    // The end of DATA decides for every accepted recipient at once.
    let ended = match connection.command(Data).await {
        Ok(_) => connection.message(body).await,
        Err(e) => Err(e),
    };
    if let Err(e) = ended {
        // No reply code (a broken or unreadable answer): the connection's state is unknown, so it
        // is not kept, and every recipient is tried again (a duplicate rather than a loss).
        if e.status().is_none() {
            return Err(refused(e));
        }
        let failed = refused(e);
        for (_, outcome) in &mut results {
            if *outcome == Outcome::Delivered {
                *outcome = failed.clone();
            }
        }
    }
    Ok(results)
}

fn address(text: &str) -> Result<Address, Outcome> {
    text.parse::<Address>().map_err(|e| Outcome::Permanent(format!("invalid address <{text}>: {e}")))
}

/// A refusal (or a failure) as an outcome: 5xx for good, anything else worth a retry.
fn refused(e: lettre::transport::smtp::Error) -> Outcome {
    // A reply's text is the error's own message already (its source repeats it).
    let text = if e.status().is_some() { e.to_string() } else { error_chain(&e) };
    if e.is_permanent() { Outcome::Permanent(text) } else { Outcome::Transient(text) }
}
