//! The listener: one task per connection drives a [`Session`] with the
//! bytes it reads, and does its steps: writes replies (collected while
//! the client's input lasts, RFC 2920 §3.2), upgrades to TLS after
//! STARTTLS, checks passwords and spools messages on blocking threads.
//! Every wait is bounded: reads and writes by the idle timeout, the TLS
//! handshake too, connections by `limits.connections` (and per address
//! outside the allowed networks by `limits.connections_per_client`), each
//! connection's whole life by `limits.session_seconds`, password checks at
//! once by [`PASSWORD_CHECKS`].

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::auth::Users;
use crate::delivery::Queue;
use crate::error_chain;
use crate::networks::{Network, canonical};
use crate::reply::Reply;
use crate::session::{Message, Session, Settings, Step};
use crate::spool::{self, Spool};
use crate::trace;

/// Password checks at once: each argon2 check holds 19 MiB for tens of
/// milliseconds, so many connections trying passwords together must queue
/// instead of taking the machine's memory.
pub const PASSWORD_CHECKS: usize = 4;

/// Bytes read from a client at a time: a DATA or BDAT message overshoots
/// `limits.message_size` by at most this before it is refused.
const READ_BUFFER: usize = 64 * 1024;

/// What every connection shares.
pub struct Relay {
    pub settings: Arc<Settings>,
    pub tls: Option<TlsAcceptor>,
    pub networks: Vec<Network>,
    pub users: Arc<Users>,
    pub spool: Arc<Spool>,
    /// Where spooled messages wait for delivery.
    pub queue: Arc<Queue>,
    pub idle_timeout: Duration,
    pub connections: Arc<Semaphore>,
    /// Connections per address outside `networks`.
    pub per_client: PerClient,
    /// The longest a connection may last.
    pub session_limit: Duration,
    /// [`PASSWORD_CHECKS`] permits.
    pub password_checks: Arc<Semaphore>,
}

/// Accepts connections until `shutdown` completes.
pub async fn serve(listener: TcpListener, relay: Arc<Relay>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let relay = relay.clone();
        tokio::spawn(async move {
            let Ok(permit) = relay.connections.clone().try_acquire_owned() else {
                return refuse(stream, "Too many connections").await;
            };
            let client = canonical(peer.ip());
            // Allowed networks (the organisation's mail servers) open as many as they need.
            let slot = match relay.networks.iter().any(|n| n.contains(client)) {
                true => None,
                false => match relay.per_client.enter(client) {
                    Some(slot) => Some(slot),
                    None => return refuse(stream, "Too many connections from your address").await,
                },
            };
            match tokio::time::timeout(relay.session_limit, connection(&relay, stream, peer)).await {
                Ok(Err(e)) => tracing::debug!(client = %peer, error = %e, "connection ended"),
                Ok(Ok(())) => {}
                Err(_) => tracing::info!(client = %peer, "connection closed after limits.session_seconds"),
            }
            drop((slot, permit));
        });
    }
}

/// Answers a connection that gets no session with 421 (RFC 5321 §3.8) and closes it.
async fn refuse(mut stream: TcpStream, why: &str) {
    let reply = Reply::unavailable(why).to_bytes();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&reply)).await;
}

/// Counts connections per client address, up to a limit.
pub struct PerClient {
    limit: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection counted by [`PerClient`]; dropping it gives the place back.
pub struct ClientSlot {
    client: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerClient {
    pub fn new(limit: usize) -> PerClient {
        PerClient { limit, open: Arc::default() }
    }

    /// A place for one more connection from `client`, if it has fewer than the limit.
    pub fn enter(&self, client: IpAddr) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(client).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot { client, open: self.open.clone() })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// What [`drive`] ended with.
enum Outcome {
    Closed,
    /// The client asked for TLS; the 220 was written.
    StartTls,
}

async fn connection(relay: &Relay, mut stream: TcpStream, peer: SocketAddr) -> io::Result<()> {
    let client = canonical(peer.ip());
    let trusted = relay.networks.iter().any(|n| n.contains(client));
    let mut session = Session::new(relay.settings.clone(), client, trusted);
    write(relay, &mut stream, &session.greeting()).await?;
    if let Outcome::Closed = drive(relay, &mut session, &mut stream).await? {
        return Ok(());
    }
    let acceptor = relay.tls.as_ref().expect("STARTTLS is offered only with a certificate");
    // Whatever the client sent after STARTTLS in plaintext is gone with
    // drive's buffer: only what comes through TLS counts (RFC 3207 §4.2).
    let mut tls = match tokio::time::timeout(relay.idle_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(client = %client, error = %e, "TLS handshake failed");
            return Ok(());
        }
        Err(_) => return Ok(()),
    };
    session.tls_started();
    drive(relay, &mut session, &mut tls).await?;
    let _ = tls.shutdown().await;
    Ok(())
}

/// Runs the session over `stream` until it closes or asks for TLS.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    relay: &Relay,
    session: &mut Session,
    stream: &mut S,
) -> io::Result<Outcome> {
    // Credentials pass through it: wiped when the connection ends.
    let mut buffer = zeroize::Zeroizing::new(vec![0; READ_BUFFER]);
    let mut out = Vec::new();
    loop {
        let n = match tokio::time::timeout(relay.idle_timeout, stream.read(&mut buffer)).await {
            Ok(read) => read?,
            Err(_) => {
                write(relay, stream, &session.timed_out()).await?;
                return Ok(Outcome::Closed);
            }
        };
        if n == 0 {
            return Ok(Outcome::Closed);
        }
        let mut input = &buffer[..n];
        loop {
            let step = match session.receive(&mut input) {
                Step::Read => break,
                Step::Authenticate(credentials) => {
                    let users = relay.users.clone();
                    let permit = relay.password_checks.clone().acquire_owned().await.expect("never closed");
                    let checked = tokio::task::spawn_blocking(move || {
                        let user = users.verify(&credentials.user, &credentials.password);
                        drop(permit);
                        user
                    });
                    session.authenticated(checked.await.unwrap_or(None))
                }
                Step::Queue(message) => {
                    let id = queue(relay, message).await;
                    session.queued(id.as_deref())
                }
                step => step,
            };
            match step {
                Step::Reply(bytes) => out.extend_from_slice(&bytes),
                Step::StartTls(bytes) => {
                    out.extend_from_slice(&bytes);
                    write(relay, stream, &out).await?;
                    return Ok(Outcome::StartTls);
                }
                Step::Close(bytes) => {
                    out.extend_from_slice(&bytes);
                    write(relay, stream, &out).await?;
                    return Ok(Outcome::Closed);
                }
                Step::Read | Step::Authenticate(_) | Step::Queue(_) => unreachable!("handled above"),
            }
        }
        if !out.is_empty() {
            write(relay, stream, &out).await?;
            out.clear();
        }
    }
}

/// Writes and flushes `bytes`, giving a client that does not read the
/// idle timeout.
async fn write<S: AsyncWrite + Unpin>(relay: &Relay, stream: &mut S, bytes: &[u8]) -> io::Result<()> {
    let written = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    tokio::time::timeout(relay.idle_timeout, written)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "the client does not read")))
}

/// Spools `message` with its `Received:` line; its id, or `None` if it
/// could not be spooled (the client gets 451 and sends it again).
async fn queue(relay: &Relay, message: Message) -> Option<String> {
    let spool = relay.spool.clone();
    let queue = relay.queue.clone();
    let host = relay.settings.hostname.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let id = spool::new_id(now.as_millis() as u64).map_err(|e| e.to_string())?;
        let seconds = now.as_secs() as i64;
        let received = trace::received(&message.envelope, &host, &id, seconds);
        let record = spool
            .store(&message.envelope, &[received.as_bytes(), &message.data], &id, seconds)
            .map_err(|e| error_chain(&e))?;
        tracing::info!(
            id = %record.id,
            client = %record.client,
            user = %record.user.as_deref().unwrap_or("-"),
            recipients = record.recipients.len(),
            size = message.data.len(),
            "queued"
        );
        let id = record.id.clone();
        queue.push(record);
        Ok::<_, String>(id)
    })
    .await;
    match stored {
        Ok(Ok(id)) => Some(id),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot spool a message");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "spooling a message failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PerClient;

    #[test]
    fn each_address_gets_its_own_places_and_gives_them_back() {
        let per_client = PerClient::new(2);
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let first = per_client.enter(a).unwrap();
        let _second = per_client.enter(a).unwrap();
        assert!(per_client.enter(a).is_none());
        assert!(per_client.enter(b).is_some(), "another address is not held up");
        drop(first);
        assert!(per_client.enter(a).is_some());
    }
}
