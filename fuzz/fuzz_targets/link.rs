//! Arbitrary text into the package-link parser: must never panic, and a
//! link it accepts must print as text that parses back to the same server,
//! package id and link secret.
#![no_main]

use kluis_protocol::Link;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(link) = Link::parse(text) else { return };
    let printed = link.to_string();
    let again = match Link::parse(&printed) {
        Ok(again) => again,
        Err(e) => panic!("{text:?} parsed, but its printed form {printed:?} does not: {e}"),
    };
    assert_eq!(again.server, link.server, "server of {text:?}");
    assert_eq!(again.package_id, link.package_id, "package id of {text:?}");
    assert_eq!(again.link_secret.expose(), link.link_secret.expose(), "secret of {text:?}");
    assert_eq!(again.to_string(), printed);
});
