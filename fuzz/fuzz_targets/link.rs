//! Arbitrary text into the package-link and request-link parsers: must
//! never panic, and a link they accept must print as text that parses back
//! to the same server, id and secret (or recipient).
#![no_main]

use kluis_protocol::{Link, RequestLink};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(request) = RequestLink::parse(text) {
        let printed = request.to_string();
        let again =
            RequestLink::parse(&printed).unwrap_or_else(|e| panic!("{text:?} parsed, {printed:?} does not: {e}"));
        assert_eq!(
            (&again.server, &again.request_id, &again.recipient),
            (&request.server, &request.request_id, &request.recipient)
        );
        assert_eq!(again.to_string(), printed);
    }
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
