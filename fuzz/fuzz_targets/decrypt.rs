//! Arbitrary bytes into the streaming decryptor, pushed in pieces whose size
//! comes from the first input byte. Must never panic, and a decryptor that
//! reports success must really be done.
//!
//! Seeds are the age testkit vectors (see `cargo xtask fuzz`); the
//! identities (X25519 and post-quantum) and the passphrase are the ones the
//! vectors use, so mutations reach the stanza and payload code, not only the
//! header parser.
#![no_main]

use kluis_crypto::{Decryptor, Identity, mlkem768x25519, scrypt, x25519};
use libfuzzer_sys::fuzz_target;

const IDENTITY: &str = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";
const PQ_IDENTITY: &str = "AGE-SECRET-KEY-PQ-1HZLGZUPT4ETPKDEV8HSGFDCYZ4E522W0A7PU2LHT8EH9W6YLNC3SW78XKG";
const PASSPHRASE: &str = "password";

fuzz_target!(|data: &[u8]| {
    let Some((&step, mut input)) = data.split_first() else { return };
    let step = (step as usize % 97) * 37 + 1;
    let identity: x25519::Identity = IDENTITY.parse().expect("valid identity");
    // A low work-factor cap keeps every run fast.
    let passphrase = scrypt::Identity::new(String::from(PASSPHRASE).into()).with_max_work_factor(12);
    let post_quantum: mlkem768x25519::Identity = PQ_IDENTITY.parse().expect("valid identity");
    let identities: Vec<Box<dyn Identity>> = vec![Box::new(identity), Box::new(post_quantum), Box::new(passphrase)];
    let mut dec = Decryptor::new(identities).with_batch(1 + step % 3);
    while !input.is_empty() {
        match dec.push(&input[..input.len().min(step)]) {
            Ok(n) => input = &input[n..],
            Err(_) => return,
        }
        let n = dec.output().len();
        dec.consume(n);
    }
    loop {
        if dec.finish().is_err() {
            return;
        }
        let n = dec.output().len();
        if n == 0 {
            break;
        }
        dec.consume(n);
    }
    assert!(dec.is_done());
});
