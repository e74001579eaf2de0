//! The organisation's policy, as the Kluis server serves it (`GET
//! /api/v1/policy` with the relay's token, through `kluis-client`), read
//! again every [`REFRESH`]. While it cannot be read the last one read
//! stands; before one was ever read nothing is passed on (a policy the
//! relay does not know cannot allow anything).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kluis_client::Api;
use kluis_policy::{ContentPolicy, Mode};
use kluis_protocol::api::{PolicyView, SendPolicy};

/// How often the policy is read again.
pub const REFRESH: Duration = Duration::from_secs(300);

/// Where the policy comes from: a Kluis server, or none (then there is no
/// content policy, the subject and sensitivity triggers still apply, and
/// nothing can be secured).
pub struct PolicySource {
    api: Option<Arc<Api>>,
    last: Mutex<Option<(PolicyView, Instant)>>,
}

/// The policy to decide by now.
pub struct Current {
    pub content: ContentPolicy,
    /// The rules for packages, and the server's API to send them through;
    /// `None` without a Kluis server.
    pub server: Option<(SendPolicy, Arc<Api>)>,
}

impl PolicySource {
    pub fn off() -> PolicySource {
        PolicySource { api: None, last: Mutex::new(None) }
    }

    pub fn server(api: Api) -> PolicySource {
        PolicySource { api: Some(Arc::new(api)), last: Mutex::new(None) }
    }

    /// The policy to decide by now, or why there is none.
    pub async fn current(&self) -> Result<Current, String> {
        let Some(api) = &self.api else {
            return Ok(Current {
                content: ContentPolicy { mode: Mode::Off, ..ContentPolicy::default() },
                server: None,
            });
        };
        let current = |view: PolicyView| Current { content: view.content, server: Some((view.send, api.clone())) };
        let cached = self.last.lock().expect("not poisoned").clone();
        if let Some((view, read)) = &cached
            && read.elapsed() < REFRESH
        {
            return Ok(current(view.clone()));
        }
        let client = api.clone();
        let fetched = tokio::task::spawn_blocking(move || client.get::<PolicyView>("/policy")).await;
        match fetched {
            Ok(Ok(view)) => {
                *self.last.lock().expect("not poisoned") = Some((view.clone(), Instant::now()));
                Ok(current(view))
            }
            Ok(Err(e)) => match cached {
                Some((view, _)) => {
                    tracing::warn!(error = %crate::error_chain(&e), "cannot read the policy; the last one read stands");
                    Ok(current(view))
                }
                None => Err(format!("the organisation's policy cannot be read: {}", crate::error_chain(&e))),
            },
            Err(e) => Err(e.to_string()),
        }
    }
}
