//! The S3 domain against a real KMS and a real store on disk: encryption at rest, versions,
//! listings, multipart, tamper detection and the start-up sweep.

use std::path::Path;
use std::sync::Arc;

use airlock_kms::{Caller, CreateKeyInput, Kms, MasterKey, SystemClock};
use airlock_policy::{Context, PolicySet, Principal};
use airlock_s3::checksum::ChecksumAlgorithm;
use airlock_s3::keys::SsePlan;
use airlock_s3::listing::{ListQuery, ListStart};
use airlock_s3::model::{ObjectMeta, SseAlgorithm, Versioning};
use airlock_s3::multipart::{CompletedPart, Completion, MIN_PART_SIZE, NewUpload};
use airlock_s3::objects::{NewObject, WriteCondition};
use airlock_s3::{Code, S3};
use airlock_store::{RedbStore, Store};

const ACCT: &str = "222222222222";

struct Env {
    s3: S3,
    kms: Arc<Kms>,
    _dir: tempfile::TempDir,
}

fn master() -> MasterKey {
    MasterKey::from_bytes(&[7u8; 32])
}

fn open(dir: &Path) -> (S3, Arc<Kms>) {
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.join("state.redb")).unwrap());
    let kms =
        Arc::new(Kms::open(store.clone(), master(), "us-east-1", Arc::new(SystemClock)).unwrap());
    let s3 = S3::open(store, &dir.join("s3"), kms.clone(), &[9u8; 32]).unwrap();
    (s3, kms)
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (s3, kms) = open(dir.path());
    Env { s3, kms, _dir: dir }
}

fn root() -> Caller {
    Caller::new(
        Principal::Root {
            account: ACCT.into(),
        },
        PolicySet::default(),
        Context::new(),
    )
    .via_service("s3.us-east-1.amazonaws.com")
}

fn plan(alg: SseAlgorithm, key: Option<&str>, bucket_key: bool) -> SsePlan {
    SsePlan {
        algorithm: alg,
        kms_key_id: key.map(str::to_string),
        bucket_key,
        extra_context: Default::default(),
        context_header: None,
    }
}

async fn put(
    e: &S3,
    bucket: &str,
    key: &str,
    data: &[u8],
    p: &SsePlan,
) -> airlock_s3::model::ObjectVersion {
    let b = e.existing_bucket(bucket).unwrap();
    let mut w = e
        .begin_write(&root(), &b.record, key, data.len() as u64, p, false)
        .unwrap();
    for c in data.chunks(10_000) {
        w.write(c).unwrap();
    }
    let staged = w.finish().unwrap();
    e.commit_object(
        NewObject {
            bucket: bucket.into(),
            key: key.into(),
            owner: ACCT.into(),
            meta: ObjectMeta::default(),
            tags: vec![],
            checksum: None,
            condition: WriteCondition::default(),
        },
        staged,
        None,
    )
    .await
    .unwrap()
}

fn get(e: &S3, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
    let (v, r) = e.open_object(&root(), bucket, key, version).unwrap();
    r.read_to_bytes(0, v.size).unwrap().to_vec()
}

/// `[start, end)` read by `stride` threads at once, one stripe each, merged round robin.
fn striped(r: &airlock_s3::objects::ObjectReader, start: u64, end: u64, stride: u64) -> Vec<u8> {
    use airlock_s3::crypto::Stripe;
    let pool = airlock_s3::pool::BufferPool::default();
    let lists: Vec<Vec<bytes::Bytes>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..stride)
            .map(|phase| {
                let pool = &pool;
                scope.spawn(move || {
                    let mut got = Vec::new();
                    r.read_stripe(start, end, Stripe { phase, stride }, pool, |b| {
                        got.push(b);
                        Ok(())
                    })
                    .unwrap();
                    got
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut iters: Vec<_> = lists.into_iter().map(|l| l.into_iter()).collect();
    let mut out = Vec::new();
    let mut turn = 0;
    while let Some(b) = iters[turn].next() {
        out.extend_from_slice(&b);
        turn = (turn + 1) % iters.len();
    }
    for (phase, rest) in iters.iter_mut().enumerate() {
        assert!(
            rest.next().is_none(),
            "stripe {phase} of {stride} has batches left over"
        );
    }
    out
}

fn completion(bucket: &str, key: &str, upload_id: &str, parts: Vec<CompletedPart>) -> Completion {
    Completion {
        bucket: bucket.into(),
        key: key.into(),
        upload_id: upload_id.into(),
        parts,
        condition: WriteCondition::default(),
        checksum: None,
        full_object: None,
        object_size: None,
        caller: "arn:aws:iam::222222222222:root".into(),
    }
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn scan_dir(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in walk(dir) {
        if let Ok(bytes) = std::fs::read(&entry)
            && contains(&bytes, needle)
        {
            hits.push(entry.display().to_string());
        }
    }
    hits
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_s3_and_sse_kms_round_trip_and_nothing_is_plaintext_on_disk() {
    let e = env();
    e.s3.create_bucket(ACCT, "bucket-one", "us-east-1", None)
        .await
        .unwrap();
    let key = e
        .kms
        .create_key(
            &Caller::new(
                Principal::Root {
                    account: ACCT.into(),
                },
                PolicySet::default(),
                Context::new(),
            ),
            CreateKeyInput::default(),
        )
        .unwrap();
    let marker = b"PLAINTEXT-MARKER-7f3a9c";
    let mut small = marker.to_vec();
    small.extend(data(1000, 1));
    let mut large = data(300_000, 2);
    large[150_000..150_000 + marker.len()].copy_from_slice(marker);

    let a = put(
        &e.s3,
        "bucket-one",
        "small-s3",
        &small,
        &plan(SseAlgorithm::Aes256, None, false),
    )
    .await;
    assert_eq!(
        a.etag,
        airlock_s3::crypto::hex(&airlock_s3::checksum::md5(&small)),
        "SSE-S3 ETag is the MD5"
    );
    let b = put(
        &e.s3,
        "bucket-one",
        "large-kms",
        &large,
        &plan(SseAlgorithm::AwsKms, Some(&key.arn), false),
    )
    .await;
    assert_eq!(
        b.sse.as_ref().unwrap().kms_key_arn.as_deref(),
        Some(key.arn.as_str())
    );
    assert_eq!(
        b.sse.as_ref().unwrap().context.get("aws:s3:arn").unwrap(),
        "arn:aws:s3:::bucket-one/large-kms"
    );
    let c = put(
        &e.s3,
        "bucket-one",
        "large-bucket-key",
        &large,
        &plan(SseAlgorithm::AwsKms, Some(&key.key_id), true),
    )
    .await;
    assert_eq!(
        c.sse.as_ref().unwrap().context.get("aws:s3:arn").unwrap(),
        "arn:aws:s3:::bucket-one"
    );

    assert_eq!(get(&e.s3, "bucket-one", "small-s3", None), small);
    assert_eq!(get(&e.s3, "bucket-one", "large-kms", None), large);
    assert_eq!(get(&e.s3, "bucket-one", "large-bucket-key", None), large);
    // Ranges across chunk boundaries.
    let (_, r) =
        e.s3.open_object(&root(), "bucket-one", "large-kms", None)
            .unwrap();
    assert_eq!(
        &r.read_to_bytes(65_000, 140_000).unwrap(),
        &large[65_000..140_000]
    );

    assert!(
        scan_dir(e._dir.path(), marker).is_empty(),
        "plaintext found on disk"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_data_is_detected_and_not_served() {
    let e = env();
    e.s3.create_bucket(ACCT, "bucket-two", "us-east-1", None)
        .await
        .unwrap();
    let body = data(200_000, 3);
    let v = put(
        &e.s3,
        "bucket-two",
        "k",
        &body,
        &plan(SseAlgorithm::Aes256, None, false),
    )
    .await;
    let seg = &v.segments[0];
    assert!(!seg.inline);
    let path = e
        ._dir
        .path()
        .join("s3/objects")
        .join(&seg.id[..2])
        .join(&seg.id);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100_000] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let (_, r) = e.s3.open_object(&root(), "bucket-two", "k", None).unwrap();
    // The first chunk is intact and may be served; the tampered chunk is an error, never data.
    let mut served = Vec::new();
    let err = r
        .read_range(0, v.size, |b| {
            served.extend_from_slice(b);
            Ok(())
        })
        .unwrap_err();
    assert_eq!(err.code, Code::InternalError);
    assert!(served.len() < 100_000);
    assert_eq!(&served[..], &body[..served.len()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn versioning_delete_markers_and_listing() {
    let e = env();
    e.s3.create_bucket(ACCT, "bucket-three", "us-east-1", None)
        .await
        .unwrap();
    let p = plan(SseAlgorithm::Aes256, None, false);
    put(&e.s3, "bucket-three", "a.txt", b"one", &p).await;
    put(&e.s3, "bucket-three", "a.txt", b"two", &p).await;
    assert_eq!(get(&e.s3, "bucket-three", "a.txt", None), b"two");
    // Unversioned: one version, `null`.
    let page =
        e.s3.list_versions("bucket-three", "", None, None, None, 100)
            .unwrap();
    assert_eq!(page.versions.len(), 1);
    assert_eq!(page.versions[0].0.version_id, "null");

    e.s3.update_bucket("bucket-three", |r, _| {
        r.versioning = Versioning::Enabled;
        Ok(())
    })
    .await
    .unwrap();
    let v3 = put(&e.s3, "bucket-three", "a.txt", b"three", &p).await;
    assert_ne!(v3.version_id, "null");
    let del =
        e.s3.delete_object("bucket-three", "a.txt", None)
            .await
            .unwrap();
    assert!(del.delete_marker);
    let err = e.s3.get_version("bucket-three", "a.txt", None).unwrap_err();
    assert_eq!(err.code, Code::NoSuchKey);
    assert!(
        err.headers
            .iter()
            .any(|(h, v)| *h == "x-amz-delete-marker" && v == "true")
    );
    assert_eq!(
        get(&e.s3, "bucket-three", "a.txt", Some(&v3.version_id)),
        b"three"
    );
    assert_eq!(get(&e.s3, "bucket-three", "a.txt", Some("null")), b"two");
    let err =
        e.s3.get_version("bucket-three", "a.txt", del.version_id.as_deref())
            .unwrap_err();
    assert_eq!(err.code, Code::MethodNotAllowed);
    let page =
        e.s3.list_versions("bucket-three", "", None, None, None, 100)
            .unwrap();
    let ids: Vec<(&str, bool, bool)> = page
        .versions
        .iter()
        .map(|(v, latest)| (v.version_id.as_str(), v.delete_marker, *latest))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids[0].1 && ids[0].2, "newest is the latest delete marker");
    assert_eq!(ids[2].0, "null");
    // Removing the marker restores the object.
    e.s3.delete_object("bucket-three", "a.txt", del.version_id.as_deref())
        .await
        .unwrap();
    assert_eq!(get(&e.s3, "bucket-three", "a.txt", None), b"three");
    // Not empty: refused.
    let err = e.s3.delete_bucket("bucket-three").await.unwrap_err();
    assert_eq!(err.code, Code::BucketNotEmpty);
    assert_eq!(
        e.s3.get_version("bucket-three", "a.txt", Some("bogus"))
            .unwrap_err()
            .code,
        Code::InvalidArgument
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_with_prefix_delimiter_and_pages() {
    let e = env();
    e.s3.create_bucket(ACCT, "bucket-four", "us-east-1", None)
        .await
        .unwrap();
    let p = plan(SseAlgorithm::Aes256, None, false);
    for k in ["a/1", "a/2", "b", "c/x/1", "c/y", "d"] {
        put(&e.s3, "bucket-four", k, k.as_bytes(), &p).await;
    }
    let q = ListQuery {
        prefix: String::new(),
        delimiter: Some("/".into()),
        start: None,
        max_keys: 1000,
    };
    let page = e.s3.list_objects("bucket-four", &q).unwrap();
    let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["b", "d"]);
    assert_eq!(page.prefixes, ["a/", "c/"]);
    // Paging two at a time visits each entry once.
    let mut seen = Vec::new();
    let mut start = None;
    loop {
        let q = ListQuery {
            prefix: String::new(),
            delimiter: Some("/".into()),
            start: start.clone(),
            max_keys: 2,
        };
        let page = e.s3.list_objects("bucket-four", &q).unwrap();
        seen.extend(page.objects.iter().map(|o| o.key.clone()));
        seen.extend(page.prefixes.clone());
        if !page.truncated {
            break;
        }
        start = page.last.clone();
    }
    seen.sort();
    assert_eq!(seen, ["a/", "b", "c/", "d"]);
    let q = ListQuery {
        prefix: "c/".into(),
        delimiter: None,
        start: Some(ListStart::Key("c/x/1".into())),
        max_keys: 10,
    };
    let page = e.s3.list_objects("bucket-four", &q).unwrap();
    assert_eq!(
        page.objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["c/y"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn multipart_complete_rules_and_checksums() {
    let e = env();
    e.s3.create_bucket(ACCT, "bucket-five", "us-east-1", None)
        .await
        .unwrap();
    let b = e.s3.existing_bucket("bucket-five").unwrap();
    let p = plan(SseAlgorithm::Aes256, None, false);
    let upload =
        e.s3.create_upload(
            &root(),
            &b.record,
            &p,
            NewUpload {
                bucket: "bucket-five".into(),
                key: "big".into(),
                owner: ACCT.into(),
                initiator_arn: format!("arn:aws:iam::{ACCT}:root"),
                initiator_id: ACCT.into(),
                meta: ObjectMeta::default(),
                tags: vec![],
                checksum_algorithm: Some(ChecksumAlgorithm::Crc32),
                checksum_full_object: false,
            },
        )
        .await
        .unwrap();
    let part1 = data(MIN_PART_SIZE as usize, 4);
    let part2 = data(1234, 5);
    let mut etags = Vec::new();
    for (n, body) in [(1u32, &part1), (2, &part2)] {
        let mut w =
            e.s3.begin_part(&root(), &upload, n, body.len() as u64, false)
                .unwrap();
        w.write(body).unwrap();
        let staged = w.finish().unwrap();
        let crc = airlock_s3::checksum::checksum_base64(ChecksumAlgorithm::Crc32, body);
        let part =
            e.s3.commit_part(&upload, n, staged, Some(crc))
                .await
                .unwrap();
        etags.push(part.etag);
    }
    let parts = |list: &[(u32, &str)]| {
        list.iter()
            .map(|(n, t)| CompletedPart {
                number: *n,
                etag: format!("\"{t}\""),
                checksum: None,
            })
            .collect::<Vec<_>>()
    };
    let err =
        e.s3.complete_upload(completion(
            "bucket-five",
            "big",
            &upload.upload_id,
            parts(&[(2, &etags[1]), (1, &etags[0])]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::InvalidPartOrder);
    let err =
        e.s3.complete_upload(completion(
            "bucket-five",
            "big",
            &upload.upload_id,
            parts(&[(1, "0000"), (2, &etags[1])]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::InvalidPart);
    let err =
        e.s3.complete_upload(completion(
            "bucket-five",
            "big",
            &upload.upload_id,
            parts(&[(2, &etags[1]), (3, &etags[1])]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::InvalidPart);
    let v =
        e.s3.complete_upload(completion(
            "bucket-five",
            "big",
            &upload.upload_id,
            parts(&[(1, &etags[0]), (2, &etags[1])]),
        ))
        .await
        .unwrap();
    assert!(v.etag.ends_with("-2"));
    assert!(v.checksum.as_ref().unwrap().value.ends_with("-2"));
    // A retry of the completion answers the same version and writes nothing; another part
    // list, key or principal gets NoSuchUpload.
    let again =
        e.s3.complete_upload(completion(
            "bucket-five",
            "big",
            &upload.upload_id,
            parts(&[(1, &etags[0]), (2, &etags[1])]),
        ))
        .await
        .unwrap();
    assert_eq!(
        (&again.version_id, &again.etag, again.seq),
        (&v.version_id, &v.etag, v.seq)
    );
    for c in [
        completion(
            "bucket-five",
            "big",
            &upload.upload_id,
            parts(&[(1, &etags[0])]),
        ),
        completion(
            "bucket-five",
            "other",
            &upload.upload_id,
            parts(&[(1, &etags[0]), (2, &etags[1])]),
        ),
        Completion {
            caller: "arn:aws:iam::111111111111:root".into(),
            ..completion(
                "bucket-five",
                "big",
                &upload.upload_id,
                parts(&[(1, &etags[0]), (2, &etags[1])]),
            )
        },
    ] {
        assert_eq!(
            e.s3.complete_upload(c).await.unwrap_err().code,
            Code::NoSuchUpload
        );
    }
    let mut whole = part1.clone();
    whole.extend_from_slice(&part2);
    assert_eq!(get(&e.s3, "bucket-five", "big", None), whole);
    let (_, r) =
        e.s3.open_object(&root(), "bucket-five", "big", None)
            .unwrap();
    let at = MIN_PART_SIZE - 10;
    assert_eq!(
        &r.read_to_bytes(at, at + 20).unwrap(),
        &whole[at as usize..at as usize + 20]
    );
    // Several threads share one reader, each decrypting its stripe of the batches across both
    // parts; taken round robin, their buffers are the range in order, each byte once.
    let len = whole.len() as u64;
    for (s, e) in [
        (0, len),
        (at, len),
        (7, MIN_PART_SIZE + 100),
        (1 << 20, 3 << 20),
    ] {
        for stride in 1..=3 {
            assert_eq!(
                striped(&r, s, e, stride),
                &whole[s as usize..e as usize],
                "{s}..{e} in {stride} stripes"
            );
        }
    }
    assert_eq!(
        e.s3.upload("bucket-five", "big", &upload.upload_id)
            .unwrap_err()
            .code,
        Code::NoSuchUpload
    );
    // Too small a first part.
    let upload =
        e.s3.create_upload(
            &root(),
            &b.record,
            &p,
            NewUpload {
                bucket: "bucket-five".into(),
                key: "small-parts".into(),
                owner: ACCT.into(),
                initiator_arn: String::new(),
                initiator_id: String::new(),
                meta: ObjectMeta::default(),
                tags: vec![],
                checksum_algorithm: None,
                checksum_full_object: false,
            },
        )
        .await
        .unwrap();
    let mut tags = Vec::new();
    for n in 1..=2u32 {
        let mut w = e.s3.begin_part(&root(), &upload, n, 10, false).unwrap();
        w.write(b"0123456789").unwrap();
        tags.push(
            e.s3.commit_part(&upload, n, w.finish().unwrap(), None)
                .await
                .unwrap()
                .etag,
        );
    }
    let err =
        e.s3.complete_upload(completion(
            "bucket-five",
            "small-parts",
            &upload.upload_id,
            parts(&[(1, &tags[0]), (2, &tags[1])]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::EntityTooSmall);
    e.s3.abort_upload("bucket-five", "small-parts", &upload.upload_id)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn orphans_are_swept_at_start_and_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let body = data(500_000, 6);
    {
        let (s3, _) = open(dir.path());
        s3.create_bucket(ACCT, "bucket-six", "us-east-1", None)
            .await
            .unwrap();
        put(
            &s3,
            "bucket-six",
            "keep",
            &body,
            &plan(SseAlgorithm::Aes256, None, false),
        )
        .await;
        // A staged segment whose commit never happens (a crash between rename and commit),
        // and a temp file half written.
        let b = s3.existing_bucket("bucket-six").unwrap();
        let mut w = s3
            .begin_write(
                &root(),
                &b.record,
                "lost",
                300_000,
                &plan(SseAlgorithm::Aes256, None, false),
                false,
            )
            .unwrap();
        w.write(&data(300_000, 7)).unwrap();
        let staged = w.finish().unwrap();
        std::mem::forget(staged);
        let mut half = s3
            .begin_write(
                &root(),
                &b.record,
                "half",
                300_000,
                &plan(SseAlgorithm::Aes256, None, false),
                false,
            )
            .unwrap();
        half.write(&data(100_000, 8)).unwrap();
        std::mem::forget(half);
    }
    let (s3, _) = open(dir.path());
    let report = s3.sweep_report();
    assert_eq!(report.removed_files, 2, "{report:?}");
    assert_eq!(report.referenced_segments, 1);
    assert_eq!(get(&s3, "bucket-six", "keep", None), body);
}

#[tokio::test(flavor = "multi_thread")]
async fn buckets_names_owners_and_conditions() {
    let e = env();
    e.s3.create_bucket(ACCT, "bucket-seven", "us-east-1", None)
        .await
        .unwrap();
    // us-east-1 legacy: the owner re-creating gets 200.
    e.s3.create_bucket(ACCT, "bucket-seven", "us-east-1", None)
        .await
        .unwrap();
    let err =
        e.s3.create_bucket("111111111111", "bucket-seven", "us-east-1", None)
            .await
            .unwrap_err();
    assert_eq!(err.code, Code::BucketAlreadyExists);
    assert_eq!(
        e.s3.create_bucket(ACCT, "Bad_Name", "us-east-1", None)
            .await
            .unwrap_err()
            .code,
        Code::InvalidBucketName
    );
    let b = e.s3.existing_bucket("bucket-seven").unwrap();
    assert!(b.record.acls_disabled(), "BucketOwnerEnforced by default");
    assert_eq!(
        b.record.public_access_block,
        Some(airlock_s3::model::PublicAccessBlock::ALL)
    );
    put(
        &e.s3,
        "bucket-seven",
        "k",
        b"v",
        &plan(SseAlgorithm::Aes256, None, false),
    )
    .await;
    // If-None-Match: * on an existing key.
    let mut w =
        e.s3.begin_write(
            &root(),
            &b.record,
            "k",
            1,
            &plan(SseAlgorithm::Aes256, None, false),
            false,
        )
        .unwrap();
    w.write(b"x").unwrap();
    let err =
        e.s3.commit_object(
            NewObject {
                bucket: "bucket-seven".into(),
                key: "k".into(),
                owner: ACCT.into(),
                meta: ObjectMeta::default(),
                tags: vec![],
                checksum: None,
                condition: WriteCondition {
                    if_none_match_star: true,
                    if_match: None,
                },
            },
            w.finish().unwrap(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::PreconditionFailed);
    assert_eq!(get(&e.s3, "bucket-seven", "k", None), b"v");
    e.s3.delete_object("bucket-seven", "k", None).await.unwrap();
    e.s3.delete_bucket("bucket-seven").await.unwrap();
    assert!(e.s3.bucket("bucket-seven").is_none());
    // Policies: malformed, and resources outside the bucket.
    assert_eq!(
        S3::parse_bucket_policy("b1b", "nope").unwrap_err().code,
        Code::MalformedPolicy
    );
    let outside = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#;
    assert_eq!(
        S3::parse_bucket_policy("b1b", outside).unwrap_err().code,
        Code::MalformedPolicy
    );
    let inside = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1b/*"}]}"#;
    assert!(S3::parse_bucket_policy("b1b", inside).is_ok());
}

/// Every read is answered after the write acknowledged before it, though reads of a key are
/// served from the latest-version cache between writes: each step reads the key (filling the
/// cache), then writes, then reads again.
#[tokio::test]
async fn reads_after_acknowledged_writes_see_them() {
    let e = env();
    e.s3.create_bucket(ACCT, "bucket-cache", "us-east-1", None)
        .await
        .unwrap();
    let p = plan(SseAlgorithm::Aes256, None, false);
    put(&e.s3, "bucket-cache", "k", b"zero", &p).await;
    for i in 1..=5u8 {
        // Twice, so the second read comes from the cache.
        let before = e.s3.get_version("bucket-cache", "k", None).unwrap();
        assert_eq!(e.s3.get_version("bucket-cache", "k", None).unwrap(), before);
        let body = format!("version {i}");
        let written = put(&e.s3, "bucket-cache", "k", body.as_bytes(), &p).await;
        let after = e.s3.get_version("bucket-cache", "k", None).unwrap();
        assert_eq!(after.etag, written.etag);
        assert_ne!(after.etag, before.etag);
        assert_eq!(get(&e.s3, "bucket-cache", "k", None), body.as_bytes());
    }
    // A delete, and a write to another key, both invalidate.
    let _ = e.s3.get_version("bucket-cache", "k", None).unwrap();
    e.s3.delete_object("bucket-cache", "k", None).await.unwrap();
    let err = e.s3.get_version("bucket-cache", "k", None).unwrap_err();
    assert_eq!(err.code, Code::NoSuchKey);
    put(&e.s3, "bucket-cache", "k", b"back", &p).await;
    assert_eq!(get(&e.s3, "bucket-cache", "k", None), b"back");
}
