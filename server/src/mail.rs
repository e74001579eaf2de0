//! Outgoing mail: to an SMTP smarthost (STARTTLS or TLS, with AUTH) when one
//! is configured, otherwise as `.eml` files in the outbox directory. Mail
//! never carries a package link: the server does not know the link secret.

use std::path::PathBuf;

use anyhow::{Context, Result};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::Config;
use crate::secrets::random_id;

/// One message, in English and Dutch.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Clone)]
enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    pub fn new(config: &Config) -> Result<Mailer> {
        let from: Mailbox =
            config.mail.from.parse().with_context(|| format!("invalid mail.from {:?}", config.mail.from))?;
        let transport = match &config.mail.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url).context("invalid mail.smtp_url")?.build(),
            ),
            None => {
                let dir = config.outbox_dir();
                std::fs::create_dir_all(&dir).with_context(|| format!("cannot create outbox {}", dir.display()))?;
                Transport::Outbox(dir)
            }
        };
        Ok(Mailer { from, transport })
    }

    pub async fn send(&self, mail: Mail) -> Result<()> {
        let to: Mailbox = mail.to.parse().with_context(|| format!("invalid recipient address {:?}", mail.to))?;
        let message = Message::builder()
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body)?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.context("the mail server refused the message")?;
            }
            Transport::Outbox(dir) => {
                // Written beside and renamed, so a reader never sees half a message.
                let name = format!("{}-{}", crate::db::now(), random_id());
                let tmp = dir.join(format!(".{name}.tmp"));
                tokio::fs::write(&tmp, message.formatted()).await?;
                tokio::fs::rename(&tmp, dir.join(format!("{name}.eml"))).await?;
            }
        }
        Ok(())
    }
}

pub fn signin_code(to: &str, code: &str, organisation: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: format!("{code} is your {organisation} sign-in code / je inlogcode"),
        body: format!(
            "Your sign-in code for {organisation} is:\n\n    {code}\n\nIt is valid for 10 minutes. If you did not ask for it, ignore this message.\n\n\
             Je inlogcode voor {organisation} is:\n\n    {code}\n\nDe code is 10 minuten geldig. Heb je er niet om gevraagd, negeer dit bericht dan.\n"
        ),
    }
}

pub fn verification_code(to: &str, code: &str, sender: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: format!("{code} is your code to open the files from {sender} / je code"),
        body: format!(
            "{sender} sent you files through Kluis. Your code to open them is:\n\n    {code}\n\nIt is valid for 10 minutes.\n\n\
             {sender} heeft je bestanden gestuurd via Kluis. Je code om ze te openen is:\n\n    {code}\n\nDe code is 10 minuten geldig.\n"
        ),
    }
}

pub fn first_download(to: &str, package_id: &str, recipients: &[String]) -> Mail {
    let who = if recipients.is_empty() { "a recipient".to_string() } else { recipients.join(", ") };
    Mail {
        to: to.into(),
        subject: "Your files were opened / je bestanden zijn geopend".into(),
        body: format!(
            "The package {package_id} you sent to {who} was opened for the first time.\n\n\
             Het pakket {package_id} dat je naar {who} stuurde is voor het eerst geopend.\n"
        ),
    }
}
