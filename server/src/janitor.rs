//! The janitor task: once a minute (and at start) it runs the clean-up
//! rules of `domain::janitor` and mails the warnings about licences
//! that near their end; the orphan sweep, which lists the whole blob
//! store, runs at start and then once a day, on one of several processes
//! sharing the database (its lease, `domain/leases.rs`).

use std::time::{Duration, Instant};

use crate::State;
use crate::domain::janitor;
use crate::domain::leases::{self, Job};

pub(crate) const INTERVAL: Duration = Duration::from_secs(60);
pub(crate) const ORPHAN_INTERVAL: Duration = Duration::from_secs(24 * 3600);

pub(crate) async fn run(state: State) {
    let mut ticker = tokio::time::interval(INTERVAL);
    let mut orphans_checked: Option<Instant> = None;
    loop {
        ticker.tick().await;
        // Each of several processes on one database may sweep: every step is a unit of work
        // that finds nothing left to do when another process did it first.
        let swept = janitor::sweep(&state.domain).await;
        if let Err(e) = &swept {
            tracing::warn!(error = %e, "janitor sweep failed; retrying next round");
        }
        state.metrics.job(Job::Janitor, swept.is_err());
        match crate::domain::licences::warn_admins(&state.domain).await {
            Ok(0) => {}
            Ok(_) => state.mail_wake.notify_one(),
            Err(e) => tracing::warn!(error = %e, "licence warnings failed; retrying next round"),
        }
        if orphans_checked.is_none_or(|t| t.elapsed() >= ORPHAN_INTERVAL) {
            // Once a day across all processes: the lease lasts the interval. A sweep that fails
            // is tried again the next day (orphans are only disk space).
            orphans_checked = Some(Instant::now());
            if let Ok(true) = leases::take_once_per(&state.domain, Job::Orphans, ORPHAN_INTERVAL, &state.node).await {
                let removed = janitor::remove_orphans(&state.domain).await;
                if let Err(e) = &removed {
                    tracing::warn!(error = %e, "orphan sweep failed; trying again tomorrow");
                }
                state.metrics.job(Job::Orphans, removed.is_err());
            }
        }
    }
}
