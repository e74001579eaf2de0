//! The mail transport: an SMTP smarthost (STARTTLS or TLS, with AUTH) when
//! one is configured, otherwise `.eml` files in the outbox directory. What
//! is sent, and when, is decided in `domain::mail` (a queue with retries).

use std::path::PathBuf;

use anyhow::{Context, Result};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::Config;
use crate::domain::mail::Mail;
use crate::secrets::random_id;

#[derive(Clone)]
enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub(crate) struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    pub(crate) fn new(config: &Config) -> Result<Mailer> {
        let from: Mailbox =
            config.mail.from.parse().with_context(|| format!("invalid mail.from {:?}", config.mail.from))?;
        let transport = match &config.mail.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url).context("invalid mail.smtp_url")?.build(),
            ),
            None => {
                let dir = config.outbox_dir();
                crate::files::create_private_dir(&dir)
                    .with_context(|| format!("cannot create outbox {}", dir.display()))?;
                Transport::Outbox(dir)
            }
        };
        Ok(Mailer { from, transport })
    }

    pub(crate) async fn send(&self, mail: &Mail) -> Result<()> {
        let to: Mailbox = mail.to.parse().with_context(|| format!("invalid recipient address {:?}", mail.to))?;
        let message = Message::builder()
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.context("the mail server refused the message")?;
            }
            Transport::Outbox(dir) => {
                // Written beside and renamed, so a reader never sees half a message.
                let name = format!("{}-{}", crate::domain::now(), random_id());
                let tmp = dir.join(format!(".{name}.tmp"));
                crate::files::write_private(&tmp, &message.formatted()).await?;
                tokio::fs::rename(&tmp, dir.join(format!("{name}.eml"))).await?;
            }
        }
        Ok(())
    }
}

/// Sends queued mail until the server stops: at once when woken, else every
/// few seconds. Several processes on one database may all run it: each mail
/// is claimed before it is sent (`domain::mail::deliver_due`).
pub(crate) async fn run_worker(state: crate::State) {
    use crate::metrics::Job;
    loop {
        match crate::domain::mail::deliver_due(&state.domain, &state.mailer).await {
            Ok((sent, failed)) => {
                (0..sent).for_each(|_| state.metrics.mail(true));
                (0..failed).for_each(|_| state.metrics.mail(false));
                state.metrics.job(Job::Mail, false);
            }
            Err(e) => {
                tracing::warn!(error = %e, "mail queue failed; retrying");
                state.metrics.job(Job::Mail, true);
            }
        }
        tokio::select! {
            _ = state.mail_wake.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
    }
}
