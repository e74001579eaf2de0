//! Arbitrary bytes into the streaming decryptor, pushed in pieces whose size
//! comes from the first input byte. Must never panic, and a decryptor that
//! reports success must really be done.
//!
//! Seeds are the age testkit vectors (see `cargo xtask fuzz`); the identity
//! and passphrase are the ones most vectors use, so mutations reach the
//! payload code, not only the header parser.
#![no_main]

use kluis_crypto::{Decryptor, Identity, scrypt, x25519};
use libfuzzer_sys::fuzz_target;

const IDENTITY: &str = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";
const PASSPHRASE: &str = "password";

fuzz_target!(|data: &[u8]| {
    let Some((&step, mut input)) = data.split_first() else { return };
    let step = (step as usize % 97) * 37 + 1;
    let identity: x25519::Identity = IDENTITY.parse().expect("valid identity");
    // A low work-factor cap keeps every run fast.
    let passphrase = scrypt::Identity::new(String::from(PASSPHRASE).into()).with_max_work_factor(12);
    let identities: Vec<Box<dyn Identity>> = vec![Box::new(identity), Box::new(passphrase)];
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
