//! A whole send and receive, end to end with real age files, on each blob store.

use kluis_crypto::package::{PackageId, PackageKind, ServerShare, package_identity};
use kluis_crypto::x25519::Identity;
use serde_json::json;

use crate::support::flow::{self, bytes};
use crate::support::{Server, wait_for};

fn send_and_receive(blob_store: &str) {
    let server = Server::start(|c| c.blob_store = blob_store.into());
    let alice = server.token("alice@example.org");
    let manifest = br#"{"files":[{"name":"report.pdf","size":200000}]}"#.to_vec();
    let file = bytes(200_000, 7);
    // The sizes of X25519 age files do not depend on the recipient: measure with any.
    let any = Identity::generate().unwrap().to_public();
    let sizes: Vec<usize> =
        [&manifest, &file].iter().map(|p| kluis_crypto::encrypt(&[&any], p).unwrap().len()).collect();

    let spec = json!({
        "recipients": ["bob@example.org"],
        "verify": "none",
        "max_downloads": 2,
        "notify_on_download": true,
        "blobs": sizes.iter().map(|s| json!({ "size": s })).collect::<Vec<_>>(),
    });
    let created = flow::create_package(&server, &alice, &spec).expect(201).json();
    let id = created["id"].as_str().unwrap().to_string();
    let package_id = PackageId::parse(&id).unwrap();
    let link = kluis_crypto::package::LinkSecret::from_bytes(flow::rand32());
    let share = ServerShare::from_base64url(created["server_share"].as_str().unwrap()).unwrap();
    let identity = package_identity(&package_id, &link, &share, None, PackageKind::Classic);
    let blobs: Vec<Vec<u8>> =
        [&manifest, &file].iter().map(|p| kluis_crypto::encrypt(&[&identity.to_public()], p).unwrap()).collect();
    assert_eq!(blobs.iter().map(Vec::len).collect::<Vec<_>>(), sizes);

    flow::upload_blob(&server, &alice, &id, 0, &blobs[0]);
    // The big blob in two PATCHes, resuming where HEAD says.
    let upload = flow::new_upload(&server, &alice, &id, 1, blobs[1].len() as u64);
    flow::patch(&server, &alice, &upload, 0, &blobs[1][..70_000]).expect(204);
    let at = flow::offset(&server, &alice, &upload);
    assert_eq!(at, 70_000);
    flow::patch(&server, &alice, &upload, at, &blobs[1][70_000..]).expect(204);
    flow::finalize(&server, &alice, &id, &link, None).expect(200);

    // The recipient: status, access with A, S and the blobs, decrypt.
    let status = server.get(&format!("/api/v1/p/{id}")).send().expect(200).json();
    assert_eq!((status["blob_count"].as_u64(), status["verify"].as_str()), (Some(2), Some("none")));
    let proof = flow::proof(&id, &link, None);
    let granted = flow::access(&server, &id, &proof, None, None).send().expect(200).json();
    let share = ServerShare::from_base64url(granted["server_share"].as_str().unwrap()).unwrap();
    let identity = package_identity(&package_id, &link, &share, None, PackageKind::Classic);
    let token = granted["download_token"].as_str().unwrap();
    let mut received = Vec::new();
    for blob in granted["blobs"].as_array().unwrap() {
        let path = flow::path_of(&server, blob["url"].as_str().unwrap());
        let size = blob["size"].as_u64().unwrap();
        // In two ranges, as a resuming client fetches it.
        let first = server.get(&path).bearer(token).header("Range", "bytes=0-99").send().expect(206);
        assert_eq!(first.header("content-range"), Some(format!("bytes 0-99/{size}").as_str()));
        let rest = server.get(&path).bearer(token).header("Range", "bytes=100-").send().expect(206);
        let mut whole = first.body;
        whole.extend_from_slice(&rest.body);
        assert_eq!(whole.len() as u64, size);
        received.push(whole);
    }
    assert_eq!(received, blobs, "the blobs came back as they were uploaded");
    assert_eq!(kluis_crypto::decrypt(&[&identity], &received[0]).unwrap(), manifest);
    assert_eq!(kluis_crypto::decrypt(&[&identity], &received[1]).unwrap(), file);

    // The sender sees one download and is told of it.
    let seen = flow::package(&server, &alice, &id);
    assert_eq!(seen["downloads"], 1);
    let events: Vec<&str> = seen["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(events.contains(&"accessed") && events.contains(&"downloaded"), "{events:?}");
    server.wait_for_mail("alice@example.org", "opened");

    // Where the blobs live: files under the data directory, or nowhere on disk.
    let blob_file = server.data_path(format!("blobs/{id}/1"));
    match blob_store {
        "fs" => assert_eq!(std::fs::read(&blob_file).unwrap(), blobs[1]),
        _ => assert!(!server.data_path("blobs").exists(), "the memory store wrote blobs to disk"),
    }

    // Revoked: S and the blobs are gone.
    server.post(&format!("/api/v1/packages/{id}/revoke")).bearer(&alice).send().expect(200);
    flow::access(&server, &id, &proof, None, None).send().expect_error(410, "revoked");
    let gone = wait_for(std::time::Duration::from_secs(5), || (!blob_file.exists()).then_some(()));
    assert!(gone.is_some(), "the blob file outlived the revocation");
}

#[test]
fn memory_blob_store_serves_a_whole_send_and_receive() {
    send_and_receive("memory");
}

#[test]
fn fs_blob_store_serves_a_whole_send_and_receive() {
    send_and_receive("fs");
}
