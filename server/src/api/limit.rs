//! Rate limits for the endpoints that answer without signing in (sign-in
//! codes, the recipient's calls): requests per client network address per
//! minute, counted in the metadata store so that the limit holds across
//! server nodes (`rate_windows`). Budgets of wrong codes and proofs live in
//! the store too (`domain::codes`).

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest};

use super::error::ApiError;
use crate::State;
use crate::store::MetaStore;

pub(crate) use crate::net::client_ip;

/// The length of a window, in seconds: windows start on the minute.
const WINDOW: i64 = 60;

/// Requests per client address per minute, shared by every node of the store.
pub(crate) struct RateLimiter {
    limit: u32,
    meta: Arc<dyn MetaStore>,
}

impl RateLimiter {
    pub(crate) fn new(limit: u32, meta: Arc<dyn MetaStore>) -> RateLimiter {
        RateLimiter { limit, meta }
    }

    /// Counts a request of `ip` at `now` (Unix seconds); `Err(seconds)` to
    /// wait when over the limit. A store that cannot count lets the request
    /// through (logged): the call itself then meets the same store.
    pub(crate) async fn check(&self, ip: IpAddr, now: i64) -> Result<(), u64> {
        let window_start = now - now.rem_euclid(WINDOW);
        match self.meta.count_request(&client_key(ip), window_start).await {
            Ok(count) if count > i64::from(self.limit) => Err((window_start + WINDOW - now).max(1) as u64),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "the per-client limit could not be counted");
                Ok(())
            }
        }
    }
}

/// The client as counted: an IPv6 client by its /64 (one subscriber's
/// network, whose addresses it can change at will), an IPv4 one by its address.
fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

async fn limited(req: &HttpRequest) -> Result<(), ApiError> {
    let (Some(state), Some(ip)) = (req.app_data::<State>(), client_ip(req)) else { return Ok(()) };
    state.public_limiter.check(ip, crate::domain::now()).await.map_err(ApiError::rate_limited)
}

/// Middleware for the scopes reachable without signing in.
pub(crate) async fn unauthenticated(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, Error> {
    if let Err(e) = limited(req.request()).await {
        return Ok(req.error_response(e).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn windows_count_per_client_in_the_store_and_end_on_the_minute() {
        let dir = tempfile::tempdir().unwrap();
        let meta = crate::store::open_local(dir.path()).unwrap();
        // Two limiters on one store: two nodes.
        let (one, two) = (RateLimiter::new(3, meta.clone()), RateLimiter::new(3, meta));
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        // 50 s into a minute.
        let t = 1_799_999_990;
        assert_eq!(t % 60, 50);
        assert!(one.check(a, t).await.is_ok() && two.check(a, t).await.is_ok() && one.check(a, t + 1).await.is_ok());
        assert_eq!(two.check(a, t + 2).await, Err(8), "the fourth in the window, on either node, waits for its end");
        assert!(one.check(b, t).await.is_ok(), "per client");
        assert!(two.check(a, t + 10).await.is_ok(), "a new minute, a new window");
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
    }
}
