//! Defences at the connection level, so that no client can hold the server
//! (docs/architecture.md §6): request bodies that deliver less than
//! `body_min_bytes` in a window of the body timeout (nothing, or a byte
//! every few seconds) are ended; requests in flight per client address are
//! capped; the listening socket has TCP keepalive on, so dead peers are
//! found; header reads are bounded by actix's request timeout.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::State;
use crate::api::error::ApiError;

/// The client's address: the peer, or the last hop of the configured
/// forwarding header when a trusted reverse proxy sits in front.
pub(crate) fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    if let Some(header) = req.app_data::<State>().and_then(|s| s.config.limits.client_ip_header.clone())
        && let Some(value) = req.headers().get(header.as_str()).and_then(|v| v.to_str().ok())
        && let Some(ip) = value.rsplit(',').next().and_then(|v| v.trim().parse().ok())
    {
        return Some(ip);
    }
    req.peer_addr().map(|a| a.ip())
}

/// A request body that must deliver at least `min_bytes` in every window
/// of `window` (the body timeout), or it fails: a body that stalls, and one
/// that drips a byte every few seconds, are both ended within two windows.
struct SlowBodyGuard {
    inner: Payload,
    window: Duration,
    min_bytes: u64,
    /// Bytes that arrived in the current window.
    arrived: u64,
    timer: Pin<Box<Sleep>>,
}

impl Stream for SlowBodyGuard {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            if let Some(Ok(bytes)) = &item {
                self.arrived += bytes.len() as u64;
            }
            return Poll::Ready(item);
        }
        loop {
            match self.timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if self.arrived >= self.min_bytes => {
                    // Enough this window: start the next one (and poll its timer, to be woken).
                    self.arrived = 0;
                    let next = Instant::now() + self.window;
                    self.timer.as_mut().reset(next);
                }
                Poll::Ready(()) => {
                    return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body stalled or is too slow",
                    )))));
                }
            }
        }
    }
}

/// Requests in flight per client address.
#[derive(Default)]
pub(crate) struct InFlight {
    clients: Mutex<HashMap<IpAddr, u32>>,
}

/// Releases a client's slot when the request is done.
struct Slot {
    table: Arc<InFlight>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut clients = self.table.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = clients.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                clients.remove(&self.ip);
            }
        }
    }
}

impl InFlight {
    /// Requests being served now, from every client.
    pub(crate) fn total(&self) -> u64 {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.values().map(|&n| u64::from(n)).sum()
    }

    fn enter(self: &Arc<Self>, ip: IpAddr, max: u32) -> Option<Slot> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let n = clients.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot { table: self.clone(), ip })
    }
}

/// Middleware on every request: the per-client cap and the body idle timeout.
pub(crate) async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<State>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let mut slot = None;
    if let Some(ip) = client_ip(req.request()) {
        match state.in_flight.enter(ip, state.config.limits.max_requests_per_client) {
            Some(s) => slot = Some(s),
            None => {
                let e = ApiError::rate_limited(1).with("reason", "too many requests in flight from your address");
                let mut response = req.error_response(e);
                // Do not read a body we refuse; close the connection instead.
                response.response_mut().head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
                return Ok(response.map_into_right_body());
            }
        }
    }
    let window = Duration::from_secs(u64::from(state.config.limits.body_timeout_seconds));
    let inner = req.take_payload();
    let timed = SlowBodyGuard {
        inner,
        window,
        min_bytes: state.config.limits.body_min_bytes,
        arrived: 0,
        timer: Box::pin(tokio::time::sleep(window)),
    };
    req.set_payload(Payload::Stream { payload: Box::pin(timed) });
    let response = next.call(req).await;
    drop(slot);
    Ok(response?.map_into_left_body())
}

/// A listening socket with TCP keepalive (inherited by accepted connections).
pub(crate) fn listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    let keepalive = TcpKeepalive::new().with_time(Duration::from_secs(60)).with_interval(Duration::from_secs(15));
    socket.set_tcp_keepalive(&keepalive)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
