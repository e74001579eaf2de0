//! What every [`BlobStore`] must do, run against each implementation.

use bytes::Bytes;
use futures_util::TryStreamExt;

use super::BlobStore;

async fn read_all(store: &dyn BlobStore, key: &str, range: std::ops::Range<u64>) -> Vec<u8> {
    let chunks: Vec<Bytes> = store.read(key, range).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

pub(crate) async fn run(store: &dyn BlobStore) {
    appends_resume_at_the_recorded_offset(store).await;
    commit_is_atomic_and_reads_are_ranged(store).await;
    large_blobs_read_in_pieces(store).await;
    delete_and_discard_are_idempotent(store).await;
    list_names_only_committed_blobs(store).await;
}

async fn appends_resume_at_the_recorded_offset(store: &dyn BlobStore) {
    assert_eq!(store.part_len("c1").await.unwrap(), 0, "an unknown upload is empty");
    let mut w = store.append("c1", 0).await.unwrap();
    w.write(b"hello ").await.unwrap();
    assert_eq!(w.checkpoint().await.unwrap(), 6);
    w.write(b"not recorded").await.unwrap();
    w.checkpoint().await.unwrap();
    drop(w);
    // The caller recorded 6: what came after is dropped.
    let mut w = store.append("c1", 6).await.unwrap();
    w.write(b"world").await.unwrap();
    assert_eq!(w.checkpoint().await.unwrap(), 11);
    drop(w);
    assert_eq!(store.part_len("c1").await.unwrap(), 11);
    assert!(store.append("c1", 12).await.is_err(), "an offset past the stored data is refused");
    store.discard("c1").await.unwrap();
}

async fn commit_is_atomic_and_reads_are_ranged(store: &dyn BlobStore) {
    let mut w = store.append("c2", 0).await.unwrap();
    w.write(b"hello world").await.unwrap();
    w.checkpoint().await.unwrap();
    drop(w);
    assert!(store.read("k2/0", 0..1).await.is_err(), "no blob before commit");
    assert!(!store.list().await.unwrap().contains(&"k2/0".to_string()));
    store.commit("c2", "k2/0").await.unwrap();
    assert_eq!(store.part_len("c2").await.unwrap(), 0, "the upload became the blob");
    assert_eq!(read_all(store, "k2/0", 0..11).await, b"hello world");
    assert_eq!(read_all(store, "k2/0", 6..9).await, b"wor");
    assert_eq!(read_all(store, "k2/0", 11..11).await, b"");
    assert!(store.commit("c2", "k2/1").await.is_err(), "an upload commits once");
    store.commit("c2", "k2/0").await.expect("committing it again to the same blob is no error");
    assert_eq!(read_all(store, "k2/0", 0..11).await, b"hello world");
    store.delete("k2/0").await.unwrap();
}

async fn large_blobs_read_in_pieces(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = store.append("c3", 0).await.unwrap();
    for piece in data.chunks(100_000) {
        w.write(piece).await.unwrap();
    }
    w.checkpoint().await.unwrap();
    drop(w);
    store.commit("c3", "k3/0").await.unwrap();
    assert_eq!(read_all(store, "k3/0", 0..3_000_000).await, data);
    assert_eq!(read_all(store, "k3/0", 1_234_567..2_345_678).await, &data[1_234_567..2_345_678]);
    store.delete("k3/0").await.unwrap();
}

async fn delete_and_discard_are_idempotent(store: &dyn BlobStore) {
    store.delete("k4/0").await.unwrap();
    store.discard("c4").await.unwrap();
    let mut w = store.append("c4", 0).await.unwrap();
    w.write(b"x").await.unwrap();
    w.checkpoint().await.unwrap();
    drop(w);
    store.discard("c4").await.unwrap();
    assert_eq!(store.part_len("c4").await.unwrap(), 0);
}

async fn list_names_only_committed_blobs(store: &dyn BlobStore) {
    for (upload, key) in [("c5", "k5/0"), ("c6", "k5/1")] {
        let mut w = store.append(upload, 0).await.unwrap();
        w.write(b"abc").await.unwrap();
        w.checkpoint().await.unwrap();
        drop(w);
        store.commit(upload, key).await.unwrap();
    }
    let mut w = store.append("c7", 0).await.unwrap();
    w.write(b"unfinished").await.unwrap();
    w.checkpoint().await.unwrap();
    drop(w);
    assert_eq!(store.list().await.unwrap(), vec!["k5/0".to_string(), "k5/1".to_string()]);
    store.delete("k5/0").await.unwrap();
    assert_eq!(store.list().await.unwrap(), vec!["k5/1".to_string()]);
}
