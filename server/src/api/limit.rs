//! Rate limits for the endpoints that answer without signing in (sign-in
//! codes, the recipient's calls): a fixed window of requests per client
//! network address, kept in memory per server node. Budgets of wrong codes
//! and proofs, which must hold across nodes, live in the store (`domain::codes`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest};

use super::error::ApiError;
use crate::State;

pub(crate) use crate::net::client_ip;

/// Requests per client address per window.
pub(crate) struct RateLimiter {
    limit: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub(crate) fn new(limit: u32, window: Duration) -> RateLimiter {
        RateLimiter { limit, window, clients: Mutex::new(HashMap::new()) }
    }

    /// Counts a request; `Err(seconds)` to wait when over the limit.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() > 100_000 {
            clients.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let (start, count) = clients.entry(ip).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        *count += 1;
        if *count > self.limit {
            Err((self.window.saturating_sub(now.duration_since(*start))).as_secs().max(1))
        } else {
            Ok(())
        }
    }
}

fn limited(req: &HttpRequest) -> Result<(), ApiError> {
    let (Some(state), Some(ip)) = (req.app_data::<State>(), client_ip(req)) else { return Ok(()) };
    state.public_limiter.check(ip).map_err(ApiError::rate_limited)
}

/// Middleware for the scopes reachable without signing in.
pub(crate) async fn unauthenticated(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, Error> {
    if let Err(e) = limited(req.request()) {
        return Ok(req.error_response(e).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_per_client() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        assert!(limiter.check(a).is_ok() && limiter.check(a).is_ok());
        assert!(limiter.check(a).is_err_and(|s| s > 0 && s <= 60));
        assert!(limiter.check(b).is_ok(), "per client");
    }
}
