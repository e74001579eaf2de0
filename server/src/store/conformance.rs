//! What every [`MetaStore`] must do, run against each backend (issue 16):
//! SQLite in `sqlite/`'s tests, PostgreSQL in `postgres/`'s. Each scenario
//! drives units of work through the trait only and checks what their doc
//! comments promise: leases, budgets, quotas refused with nothing written,
//! counts that never pass their limit, the audit chain, the queues, and
//! listings in the order (byte by byte) the API pages them in.
//!
//! The scenarios share one store and run one after the other: each makes its
//! own organisations, users and ids, and those that touch something global
//! (the mail queue, rate windows, the sweep) use moments long past, which
//! nothing else writes.

use std::sync::{Arc, Mutex};

use futures_util::future::join_all;

use super::{
    AuditQuery, CodeKey, Counter, Finalized, Grant, Lease, MetaStore, NewEvent, NewPackage, NewUser, Package,
    PackageCursor, PackageState, Role, Rule, StoreError, StoreResult, Upload, Usage, User, UserChange, UserFilter,
    UserQuery, Verifiers,
};
use crate::domain::packages::availability;
use crate::domain::{DomainError, Quota, Unavailable, now};

pub(crate) async fn run(store: &dyn MetaStore) {
    one_user_per_address_in_any_ascii_case(store).await;
    tokens_live_until_revoked_expired_or_unused(store).await;
    a_refused_user_change_writes_nothing(store).await;
    user_pages_sort_addresses_byte_by_byte(store).await;
    package_pages_are_newest_first_with_ties_by_id_byte_by_byte(store).await;
    an_upload_has_one_writer_at_a_time(store).await;
    quotas_see_the_usage_and_refuse_with_nothing_written(store).await;
    complete_upload_marks_its_blob_once_and_keeps_the_upload(store).await;
    downloads_are_counted_up_to_the_limit_never_past(store).await;
    codes_are_spent_once_and_failures_counted_per_key(store).await;
    audit_events_chain_per_organisation(store).await;
    pruning_keeps_the_chain_verifiable(store).await;
    mail_is_claimed_once_retried_after_failure_and_sent_once(store).await;
    job_leases_are_one_holders_until_they_run_out(store).await;
    requests_are_counted_per_client_and_window(store).await;
}

// Helpers.

fn accept<T>() -> Rule<T> {
    Box::new(|_| Ok(()))
}

/// A rule that records what it was shown (the last time: a backend may run a unit again).
fn watch<T: Clone + Send + 'static>(seen: &Arc<Mutex<Option<T>>>, refuse: bool) -> Rule<T> {
    let seen = seen.clone();
    Box::new(move |v: &T| {
        *seen.lock().unwrap() = Some(v.clone());
        if refuse { Err(DomainError::Quota { quota: Quota::OpenUploads, limit: 0 }) } else { Ok(()) }
    })
}

/// The rule `grant_access` is given by the domain: the package as it is now must be available.
fn available() -> Rule<Package> {
    Box::new(|p: &Package| availability(p, now()).map_err(DomainError::Unavailable))
}

/// What a refused unit of work was refused for (it must have been refused).
fn refused<T>(result: StoreResult<T>, what: &str) -> DomainError {
    match result {
        Err(StoreError::Refused(e)) => *e,
        Err(e) => panic!("{what}: expected a refusal, got {e}"),
        Ok(_) => panic!("{what}: expected a refusal, it went through"),
    }
}

fn event(org_id: i64, event: &'static str, actor: &str, package_id: Option<&str>) -> NewEvent {
    NewEvent {
        org_id: Some(org_id),
        event,
        actor: actor.into(),
        package_id: package_id.map(str::to_string),
        detail: None,
    }
}

/// A new organisation `name` with the mail domain `<name>.example`.
async fn organisation(store: &dyn MetaStore, name: &str) -> i64 {
    store.create_organisation(name, &[format!("{name}.example")]).await.unwrap().id
}

async fn user(store: &dyn MetaStore, org_id: i64, email: &str) -> User {
    let new = NewUser { org_id, email: email.into(), name: None, role: None };
    store.add_user(new).await.unwrap().expect("a new address")
}

/// A package of `sender` as the domain makes one: uploading, live for a day, no limits.
fn package(sender: &User, id: &str, created_at: i64, blob_sizes: &[i64]) -> NewPackage {
    NewPackage {
        id: id.into(),
        org_id: sender.org_id,
        sender_id: sender.id,
        server_share: vec![7; 32],
        created_at,
        expires_at: now() + 86_400,
        max_downloads: None,
        verify_email: false,
        has_password: false,
        notify_on_download: false,
        recipients: Vec::new(),
        blob_sizes: blob_sizes.to_vec(),
        receivers: Vec::new(),
    }
}

async fn create(store: &dyn MetaStore, sender: &User, new: NewPackage) {
    let e = event(sender.org_id, "created", &format!("user:{}", sender.email), Some(&new.id));
    store.create_package(new, accept(), e).await.unwrap();
}

fn upload(sender: &User, package_id: &str, blob_idx: i64, length: i64) -> Upload {
    Upload {
        id: format!("{package_id}.{blob_idx}"),
        package_id: package_id.into(),
        blob_idx,
        user_id: sender.id,
        length,
        offset: 0,
        expires_at: now() + 86_400,
    }
}

/// Uploads every blob of a package (an upload each, made whole) and finalizes it.
async fn upload_all_and_finalize(store: &dyn MetaStore, sender: &User, id: &str) {
    for blob in store.blobs(id).await.unwrap() {
        let u = upload(sender, id, blob.idx, blob.size);
        store.create_upload(&u, accept()).await.unwrap();
        store.complete_upload(&u.id, event(sender.org_id, "uploaded", "user", Some(id))).await.unwrap();
    }
    let verifiers = Verifiers { access: [1; 32], link: [2; 32] };
    match store.finalize(id, verifiers, event(sender.org_id, "finalized", "user", Some(id))).await.unwrap() {
        Finalized::Done(_) => {}
        Finalized::Missing(m) => panic!("{id}: blobs {m:?} not complete"),
    }
}

async fn event_names(store: &dyn MetaStore, package_id: &str) -> Vec<String> {
    store.events(package_id, 0, 100).await.unwrap().into_iter().map(|r| r.event).collect()
}

/// What an address sorts as on both backends: its ASCII letters lower-cased
/// (SQLite's NOCASE, PostgreSQL's citext), then byte by byte (COLLATE "C").
fn address_order(a: &&str, b: &&str) -> std::cmp::Ordering {
    a.to_ascii_lowercase().as_bytes().cmp(b.to_ascii_lowercase().as_bytes())
}

// Organisations, users, tokens.

async fn one_user_per_address_in_any_ascii_case(store: &dyn MetaStore) {
    let org = organisation(store, "casing").await;
    let other = organisation(store, "casing-other").await;
    let found = store.organisation(org).await.unwrap().expect("made");
    assert_eq!((found.name.as_str(), found.domains.as_slice()), ("casing", &["casing.example".to_string()][..]));
    assert_eq!(store.organisation_of_domain("casing.example").await.unwrap().map(|o| o.id), Some(org));
    assert_eq!(store.organisation_of_domain("CASING.example").await.unwrap().map(|o| o.id), Some(org));
    assert!(store.organisation_of_domain("casing.example.org").await.unwrap().is_none());

    let ann = user(store, org, "ann@casing.example").await;
    assert_eq!((ann.org_id, ann.role, ann.name.as_deref()), (org, Role::User, None));
    // The same address in other case is the same user, made active again with what is given.
    let again =
        NewUser { org_id: org, email: "Ann@CASING.example".into(), name: Some("Ann".into()), role: Some(Role::Admin) };
    let again = store.add_user(again).await.unwrap().expect("the same organisation");
    assert_eq!((again.id, again.email.as_str()), (ann.id, "ann@casing.example"), "one user per address");
    assert_eq!((again.name.as_deref(), again.role), (Some("Ann"), Role::Admin));
    assert_eq!(store.user_by_email("ANN@casing.example").await.unwrap().map(|u| u.id), Some(ann.id));
    let elsewhere = NewUser { org_id: other, email: "ann@casing.example".into(), name: None, role: None };
    assert!(store.add_user(elsewhere).await.unwrap().is_none(), "an address belongs to one organisation");

    // Other text comes back as it went in.
    let emile = user(store, org, "émile.ßtraße@casing.example").await;
    assert_eq!(emile.email, "émile.ßtraße@casing.example");
    assert_eq!(store.user_by_email("émile.ßtraße@casing.example").await.unwrap().map(|u| u.id), Some(emile.id));
    assert_eq!(store.user(emile.id).await.unwrap().map(|u| u.email), Some(emile.email.clone()));
}

async fn tokens_live_until_revoked_expired_or_unused(store: &dyn MetaStore) {
    let org = organisation(store, "tokens").await;
    let tom = user(store, org, "tom@tokens.example").await;
    let eve = user(store, org, "eve@tokens.example").await;
    let laptop = store.create_token(tom.id, "hash-a", "laptop", 1000, None).await.unwrap();
    let session = store.create_token(tom.id, "hash-b", "session", 1000, Some(5000)).await.unwrap();
    let old = store.create_token(tom.id, "hash-c", "old", 500, None).await.unwrap();
    let listed: Vec<i64> = store.tokens(tom.id, 1100, 0).await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(listed, [session, laptop, old], "newest first, ties by id");

    let (who, token) = store.use_token("hash-a", 1010, 0).await.unwrap().expect("live");
    assert_eq!((who.id, token), (tom.id, laptop));
    assert!(store.use_token("HASH-A", 1010, 0).await.unwrap().is_none(), "hashes compare byte by byte");
    let last_used = |ts: &[crate::store::TokenRecord]| ts.iter().find(|t| t.id == laptop).and_then(|t| t.last_used_at);
    assert_eq!(last_used(&store.tokens(tom.id, 1100, 0).await.unwrap()), Some(1010));
    store.use_token("hash-a", 1050, 0).await.unwrap().expect("live");
    assert_eq!(last_used(&store.tokens(tom.id, 1100, 0).await.unwrap()), Some(1010), "recorded to the minute");
    store.use_token("hash-a", 1071, 0).await.unwrap().expect("live");
    assert_eq!(last_used(&store.tokens(tom.id, 1100, 0).await.unwrap()), Some(1071));

    assert!(store.use_token("hash-b", 4999, 0).await.unwrap().is_some());
    assert!(store.use_token("hash-b", 5000, 0).await.unwrap().is_none(), "its session ended");
    assert!(store.use_token("hash-c", 1100, 600).await.unwrap().is_none(), "unused since before 600");
    assert!(store.use_token("hash-c", 1100, 400).await.unwrap().is_some());

    assert!(!store.revoke_token(eve.id, laptop, 1200).await.unwrap(), "not eve's token");
    assert!(store.revoke_token(tom.id, laptop, 1200).await.unwrap());
    assert!(!store.revoke_token(tom.id, laptop, 1201).await.unwrap(), "revoked once");
    assert!(store.use_token("hash-a", 1202, 0).await.unwrap().is_none());
    let listed: Vec<i64> = store.tokens(tom.id, 1300, 0).await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(listed, [session, old]);
}

async fn a_refused_user_change_writes_nothing(store: &dyn MetaStore) {
    let org = organisation(store, "change").await;
    let other = organisation(store, "change-other").await;
    let new = NewUser { org_id: org, email: "root@change.example".into(), name: None, role: Some(Role::Admin) };
    let root = store.add_user(new).await.unwrap().unwrap();
    let ursula = user(store, org, "ursula@change.example").await;
    let stranger = user(store, other, "stranger@change-other.example").await;
    store.create_token(stranger.id, "stranger-token", "t", now(), None).await.unwrap();
    store.create_token(root.id, "root-token", "t", now(), None).await.unwrap();
    store.create_token(ursula.id, "ursula-token", "t", now(), None).await.unwrap();

    // Every part of the change is undone when the rule refuses: the role, the name, the tokens.
    let last_admin: Rule<i64> = Box::new(|admins: &i64| match admins {
        0 => Err(crate::domain::invalid("last_admin", "An organisation keeps an admin.")),
        _ => Ok(()),
    });
    let change =
        UserChange { name: Some(Some("Root".into())), role: Some(Role::User), disabled: Some(true), remove: false };
    let e = refused(store.change_user(org, root.id, change, last_admin).await, "demoting the last admin");
    assert!(matches!(e, DomainError::Invalid { code: "last_admin", .. }), "{e:?}");
    let kept = store.org_user(org, root.id).await.unwrap().expect("still there");
    assert_eq!((kept.user.role, kept.user.name.as_deref(), kept.disabled), (Role::Admin, None, false));
    assert!(store.use_token("root-token", now(), 0).await.unwrap().is_some(), "its token was not revoked");

    // Accepted: disabling revokes the tokens in the same unit.
    let seen = Arc::new(Mutex::new(None));
    let change = UserChange { disabled: Some(true), ..Default::default() };
    let changed = store.change_user(org, ursula.id, change, watch(&seen, false)).await.unwrap().expect("listed");
    assert!(changed.disabled);
    assert_eq!(*seen.lock().unwrap(), Some(1), "one active admin left");
    assert!(store.use_token("ursula-token", now(), 0).await.unwrap().is_none());
    assert!(store.user_by_email("ursula@change.example").await.unwrap().is_none());
    let stats = store.org_stats(org, 0).await.unwrap();
    assert_eq!((stats.active_users, stats.admins, stats.disabled_users), (1, 1, 1));

    // Scoped by organisation: a user of another is not changed.
    let change = UserChange { disabled: Some(true), ..Default::default() };
    assert!(store.change_user(org, stranger.id, change, accept()).await.unwrap().is_none());
    assert!(store.user(stranger.id).await.unwrap().is_some(), "another organisation's user is left alone");
    assert!(store.use_token("stranger-token", now(), 0).await.unwrap().is_some(), "and so are their tokens");

    // Removed: not listed; adding the address again brings the same user back.
    let change = UserChange { remove: true, ..Default::default() };
    assert!(store.change_user(org, ursula.id, change, accept()).await.unwrap().is_none());
    assert!(store.org_user(org, ursula.id).await.unwrap().is_none());
    let back = user(store, org, "ursula@change.example").await;
    assert_eq!(back.id, ursula.id);
}

async fn user_pages_sort_addresses_byte_by_byte(store: &dyn MetaStore) {
    let org = organisation(store, "order").await;
    let mut emails = vec![
        "zz@order.example",
        "a_b@order.example",
        "é@order.example",
        "ab@order.example",
        "Mia@order.example",
        "a.b@order.example",
        "_x@order.example",
        "a0@order.example",
        "z@order.example",
        "a-b@order.example",
        "b@order.example",
    ];
    for email in &emails {
        let role = (*email == "b@order.example").then_some(Role::Admin);
        store.add_user(NewUser { org_id: org, email: email.to_string(), name: None, role }).await.unwrap().unwrap();
    }
    emails.sort_by(address_order);
    let query = |after: Option<String>, search: Option<&str>, filter: UserFilter| UserQuery {
        org_id: org,
        search: search.map(str::to_string),
        filter,
        after,
        limit: 4,
    };
    let mut listed = Vec::new();
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.users(query(after.clone(), None, UserFilter::All)).await.unwrap();
        if page.is_empty() {
            break;
        }
        pages.push(page.len());
        after = page.last().map(|u| u.user.email.clone());
        listed.extend(page.into_iter().map(|u| u.user.email));
    }
    assert_eq!(listed, emails, "by address, byte by byte, ASCII case folded");
    assert_eq!(pages, [4, 4, 3]);
    let search = |s: &'static str| {
        let q = query(None, Some(s), UserFilter::All);
        async move { store.users(q).await.unwrap().into_iter().map(|u| u.user.email).collect::<Vec<_>>() }
    };
    assert_eq!(search("a_b").await, ["a_b@order.example"], "`_` is a character, not a wildcard");
    assert_eq!(search("A.B").await, ["a.b@order.example"], "searches ignore ASCII case");
    assert!(search("%").await.is_empty(), "`%` is a character, not a wildcard");
    let admins = store.users(query(None, None, UserFilter::Admins)).await.unwrap();
    assert_eq!(admins.iter().map(|u| u.user.email.as_str()).collect::<Vec<_>>(), ["b@order.example"]);
}

async fn package_pages_are_newest_first_with_ties_by_id_byte_by_byte(store: &dyn MetaStore) {
    let org = organisation(store, "pages").await;
    let sender = user(store, org, "sender@pages.example").await;
    let other = user(store, org, "other@pages.example").await;
    // Ids are base64url: upper and lower case, digits, `-` and `_`, all different ids.
    let mut made: Vec<(i64, &str)> = vec![
        (1000, "pB"),
        (1000, "pa"),
        (2000, "n1"),
        (1000, "pA"),
        (1000, "p_"),
        (500, "z9"),
        (1000, "p-"),
        (1000, "pb"),
        (1000, "p0"),
    ];
    for (at, id) in &made {
        create(store, &sender, package(&sender, id, *at, &[100])).await;
    }
    create(store, &other, package(&other, "p-other", 1500, &[100])).await;
    made.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.as_bytes().cmp(a.1.as_bytes())));
    let newest_first: Vec<&str> = made.iter().map(|(_, id)| *id).collect();
    assert_eq!(store.package("pA").await.unwrap().map(|p| p.id), Some("pA".to_string()));
    assert_eq!(store.package("pa").await.unwrap().map(|p| p.id), Some("pa".to_string()));

    let mut listed = Vec::new();
    let mut after: Option<PackageCursor> = None;
    loop {
        let page = store.packages_page(sender.id, org, after.clone(), 4).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(PackageCursor { created_at: last.package.created_at, id: last.package.id.clone() });
        listed.extend(page.into_iter().map(|r| r.package.id));
    }
    assert_eq!(listed, newest_first, "the sender's packages, newest first, ties by id");

    // The admin's list: every sender's, in the same order.
    let mut everyone: Vec<(i64, &str)> = made.clone();
    everyone.push((1500, "p-other"));
    everyone.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.as_bytes().cmp(a.1.as_bytes())));
    let mut listed = Vec::new();
    let mut before: Option<PackageCursor> = None;
    loop {
        let page = store.org_packages(org, before.clone(), 3).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some(PackageCursor { created_at: last.record.package.created_at, id: last.record.package.id.clone() });
        listed.extend(page.into_iter().map(|p| (p.record.package.id, p.sender)));
    }
    let expected: Vec<(String, String)> = everyone
        .iter()
        .map(|(_, id)| (id.to_string(), if *id == "p-other" { &other } else { &sender }.email.clone()))
        .collect();
    assert_eq!(listed, expected);

    // Complete blobs (backups, exports) by package id, byte by byte, then index.
    for (_, id) in &everyone {
        let s = if *id == "p-other" { &other } else { &sender };
        let u = upload(s, id, 0, 100);
        store.create_upload(&u, accept()).await.unwrap();
        store.complete_upload(&u.id, event(org, "uploaded", "user", Some(id))).await.unwrap();
    }
    let mut by_id: Vec<&str> = everyone.iter().map(|(_, id)| *id).collect();
    by_id.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut listed = Vec::new();
    let mut after: Option<(String, i64)> = None;
    loop {
        let page = store.complete_blobs(Some(org), false, after.clone(), 4).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.package_id.clone(), last.idx));
        listed.extend(page.into_iter().map(|b| b.package_id));
    }
    assert_eq!(listed, by_id);
}

// Uploads.

async fn an_upload_has_one_writer_at_a_time(store: &dyn MetaStore) {
    let org = organisation(store, "leases").await;
    let sender = user(store, org, "writer@leases.example").await;
    create(store, &sender, package(&sender, "lease-pkg", 1000, &[100])).await;
    let u = upload(&sender, "lease-pkg", 0, 100);
    assert!(store.create_upload(&u, accept()).await.unwrap().is_none());

    let Lease::Acquired(got) = store.acquire_lease(&u.id, "a", 1030, 1000).await.unwrap() else {
        panic!("a free lease is taken")
    };
    assert_eq!((got.id.as_str(), got.offset, got.length), (u.id.as_str(), 0, 100));
    assert!(matches!(store.acquire_lease(&u.id, "b", 1040, 1010).await.unwrap(), Lease::Busy { until: 1030 }));
    // Recording an offset renews the lease.
    assert!(store.record_offset(&u.id, "a", 10, 9_000, 1060).await.unwrap());
    let recorded = store.upload(&u.id).await.unwrap().unwrap();
    assert_eq!((recorded.offset, recorded.expires_at), (10, 9_000));
    assert!(matches!(store.acquire_lease(&u.id, "b", 1070, 1040).await.unwrap(), Lease::Busy { until: 1060 }));

    // Released: the next writer takes it, and the one before may record no more.
    store.release_lease(&u.id, "a").await.unwrap();
    let Lease::Acquired(got) = store.acquire_lease(&u.id, "b", 1071, 1041).await.unwrap() else {
        panic!("a released lease is taken")
    };
    assert_eq!(got.offset, 10);
    assert!(!store.record_offset(&u.id, "a", 50, 9_000, 1100).await.unwrap(), "the lease was lost");
    assert_eq!(store.upload(&u.id).await.unwrap().unwrap().offset, 10, "a lost lease records nothing");
    store.release_lease(&u.id, "a").await.unwrap();
    assert!(
        matches!(store.acquire_lease(&u.id, "c", 1080, 1042).await.unwrap(), Lease::Busy { until: 1071 }),
        "only its holder releases a lease"
    );

    // Lapsed: taken over at its end, and its holder is out.
    let Lease::Acquired(_) = store.acquire_lease(&u.id, "c", 1101, 1071).await.unwrap() else {
        panic!("a lapsed lease is taken over")
    };
    assert!(!store.record_offset(&u.id, "b", 20, 9_000, 1130).await.unwrap());
    assert!(store.record_offset(&u.id, "c", 20, 9_000, 1130).await.unwrap());
    assert_eq!(store.upload(&u.id).await.unwrap().unwrap().offset, 20);

    assert!(matches!(store.acquire_lease("no-such-upload", "a", 1030, 1000).await.unwrap(), Lease::Missing));
    assert!(!store.record_offset("no-such-upload", "a", 1, 9_000, 1030).await.unwrap());
}

async fn quotas_see_the_usage_and_refuse_with_nothing_written(store: &dyn MetaStore) {
    let org = organisation(store, "quota").await;
    let sender = user(store, org, "q@quota.example").await;
    let seen: Arc<Mutex<Option<Usage>>> = Arc::new(Mutex::new(None));
    let usage = |seen: &Arc<Mutex<Option<Usage>>>| {
        let u = seen.lock().unwrap().expect("the rule ran");
        (u.reserved_bytes, u.unfinished_packages, u.open_uploads)
    };
    let created = |id: &str| event(org, "created", "user:q@quota.example", Some(id));

    // A package: the rule sees the sender's uploading packages with this one.
    let first = package(&sender, "quota-1", 1000, &[100, 200]);
    store.create_package(first, watch(&seen, false), created("quota-1")).await.unwrap();
    assert_eq!(usage(&seen), (300, 1, 0));
    let second = package(&sender, "quota-2", 1001, &[50]);
    let e = refused(store.create_package(second, watch(&seen, true), created("quota-2")).await, "create_package");
    assert!(matches!(e, DomainError::Quota { .. }), "{e:?}");
    assert_eq!(usage(&seen), (350, 2, 0));
    assert!(store.package("quota-2").await.unwrap().is_none(), "a refused package is not made");
    assert!(store.events("quota-2", 0, 10).await.unwrap().is_empty(), "nor its event recorded");

    // Uploads: each open one counts; one for the same blob replaces it.
    let u0 = upload(&sender, "quota-1", 0, 100);
    assert!(store.create_upload(&u0, watch(&seen, false)).await.unwrap().is_none());
    assert_eq!(usage(&seen), (300, 1, 1));
    let again = Upload { id: "quota-1.0-again".into(), ..u0.clone() };
    let e = refused(store.create_upload(&again, watch(&seen, true)).await, "create_upload");
    assert!(matches!(e, DomainError::Quota { quota: Quota::OpenUploads, .. }), "{e:?}");
    assert_eq!(usage(&seen).2, 1, "the upload it would replace is counted once");
    assert!(store.upload(&again.id).await.unwrap().is_none(), "a refused upload is not made");
    assert!(store.upload(&u0.id).await.unwrap().is_some(), "nor the one before it dropped");
    assert_eq!(store.create_upload(&again, accept()).await.unwrap(), Some(u0.id.clone()), "replaced");
    assert!(store.upload(&u0.id).await.unwrap().is_none());
    let ids: Vec<String> = store.uploads_of_package("quota-1").await.unwrap().into_iter().map(|u| u.id).collect();
    assert_eq!(ids, std::slice::from_ref(&again.id));

    // An upload whose every byte is recorded is no longer open.
    let Lease::Acquired(_) = store.acquire_lease(&again.id, "w", now() + 60, now()).await.unwrap() else {
        panic!("free")
    };
    assert!(store.record_offset(&again.id, "w", 100, now() + 86_400, now() + 60).await.unwrap());
    let u1 = upload(&sender, "quota-1", 1, 200);
    store.create_upload(&u1, watch(&seen, false)).await.unwrap();
    assert_eq!(usage(&seen).2, 1, "only the new upload is open");

    // An ended package reserves nothing.
    assert!(
        store
            .end_package("quota-1", PackageState::Revoked, event(org, "revoked", "user", Some("quota-1")))
            .await
            .unwrap()
    );
    let third = package(&sender, "quota-3", 1002, &[10]);
    store.create_package(third, watch(&seen, false), created("quota-3")).await.unwrap();
    assert_eq!(usage(&seen).0, 10);
    assert_eq!(usage(&seen).1, 1);
    let abandoned: Vec<String> = store.abandoned_uploads(now()).await.unwrap().into_iter().map(|u| u.id).collect();
    assert!(
        abandoned.contains(&again.id) && abandoned.contains(&u1.id),
        "an ended package's uploads go: {abandoned:?}"
    );
}

async fn complete_upload_marks_its_blob_once_and_keeps_the_upload(store: &dyn MetaStore) {
    let org = organisation(store, "complete").await;
    let sender = user(store, org, "c@complete.example").await;
    create(store, &sender, package(&sender, "whole", 1000, &[100, 200])).await;
    let (u0, u1) = (upload(&sender, "whole", 0, 100), upload(&sender, "whole", 1, 200));
    store.create_upload(&u0, accept()).await.unwrap();
    store.create_upload(&u1, accept()).await.unwrap();
    let verifiers = Verifiers { access: [3; 32], link: [4; 32] };
    let finalized = || event(org, "finalized", "user:c@complete.example", Some("whole"));
    let missing = |f: Finalized| match f {
        Finalized::Missing(m) => m,
        Finalized::Done(_) => panic!("finalized with blobs missing"),
    };
    assert_eq!(missing(store.finalize("whole", verifiers, finalized()).await.unwrap()), [0, 1]);

    let uploaded = || event(org, "uploaded", "user:c@complete.example", Some("whole"));
    store.complete_upload(&u0.id, uploaded()).await.unwrap();
    store.complete_upload(&u0.id, uploaded()).await.unwrap();
    store.complete_upload("no-such-upload", uploaded()).await.unwrap();
    let complete: Vec<bool> = store.blobs("whole").await.unwrap().iter().map(|b| b.complete).collect();
    assert_eq!(complete, [true, false]);
    assert_eq!(event_names(store, "whole").await, ["created", "uploaded"], "recorded once");
    assert!(store.upload(&u0.id).await.unwrap().is_some(), "the upload stays until it expires");
    assert_eq!(missing(store.finalize("whole", verifiers, finalized()).await.unwrap()), [1]);

    store.complete_upload(&u1.id, uploaded()).await.unwrap();
    let Finalized::Done(record) = store.finalize("whole", verifiers, finalized()).await.unwrap() else {
        panic!("every blob is complete")
    };
    assert_eq!(record.package.state, PackageState::Ready);
    assert_eq!(record.package.access_verifier.as_deref(), Some(&[3u8; 32][..]));
    assert_eq!(record.package.link_verifier.as_deref(), Some(&[4u8; 32][..]));
    assert!(record.blobs.iter().all(|b| b.complete));
    let Finalized::Done(_) = store.finalize("whole", verifiers, finalized()).await.unwrap() else {
        panic!("finalizing again is harmless")
    };
    assert_eq!(event_names(store, "whole").await, ["created", "uploaded", "uploaded", "finalized"]);
    assert_eq!(store.uploads_of_package("whole").await.unwrap().len(), 2);

    // A package's events page by position.
    let all = store.events("whole", 0, 100).await.unwrap();
    let page = store.events("whole", all[0].id, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [all[1].id, all[2].id]);
}

// Downloads.

async fn downloads_are_counted_up_to_the_limit_never_past(store: &dyn MetaStore) {
    let org = organisation(store, "downloads").await;
    let sender = user(store, org, "d@downloads.example").await;
    let mut new = package(&sender, "limited", 1000, &[100, 200]);
    new.max_downloads = Some(2);
    new.notify_on_download = true;
    new.recipients = vec!["carol@r.example".into(), "bob@r.example".into(), "BOB@r.example".into()];
    create(store, &sender, new).await;
    let record = store.package_record("limited").await.unwrap().unwrap();
    assert_eq!(record.recipients, ["bob@r.example", "carol@r.example"], "one of each address, in order");
    assert!(store.is_recipient("limited", "Bob@R.example").await.unwrap());
    assert!(!store.is_recipient("limited", "dave@r.example").await.unwrap());

    let expires_at = record.package.expires_at;
    let grant = move |hash: String| async move {
        let accessed = event(org, "accessed", "recipient", Some("limited"));
        store.grant_access("limited", available(), &hash, None, expires_at + 10, accessed).await
    };
    let e = refused(grant("early".into()).await, "a package still uploading");
    assert!(matches!(e, DomainError::Unavailable(Unavailable::NotReady)), "{e:?}");
    upload_all_and_finalize(store, &sender, "limited").await;

    // Five recipients at once for two downloads.
    let results: Vec<StoreResult<Grant>> = join_all((0..5).map(|i| grant(format!("session-{i}")))).await;
    let mut granted = Vec::new();
    let mut notified = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(g) => {
                granted.push(format!("session-{i}"));
                assert_eq!(g.blobs.len(), 2);
                assert_eq!(g.package.server_share.as_deref(), Some(&[7u8; 32][..]));
                notified.extend(g.notify);
            }
            Err(StoreError::Refused(e)) => {
                assert!(matches!(*e, DomainError::Unavailable(Unavailable::LimitReached)), "{e:?}")
            }
            Err(e) => panic!("grant {i}: {e}"),
        }
    }
    assert_eq!(granted.len(), 2, "two downloads allowed");
    assert_eq!(store.package("limited").await.unwrap().unwrap().downloads, 2, "never past max_downloads");
    let recipients = vec!["bob@r.example".to_string(), "carol@r.example".to_string()];
    assert_eq!(notified, [("d@downloads.example".to_string(), recipients)], "the sender is told once");
    for i in 0..5 {
        let hash = format!("session-{i}");
        let open = store.session(&hash, "limited", now()).await.unwrap();
        assert_eq!(open, granted.contains(&hash).then_some(None), "{hash}: a session only for a grant");
    }
    let first = &granted[0];
    assert!(store.session(first, "limited", expires_at - 1).await.unwrap().is_some());
    assert!(store.session(first, "limited", expires_at).await.unwrap().is_none(), "no longer than the package");
    assert!(store.session(first, "other", now()).await.unwrap().is_none(), "for this package only");
    let names = event_names(store, "limited").await;
    assert_eq!(names.iter().filter(|e| *e == "accessed").count(), 2);

    // What recipients did, counted from the audit log.
    for detail in ["blob 1, 200 bytes", "blob 0, 100 bytes", "blob 1, 200 bytes"] {
        let mut e = event(org, "downloaded", "recipient:bob@r.example", Some("limited"));
        e.detail = Some(detail.into());
        store.record(e).await.unwrap();
    }
    let activity: Vec<(String, String, Option<i64>, i64)> =
        store.activity("limited").await.unwrap().into_iter().map(|a| (a.event, a.actor, a.blob, a.count)).collect();
    let expected = [
        ("accessed", "recipient", None, 2),
        ("downloaded", "recipient:bob@r.example", Some(0), 1),
        ("downloaded", "recipient:bob@r.example", Some(1), 2),
    ];
    let expected: Vec<(String, String, Option<i64>, i64)> =
        expected.iter().map(|(e, a, b, n)| (e.to_string(), a.to_string(), *b, *n)).collect();
    assert_eq!(activity, expected);
    let (page, page_activity) = store.sent_page(sender.id, org, None, 10).await.unwrap();
    assert_eq!(page.iter().map(|r| r.package.id.as_str()).collect::<Vec<_>>(), ["limited"]);
    assert_eq!(page_activity.len(), 3);

    // Ended: S is gone and nothing more is granted.
    let revoked = || event(org, "revoked", "user:d@downloads.example", Some("limited"));
    assert!(store.end_package("limited", PackageState::Revoked, revoked()).await.unwrap());
    assert!(!store.end_package("limited", PackageState::Expired, revoked()).await.unwrap(), "ended once");
    let ended = store.package("limited").await.unwrap().unwrap();
    assert_eq!((ended.state, ended.server_share), (PackageState::Revoked, None));
    let e = refused(grant("late".into()).await, "a revoked package");
    assert!(matches!(e, DomainError::Unavailable(Unavailable::Revoked)), "{e:?}");
    assert_eq!(event_names(store, "limited").await.iter().filter(|e| *e == "revoked").count(), 1);
    assert!(store.ended_with_blobs().await.unwrap().contains(&"limited".to_string()));
}

// Codes and counters.

async fn codes_are_spent_once_and_failures_counted_per_key(store: &dyn MetaStore) {
    let org = organisation(store, "codes").await;
    let sender = user(store, org, "s@codes.example").await;
    create(store, &sender, package(&sender, "coded", 1000, &[100])).await;
    let key = |scope: &str, email: &str| CodeKey { purpose: "verify", scope: scope.into(), email: email.into() };
    let k = key("coded", "bob@codes.example");
    assert!(store.code(&k).await.unwrap().is_none());
    store.put_code(&k, "h1", 500).await.unwrap();
    store.put_code(&k, "h2", 600).await.unwrap();
    let stored = store.code(&k).await.unwrap().expect("put");
    assert_eq!((stored.hash.as_str(), stored.expires_at), ("h2", 600), "a new code replaces the one before");
    let shouted = store.code(&key("coded", "BOB@Codes.example")).await.unwrap();
    assert_eq!(shouted.map(|c| c.hash), Some("h2".into()), "addresses ignore ASCII case");
    assert!(store.code(&key("CODED", "bob@codes.example")).await.unwrap().is_none(), "ids compare byte by byte");
    assert!(!store.spend_code(&k, "h1").await.unwrap(), "the replaced code is spent no more");
    assert!(store.spend_code(&k, "h2").await.unwrap());
    assert!(!store.spend_code(&k, "h2").await.unwrap(), "spent once");
    assert!(store.code(&k).await.unwrap().is_none());

    let c = |key: &str, window_start: i64| Counter { key: key.into(), window_start };
    let (a, b) = (c("proof:coded", 0), c("client:192.0.2.7", 3600));
    assert_eq!(store.count_failure(&[a.clone(), b.clone()], 3700).await.unwrap(), [1, 1]);
    assert_eq!(store.count_failure(&[a.clone(), b.clone()], 3701).await.unwrap(), [2, 2]);
    assert_eq!(store.count_failure(std::slice::from_ref(&b), 3702).await.unwrap(), [3]);
    let read = [a.clone(), b.clone(), c("client:192.0.2.7", 7200), c("proof:CODED", 0), c("proof:other", 0)];
    assert_eq!(store.failures(&read).await.unwrap(), [2, 3, 0, 0, 0], "per key (byte by byte) and window");

    assert!(store.lock_verification("coded").await.unwrap());
    assert!(!store.lock_verification("coded").await.unwrap(), "locked once");
    assert!(store.package("coded").await.unwrap().unwrap().verification_locked);

    for at in [1000, 2000, 5000] {
        store.record_send("verify:coded:bob@codes.example", at).await.unwrap();
    }
    let history = store.send_history("verify:coded:bob@codes.example", 5500).await.unwrap();
    assert_eq!((history.last, history.count_last_hour, history.oldest_last_hour), (Some(5000), 2, Some(2000)));
    let none = store.send_history("verify:coded:BOB@codes.example", 5500).await.unwrap();
    assert_eq!((none.last, none.count_last_hour), (None, 0));
}

// The audit log.

async fn audit_events_chain_per_organisation(store: &dyn MetaStore) {
    let one = organisation(store, "chain-one").await;
    let two = organisation(store, "chain-two").await;
    let sender = user(store, one, "a@chain-one.example").await;
    let actor = |i: usize| format!("user:actor{i}@chain.example");
    store.record(event(one, "signed_in", &actor(0), None)).await.unwrap();
    store.record(event(two, "signed_in", &actor(1), None)).await.unwrap();
    let unknown = NewEvent {
        org_id: None,
        event: "sign_in_failed",
        actor: "client:192.0.2.1".into(),
        package_id: None,
        detail: None,
    };
    store.record(unknown).await.unwrap();
    create(store, &sender, package(&sender, "chained", 1000, &[100])).await;
    for i in 2..7 {
        let mut e = event(if i % 2 == 0 { one } else { two }, "accessed", &actor(i), Some("chained"));
        e.detail = (i % 3 == 0).then(|| format!("détail {i}"));
        store.record(e).await.unwrap();
    }

    let check = crate::domain::audit::verify(store).await.unwrap();
    assert!(check.intact(), "{check}");
    let heads = store.audit_heads().await.unwrap();
    assert!(heads.iter().any(|h| h.org_id.is_none()), "the rows of no organisation are a chain too");
    for org in [one, two] {
        let rows = store.audit_chain(Some(org), 0, None, 100).await.unwrap();
        assert_eq!(rows.len(), if org == one { 5 } else { 3 });
        assert_eq!(rows[0].prev_hash.as_deref(), Some(&crate::domain::audit::GENESIS[..]), "its own chain");
        for pair in rows.windows(2) {
            assert!(pair[0].id < pair[1].id);
            assert_eq!(pair[1].prev_hash, pair[0].hash, "row {} follows row {}", pair[1].id, pair[0].id);
        }
        let last = rows.last().unwrap();
        let head = heads.iter().find(|h| h.org_id == Some(org)).expect("a head per organisation");
        assert_eq!(head.head, Some((last.id, last.hash.clone().unwrap())));
        assert_eq!(head.anchor, None);
        let verified = check.heads.iter().find(|h| h.org_id == Some(org)).unwrap();
        assert_eq!((verified.rows, verified.last_id), (rows.len() as u64, last.id));
        // Bounded reads: after < id <= until.
        let middle = store.audit_chain(Some(org), rows[0].id, Some(last.id - 1), 100).await.unwrap();
        assert_eq!(
            middle.iter().map(|r| r.id).collect::<Vec<_>>(),
            rows[1..rows.len() - 1].iter().map(|r| r.id).collect::<Vec<_>>()
        );
    }
    let detail = store.audit_chain(Some(one), 0, None, 100).await.unwrap();
    assert!(detail.iter().any(|r| r.detail.as_deref() == Some("détail 6")), "text comes back as it went in");

    // The admin's log: newest first, in pages, filtered.
    let query = |before: Option<i64>| AuditQuery { org_id: one, before, limit: 2, ..Default::default() };
    let first = store.audit_page(query(None)).await.unwrap();
    let second = store.audit_page(query(Some(first[1].id))).await.unwrap();
    let ids: Vec<i64> = first.iter().chain(&second).map(|r| r.id).collect();
    let newest_first: Vec<i64> = detail.iter().rev().map(|r| r.id).take(4).collect();
    assert_eq!(ids, newest_first);
    let by_user =
        AuditQuery { org_id: one, user: Some("actor0@chain.example".into()), limit: 10, ..Default::default() };
    assert_eq!(store.audit_page(by_user).await.unwrap().len(), 1);
    let by_event = AuditQuery { org_id: two, event: Some("accessed".into()), limit: 10, ..Default::default() };
    assert_eq!(store.audit_page(by_event).await.unwrap().len(), 2);
}

async fn pruning_keeps_the_chain_verifiable(store: &dyn MetaStore) {
    let org = organisation(store, "prune").await;
    let other = organisation(store, "prune-other").await;
    for i in 0..3 {
        store.record(event(org, "signed_in", &format!("user:p{i}@prune.example"), None)).await.unwrap();
    }
    store.record(event(other, "signed_in", "user:o@prune-other.example", None)).await.unwrap();
    let before = store.audit_chain(Some(org), 0, None, 100).await.unwrap();
    let others = store.audit_chain(Some(other), 0, None, 100).await.unwrap();

    // What the store told the event: rows deleted, the first id kept, the anchor.
    type Told = Arc<Mutex<Option<(u64, i64, Vec<u8>)>>>;
    let seen: Told = Arc::new(Mutex::new(None));
    let pruned = |seen: &Told| {
        let seen = seen.clone();
        Box::new(move |count: u64, first_id: i64, anchor: Vec<u8>| {
            *seen.lock().unwrap() = Some((count, first_id, anchor.clone()));
            let mut e = event(org, "audit_pruned", "system", None);
            e.detail =
                Some(format!("{count} rows; the chain now starts at row {first_id}, after {}", hex::encode(anchor)));
            e
        }) as Box<dyn Fn(u64, i64, Vec<u8>) -> NewEvent + Send + Sync>
    };
    assert_eq!(store.prune_audit(org, 0, pruned(&seen)).await.unwrap(), 0, "nothing that old");
    assert!(seen.lock().unwrap().is_none(), "and nothing recorded");
    assert_eq!(store.audit_chain(Some(org), 0, None, 100).await.unwrap().len(), 3);

    assert_eq!(store.prune_audit(org, now() + 1, pruned(&seen)).await.unwrap(), 3);
    let last = before.last().unwrap();
    let (count, first_id, anchor) = seen.lock().unwrap().clone().expect("the event was made");
    assert_eq!((count, first_id, anchor.as_slice()), (3, last.id + 1, last.hash.as_deref().unwrap()));
    let after = store.audit_chain(Some(org), 0, None, 100).await.unwrap();
    assert_eq!(after.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(), ["audit_pruned"]);
    assert_eq!(after[0].prev_hash.as_deref(), Some(anchor.as_slice()), "the chain goes on from the anchor");
    let head = store.audit_heads().await.unwrap().into_iter().find(|h| h.org_id == Some(org)).unwrap();
    assert_eq!(head.anchor.as_deref(), Some(anchor.as_slice()));
    store.record(event(org, "signed_in", "user:p9@prune.example", None)).await.unwrap();
    let check = crate::domain::audit::verify(store).await.unwrap();
    assert!(check.intact(), "{check}");
    let kept: Vec<i64> = store.audit_chain(Some(other), 0, None, 100).await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(kept, others.iter().map(|r| r.id).collect::<Vec<_>>(), "another organisation's rows stay");
}

// Queues, leases, windows.

async fn mail_is_claimed_once_retried_after_failure_and_sent_once(store: &dyn MetaStore) {
    // Moments long past: mail queued by other scenarios (at the real time) is not due.
    let waiting = store.mail_queue_length().await.unwrap();
    store.enqueue_mail("a@mail.example", "Grüße", "één", 100).await.unwrap();
    store.enqueue_mail("b@mail.example", "second", "body", 101).await.unwrap();
    assert_eq!(store.mail_queue_length().await.unwrap(), waiting + 2);
    let first = store.claim_due_mail(100, 400).await.unwrap().expect("due");
    assert_eq!((first.to.as_str(), first.subject.as_str(), first.body.as_str()), ("a@mail.example", "Grüße", "één"));
    assert_eq!(first.attempts, 0);
    assert!(store.claim_due_mail(100, 400).await.unwrap().is_none(), "claimed, and the second is not due yet");
    let second = store.claim_due_mail(101, 401).await.unwrap().expect("due");
    assert_eq!(second.to, "b@mail.example");
    assert!(store.claim_due_mail(399, 699).await.unwrap().is_none(), "both claimed");

    store.mail_failed(first.id, Some(450), "timeout").await.unwrap();
    // The second's claim ran out unsent: due again, before the first's retry.
    let again = store.claim_due_mail(401, 701).await.unwrap().expect("due again");
    assert_eq!((again.id, again.attempts), (second.id, 0));
    store.mail_sent(again.id).await.unwrap();
    assert_eq!(store.mail_queue_length().await.unwrap(), waiting + 1);
    assert!(store.claim_due_mail(449, 749).await.unwrap().is_none(), "retried at its time, not before");
    let retried = store.claim_due_mail(450, 750).await.unwrap().expect("retried");
    assert_eq!((retried.id, retried.attempts), (first.id, 1));
    store.mail_failed(retried.id, None, "rejected").await.unwrap();
    assert_eq!(store.mail_queue_length().await.unwrap(), waiting, "given up: no longer waiting");
    assert!(store.claim_due_mail(10_000, 10_300).await.unwrap().is_none(), "neither is sent again");
}

async fn job_leases_are_one_holders_until_they_run_out(store: &dyn MetaStore) {
    assert!(store.take_job_lease("conformance", "a", 0, 10).await.unwrap());
    assert!(!store.take_job_lease("conformance", "b", 5, 15).await.unwrap(), "held by a");
    assert!(store.take_job_lease("conformance", "a", 5, 15).await.unwrap(), "renewed by its holder");
    assert!(store.take_job_lease("conformance-other", "b", 5, 15).await.unwrap(), "another job, another lease");
    assert!(!store.take_job_lease("conformance", "b", 14, 24).await.unwrap(), "until it runs out");
    assert!(store.take_job_lease("conformance", "b", 15, 25).await.unwrap(), "run out: taken over");
    assert!(!store.take_job_lease("conformance", "a", 16, 26).await.unwrap());
    // Many processes at once for a free lease: one gets it.
    let holders = ["p0", "p1", "p2", "p3", "p4", "p5"];
    let takes = join_all(holders.iter().map(|h| store.take_job_lease("conformance", h, 30, 40))).await;
    assert_eq!(takes.into_iter().map(Result::unwrap).filter(|t| *t).count(), 1);
}

async fn requests_are_counted_per_client_and_window(store: &dyn MetaStore) {
    assert_eq!(store.count_request("conf:AbC", 600).await.unwrap(), 1);
    assert_eq!(store.count_request("conf:AbC", 600).await.unwrap(), 2);
    assert_eq!(store.count_request("conf:abc", 600).await.unwrap(), 1, "clients compare byte by byte");
    assert_eq!(store.count_request("conf:AbC", 660).await.unwrap(), 1, "a new window starts at one");
    // Every request counted once, whatever runs at the same time.
    let mut counts: Vec<i64> = join_all((0..20).map(|_| store.count_request("conf:busy", 720)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<_>>());
    // Swept: windows older than two minutes are forgotten, later ones kept.
    store.sweep(779).await.unwrap();
    assert_eq!(store.count_request("conf:AbC", 600).await.unwrap(), 1);
    assert_eq!(store.count_request("conf:AbC", 660).await.unwrap(), 2);
}
