//! The organisation's content policy, as the Kluis server serves it
//! (`GET /api/v1/policy` with the relay's token, through `kluis-client`),
//! read again every [`REFRESH`]. While it cannot be read the last one read
//! stands; before one was ever read nothing is passed on (a policy the
//! relay does not know cannot allow anything).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kluis_client::Api;
use kluis_policy::{ContentPolicy, Mode};
use kluis_protocol::api::PolicyView;

/// How often the policy is read again.
pub const REFRESH: Duration = Duration::from_secs(300);

/// Where the content policy comes from.
pub enum PolicySource {
    /// No Kluis server configured: no content policy (the subject and
    /// sensitivity triggers still apply).
    Off,
    Server {
        api: Arc<Api>,
        last: Mutex<Option<(ContentPolicy, Instant)>>,
    },
}

impl PolicySource {
    pub fn server(api: Api) -> PolicySource {
        PolicySource::Server { api: Arc::new(api), last: Mutex::new(None) }
    }

    /// The policy to decide by now, or why there is none.
    pub async fn current(&self) -> Result<ContentPolicy, String> {
        let (api, last) = match self {
            PolicySource::Off => return Ok(ContentPolicy { mode: Mode::Off, ..ContentPolicy::default() }),
            PolicySource::Server { api, last } => (api, last),
        };
        let cached = last.lock().expect("not poisoned").clone();
        if let Some((policy, read)) = &cached
            && read.elapsed() < REFRESH
        {
            return Ok(policy.clone());
        }
        let api = api.clone();
        let fetched = tokio::task::spawn_blocking(move || api.get::<PolicyView>("/policy")).await;
        match fetched {
            Ok(Ok(view)) => {
                *last.lock().expect("not poisoned") = Some((view.content.clone(), Instant::now()));
                Ok(view.content)
            }
            Ok(Err(e)) => match cached {
                Some((policy, _)) => {
                    tracing::warn!(error = %crate::error_chain(&e), "cannot read the policy; the last one read stands");
                    Ok(policy)
                }
                None => Err(format!("the organisation's policy cannot be read: {}", crate::error_chain(&e))),
            },
            Err(e) => Err(e.to_string()),
        }
    }
}
