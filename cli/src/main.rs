//! `kluis`: the Kluis command line.

mod age;
mod client;
mod inbound;
mod key;
mod output;
mod passphrase;
mod progress;
mod receive;
mod send;
mod sent;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const ABOUT: &str = "Kluis: send files end-to-end encrypted, with a link only the recipients can open";

const LONG_ABOUT: &str = "\
Kluis: send files end-to-end encrypted, with a link only the recipients can open.

`kluis send` encrypts files on this computer and uploads them to your organisation's
Kluis server, which never sees their contents, names or the link's secret. It prints
a link: send it in your own e-mail (Kluis does not mail it). Recipients open it in a
browser or with `kluis receive`, after proving their address with a mailed code.

To receive files, make your key once (`kluis key init`), then `kluis request` prints
an upload link to send to whoever has the files; what they upload is encrypted to
your key and shows in `kluis inbox`; `kluis fetch ID` decrypts it here.

Sending needs the server's address and an API token (from your Kluis administrator:
`kluis-server token create EMAIL`), given with --server and --token or in the
environment as KLUIS_SERVER and KLUIS_TOKEN. Receiving needs only the link.";

const EXAMPLES: &str = "\
Examples:
  export KLUIS_SERVER=https://kluis.example.org KLUIS_TOKEN=...
  kluis send report.pdf scans.zip --to bob@example.org --message \"The files we discussed\"
  kluis send notes.txt --verify none --expires 30d --password
  kluis receive 'https://kluis.example.org/p/...#...' -o downloads/
  kluis revoke 'https://kluis.example.org/p/...#...'
  kluis list
  kluis status 'https://kluis.example.org/p/...#...'
  kluis key init
  kluis request --to jan@example.com --message \"Your tax return, please\"
  kluis inbox
  kluis fetch ID -o downloads/
  kluis token list
  kluis age encrypt -p -o secret.age secret.txt

Each command has its own help: kluis send --help";

#[derive(Parser)]
#[command(
    name = "kluis",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    propagate_version = true
)]
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
    /// List the packages you sent, newest first, with what each recipient did
    List(sent::ListArgs),
    /// One package you sent in detail: each recipient's status and every event
    Status(sent::StatusArgs),
    /// Your key for receiving files: make it, show it, or unlock it on another computer
    Key {
        #[command(subcommand)]
        command: key::Command,
    },
    /// Ask someone to send you files: print an upload link for them
    Request(inbound::RequestArgs),
    /// List the files people sent you through your upload links, newest first
    Inbox(inbound::InboxArgs),
    /// Download and decrypt an item of your inbox with your identity file
    Fetch(inbound::FetchArgs),
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
    // Usage errors are clap's whole message (what is missing or unknown,
    // a similar flag, the usage line) with status 2; help and version exit 0.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Send(args) => send::send(args),
        Command::Receive(args) => receive::receive(args),
        Command::Revoke(args) => send::revoke(args),
        Command::List(args) => sent::list(args),
        Command::Status(args) => sent::status(args),
        Command::Key { command } => key::run(command),
        Command::Request(args) => inbound::request(args),
        Command::Inbox(args) => inbound::inbox(args),
        Command::Fetch(args) => inbound::fetch(args),
        Command::Token { command } => token::run(command),
        Command::Age { command } => age::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Any other error is one line: "error: " and a sentence starting lower-case.
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
