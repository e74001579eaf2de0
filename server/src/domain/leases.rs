//! The background jobs, and leases for those that should run on one of
//! several server processes sharing the metadata store (issue 16: nodes
//! behind a load balancer). A lease is one holder's until it runs out; its
//! holder may renew it, and when the holder stops (a crash, a node taken
//! out) another process takes it over once it has run out.
//!
//! Only the orphan sweep, which lists the whole blob store, takes one
//! ([`take_once_per`]: once a day across all processes). The janitor's sweep needs none: each step is
//! a unit of work that finds nothing to do when another process did it. Nor
//! does the mail worker: each mail is claimed before it is sent
//! (`domain::mail::deliver_due`), so a mail goes out once, and a process
//! that stops hands over only the mail it was sending, not the whole queue.

use std::time::Duration;

use super::{Domain, DomainResult, now};

/// A background job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Job {
    /// The janitor's sweep (expiry, clean-up), once a minute.
    Janitor,
    /// The sweep for blobs no package refers to, once a day.
    Orphans,
    /// The mail worker, every few seconds.
    Mail,
}

impl Job {
    pub(crate) const ALL: [Job; 3] = [Job::Janitor, Job::Orphans, Job::Mail];

    /// Its name, in the store and in metrics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Job::Janitor => "janitor",
            Job::Orphans => "orphans",
            Job::Mail => "mail",
        }
    }
}

/// Whether process `node` may run `job` now, which is to run once per
/// `every` across all processes: it took the job's lease, free since the
/// last run's ran out. Each run takes the lease afresh (its holder names the
/// run), so not even the last runner runs it again before `every` is over.
pub(crate) async fn take_once_per(domain: &Domain, job: Job, every: Duration, node: &str) -> DomainResult<bool> {
    let at = now();
    let run = format!("{node}/{}", hex::encode(crate::secrets::random_bytes::<8>()));
    Ok(domain.meta.take_job_lease(job.name(), &run, at, at + every.as_secs() as i64).await?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{Job, take_once_per};
    use crate::blobs::memory::MemoryBlobStore;
    use crate::domain::Domain;

    #[actix_web::test]
    async fn a_lease_is_one_holders_until_it_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let meta = crate::store::open_local(dir.path()).unwrap();
        assert!(meta.take_job_lease("job", "a", 0, 10).await.unwrap());
        assert!(!meta.take_job_lease("job", "b", 5, 15).await.unwrap(), "held by a");
        assert!(meta.take_job_lease("job", "a", 5, 15).await.unwrap(), "renewed by its holder");
        assert!(meta.take_job_lease("other", "b", 5, 15).await.unwrap(), "another job, another lease");
        assert!(meta.take_job_lease("job", "b", 15, 25).await.unwrap(), "run out: taken over");
        assert!(!meta.take_job_lease("job", "a", 16, 26).await.unwrap());
    }

    #[actix_web::test]
    async fn a_daily_job_runs_once_a_day_whichever_process_asks() {
        let dir = tempfile::tempdir().unwrap();
        let domain = Domain {
            meta: crate::store::open_local(dir.path()).unwrap(),
            blobs: Arc::new(MemoryBlobStore::default()),
            key: crate::secrets::ServerKey::load_or_create(&dir.path().join("secret.key")).unwrap(),
            limits: Default::default(),
            public_url: "http://kluis.test".into(),
            policy: Default::default(),
            licence: Default::default(),
        };
        let day = Duration::from_secs(86_400);
        assert!(take_once_per(&domain, Job::Orphans, day, "node-a").await.unwrap());
        assert!(!take_once_per(&domain, Job::Orphans, day, "node-a").await.unwrap(), "not again, even by its runner");
        assert!(!take_once_per(&domain, Job::Orphans, day, "node-b").await.unwrap());
    }
}
