//! `kluis`: the Kluis command line.

mod age;
mod client;
mod output;
mod overlap;
mod passphrase;
mod pipeline;
mod receive;
mod send;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Kluis: secure e-mail and large files.
#[derive(Parser)]
#[command(name = "kluis", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send files securely: encrypt, upload, print the link
    Send(send::SendArgs),
    /// Download and decrypt the files of a package link
    Receive(receive::ReceiveArgs),
    /// Withdraw a package: its link stops working and its files are deleted
    Revoke(send::RevokeArgs),
    /// List or revoke your API tokens
    Token {
        #[command(subcommand)]
        command: token::Command,
    },
    /// age-compatible file encryption (https://age-encryption.org)
    Age {
        #[command(subcommand)]
        command: age::Command,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // One line, like every other error of this program.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Send(args) => send::send(args),
        Command::Receive(args) => receive::receive(args),
        Command::Revoke(args) => send::revoke(args),
        Command::Token { command } => token::run(command),
        Command::Age { command } => age::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<receive::ExitWith>() {
            Some(exit) => {
                eprintln!("{}", exit.1);
                ExitCode::from(exit.0)
            }
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
