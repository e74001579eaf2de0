//! `kluis token list|revoke`: the signed-in user's own API tokens.

use anyhow::{Result, bail};
use clap::Subcommand;
use kluis_protocol::api::TokenList;

use crate::send::ServerArgs;

#[derive(Subcommand)]
pub enum Command {
    /// List your API tokens (the one in use is marked with *)
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke one of your API tokens by its id (see `kluis token list`)
    Revoke {
        /// The token's id
        id: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::List { server } => {
            let list: TokenList = server.client()?.get("/tokens")?;
            println!("{:>6}  {:<25}  {:<25}  {:<25}  label", "id", "created", "last used", "expires");
            for t in list.tokens {
                let mark = if t.current { "*" } else { " " };
                let used = t.last_used_at.unwrap_or_else(|| "never".into());
                let label: String = t.label.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
                println!("{mark}{:>5}  {:<25}  {used:<25}  {:<25}  {label}", t.id, t.created_at, t.expires_at);
            }
            Ok(())
        }
        Command::Revoke { id, server } => {
            let client = server.client()?;
            let mut response =
                client.request_empty("DELETE", &format!("/tokens/{id}")).call().map_err(|e| client.network(e))?;
            client.check(&mut response)?;
            if response.status().as_u16() != 204 {
                bail!("the server answered HTTP {}", response.status());
            }
            eprintln!("token {id} revoked");
            Ok(())
        }
    }
}
