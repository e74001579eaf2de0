//! The server's counters for the operator's monitoring, in Prometheus's text
//! exposition format (version 0.0.4) at `GET /metrics` (issue 16: requests,
//! errors, bytes, queue lengths, job runs). Plain atomics: recording a
//! request is a few relaxed additions, and there is nothing to configure.
//! Labels are few and fixed (method, status class, job), so the number of
//! series is bounded whatever the traffic.
//!
//! The endpoint answers only with the bearer token of `[metrics] token`
//! (compared in constant time); without one configured it is not there.
//! Counts are per process: each node of several is scraped on its own.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The methods counted on their own; the rest are `other`.
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"];

/// Upper bounds of the request duration histogram, in seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

pub(crate) use crate::domain::leases::Job;

#[derive(Default)]
pub(crate) struct Metrics {
    /// By method, then status class (1xx … 5xx).
    requests: [[AtomicU64; 5]; METHODS.len()],
    /// Cumulative bucket counts and the sum in microseconds.
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_micros: AtomicU64,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    /// By job: runs, and failed runs.
    job_runs: [AtomicU64; Job::ALL.len()],
    job_failures: [AtomicU64; Job::ALL.len()],
    mails_sent: AtomicU64,
    mails_failed: AtomicU64,
}

/// What is read at scrape time rather than counted.
pub(crate) struct Gauges {
    /// Mails waiting to be sent.
    pub mail_queue: i64,
    /// Requests being served now.
    pub in_flight: u64,
}

impl Metrics {
    /// One request answered: its method, status, time, and the body sizes
    /// known (a request's `Content-Length`, a response's sized body).
    pub(crate) fn request(&self, method: &str, status: u16, took: Duration, request_bytes: u64, response_bytes: u64) {
        let m = METHODS.iter().position(|&known| known == method).unwrap_or(METHODS.len() - 1);
        let class = usize::from((status / 100).clamp(1, 5) - 1);
        self.requests[m][class].fetch_add(1, Relaxed);
        let seconds = took.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.duration_buckets) {
            if seconds <= *bound {
                count.fetch_add(1, Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Relaxed);
        self.duration_sum_micros.fetch_add(took.as_micros().min(u128::from(u64::MAX)) as u64, Relaxed);
        self.request_bytes.fetch_add(request_bytes, Relaxed);
        self.response_bytes.fetch_add(response_bytes, Relaxed);
    }

    /// One run of `job`, and whether it failed.
    pub(crate) fn job(&self, job: Job, failed: bool) {
        let i = job as usize;
        self.job_runs[i].fetch_add(1, Relaxed);
        if failed {
            self.job_failures[i].fetch_add(1, Relaxed);
        }
    }

    /// One mail handed to the mail server, or one attempt that failed.
    pub(crate) fn mail(&self, sent: bool) {
        if sent { &self.mails_sent } else { &self.mails_failed }.fetch_add(1, Relaxed);
    }

    /// The exposition text.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        // Written in order, family by family (the format wants each family's samples together).
        header(&mut out, "kluis_build_info", "gauge", "The running version.");
        let _ = writeln!(out, "kluis_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));

        header(&mut out, "kluis_http_requests_total", "counter", "HTTP requests answered, by method and status class.");
        for (m, method) in METHODS.iter().enumerate() {
            for (c, count) in self.requests[m].iter().enumerate() {
                let n = count.load(Relaxed);
                if n > 0 {
                    let _ =
                        writeln!(out, "kluis_http_requests_total{{method=\"{method}\",status=\"{}xx\"}} {n}", c + 1);
                }
            }
        }
        header(&mut out, "kluis_http_errors_total", "counter", "HTTP requests answered with a 5xx status.");
        let errors: u64 = self.requests.iter().map(|by_class| by_class[4].load(Relaxed)).sum();
        let _ = writeln!(out, "kluis_http_errors_total {errors}");

        header(
            &mut out,
            "kluis_http_request_duration_seconds",
            "histogram",
            "Time to answer a request (to the response head).",
        );
        for (bound, count) in BUCKETS.iter().zip(&self.duration_buckets) {
            let _ =
                writeln!(out, "kluis_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}", count.load(Relaxed));
        }
        let count = self.duration_count.load(Relaxed);
        let _ = writeln!(out, "kluis_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.duration_sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "kluis_http_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "kluis_http_request_duration_seconds_count {count}");

        header(&mut out, "kluis_http_request_bytes_total", "counter", "Request body bytes declared by Content-Length.");
        let _ = writeln!(out, "kluis_http_request_bytes_total {}", self.request_bytes.load(Relaxed));
        header(&mut out, "kluis_http_response_bytes_total", "counter", "Response body bytes of sized responses.");
        let _ = writeln!(out, "kluis_http_response_bytes_total {}", self.response_bytes.load(Relaxed));
        header(&mut out, "kluis_http_requests_in_flight", "gauge", "Requests being served.");
        let _ = writeln!(out, "kluis_http_requests_in_flight {}", gauges.in_flight);

        header(&mut out, "kluis_mail_queue_length", "gauge", "Mails waiting to be sent.");
        let _ = writeln!(out, "kluis_mail_queue_length {}", gauges.mail_queue);
        header(&mut out, "kluis_mails_total", "counter", "Mails handed to the mail server, and attempts that failed.");
        let _ = writeln!(out, "kluis_mails_total{{result=\"sent\"}} {}", self.mails_sent.load(Relaxed));
        let _ = writeln!(out, "kluis_mails_total{{result=\"failed\"}} {}", self.mails_failed.load(Relaxed));

        header(&mut out, "kluis_job_runs_total", "counter", "Runs of the background jobs.");
        for job in Job::ALL {
            let _ = writeln!(
                out,
                "kluis_job_runs_total{{job=\"{}\"}} {}",
                job.name(),
                self.job_runs[job as usize].load(Relaxed)
            );
        }
        header(&mut out, "kluis_job_failures_total", "counter", "Runs of the background jobs that failed.");
        for job in Job::ALL {
            let failed = self.job_failures[job as usize].load(Relaxed);
            let _ = writeln!(out, "kluis_job_failures_total{{job=\"{}\"}} {failed}", job.name());
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Gauges, Job, Metrics};

    #[test]
    fn requests_jobs_and_mail_are_counted_in_the_text_format() {
        let metrics = Metrics::default();
        metrics.request("GET", 200, Duration::from_millis(3), 0, 120);
        metrics.request("PATCH", 204, Duration::from_millis(40), 8 << 20, 0);
        metrics.request("BREW", 503, Duration::from_secs(2), 10, 30);
        metrics.job(Job::Janitor, false);
        metrics.job(Job::Janitor, true);
        metrics.mail(true);
        let text = metrics.render(&Gauges { mail_queue: 4, in_flight: 1 });
        for line in [
            "kluis_http_requests_total{method=\"GET\",status=\"2xx\"} 1",
            "kluis_http_requests_total{method=\"other\",status=\"5xx\"} 1",
            "kluis_http_errors_total 1",
            "kluis_http_request_duration_seconds_bucket{le=\"0.005\"} 1",
            "kluis_http_request_duration_seconds_bucket{le=\"0.05\"} 2",
            "kluis_http_request_duration_seconds_bucket{le=\"+Inf\"} 3",
            "kluis_http_request_duration_seconds_count 3",
            "kluis_http_request_bytes_total 8388618",
            "kluis_http_response_bytes_total 150",
            "kluis_mail_queue_length 4",
            "kluis_mails_total{result=\"sent\"} 1",
            "kluis_job_runs_total{job=\"janitor\"} 2",
            "kluis_job_failures_total{job=\"janitor\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        // Every sample belongs to the family announced before it.
        let mut family = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap().to_string();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(&family), "{line} outside {family}");
            }
        }
    }
}
