//! Listings: `ListObjects` (v1 and v2), `ListObjectVersions`, `ListMultipartUploads`,
//! `ListParts`. Each reads one consistent snapshot and pages through the tables with bounded
//! range scans, skipping whole common prefixes at once.

use airlock_store::ReadTxn;

use crate::engine::S3;
use crate::error::S3Error;
use crate::meta::{self, PARTS, UPLOADS, VERSIONS};
use crate::model::{ObjectVersion, PartRecord, UploadRecord};
use crate::objects::{find_version, invalid_version_id};

const BATCH: usize = 1000;

/// Where a listing resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListStart {
    /// After this key (and all its versions).
    Key(String),
    /// After every key under this common prefix.
    Prefix(String),
}

/// A listing request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys with this prefix.
    pub prefix: String,
    /// Roll keys up to common prefixes at the first occurrence (after `prefix`) of this.
    pub delimiter: Option<String>,
    /// Resume point.
    pub start: Option<ListStart>,
    /// At most this many entries (objects plus common prefixes).
    pub max_keys: usize,
}

/// One page of current objects.
#[derive(Debug, Clone, Default)]
pub struct ObjectsPage {
    /// Objects, in key order.
    pub objects: Vec<ObjectVersion>,
    /// Common prefixes, in order.
    pub prefixes: Vec<String>,
    /// More entries follow.
    pub truncated: bool,
    /// The last entry returned (for the next page's start).
    pub last: Option<ListStart>,
}

/// One page of versions.
#[derive(Debug, Clone, Default)]
pub struct VersionsPage {
    /// Versions and delete markers with their `IsLatest`, in key order, newest first per key.
    pub versions: Vec<(ObjectVersion, bool)>,
    /// Common prefixes.
    pub prefixes: Vec<String>,
    /// More entries follow.
    pub truncated: bool,
    /// `NextKeyMarker`.
    pub next_key_marker: Option<String>,
    /// `NextVersionIdMarker`.
    pub next_version_id_marker: Option<String>,
}

/// One page of multipart uploads.
#[derive(Debug, Clone, Default)]
pub struct UploadsPage {
    /// Uploads, by key then initiation.
    pub uploads: Vec<UploadRecord>,
    /// Common prefixes.
    pub prefixes: Vec<String>,
    /// More entries follow.
    pub truncated: bool,
    /// `NextKeyMarker`.
    pub next_key_marker: Option<String>,
    /// `NextUploadIdMarker`.
    pub next_upload_id_marker: Option<String>,
}

fn common_prefix(key: &str, prefix: &str, delimiter: Option<&str>) -> Option<String> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.strip_prefix(prefix)?;
    rest.find(d)
        .map(|pos| format!("{prefix}{}", &rest[..pos + d.len()]))
}

/// Where a `ListObjectVersions` page resumes after `(key_marker, version_id_marker)`: just
/// after that version's place among the key's versions, whether or not it still exists (the
/// loop that empties a bucket deletes what each page listed before asking for the next). A
/// version id carries its sequence number, so its place is known without the version. Only a
/// `null` version that no longer exists has no known place: the listing then resumes at the
/// key's first remaining version, so that none is skipped. A version id airlock never made is
/// `InvalidArgument`, as on S3.
fn version_marker_position(
    read: &dyn ReadTxn,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<String, S3Error> {
    if version_id == "null" {
        return Ok(match find_version(read, bucket, key, version_id)? {
            Some(v) => meta::version_key(bucket, key, v.seq),
            None => meta::versions_prefix(bucket, key),
        });
    }
    let seq = meta::version_seq(version_id).ok_or_else(|| invalid_version_id(version_id))?;
    Ok(meta::version_key(bucket, key, seq))
}

fn start_key(bucket: &str, start: &Option<ListStart>) -> Option<String> {
    match start {
        None => None,
        Some(ListStart::Key(k)) => Some(meta::after_all_versions(bucket, k)),
        Some(ListStart::Prefix(p)) => Some(meta::after_prefix(bucket, p)),
    }
}

impl S3 {
    /// The current (non-deleted) objects of a bucket.
    pub fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ObjectsPage, S3Error> {
        let read = self.store.read()?;
        list_objects(&*read, bucket, q)
    }

    /// Every version and delete marker of a bucket. `version_id_marker` only with `key_marker`.
    pub fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_id_marker: Option<&str>,
        max_keys: usize,
    ) -> Result<VersionsPage, S3Error> {
        let read = self.store.read()?;
        let scan = format!("{bucket}/{prefix}");
        let mut page = VersionsPage::default();
        let mut last_key: Option<String> = None;
        let mut after = match (key_marker, version_id_marker) {
            (Some(k), Some(v)) if !v.is_empty() => {
                let at = version_marker_position(&*read, bucket, k, v)?;
                // The next version of `k` is its latest only if none sorts before it.
                let first =
                    read.scan_after(VERSIONS, &meta::versions_prefix(bucket, k), None, 1)?;
                if first.first().is_some_and(|(sk, _)| *sk <= at) {
                    last_key = Some(k.to_string());
                }
                Some(at)
            }
            (Some(k), _) if !k.is_empty() => match common_prefix(k, prefix, delimiter) {
                Some(cp) if cp == k => Some(meta::after_prefix(bucket, k)),
                _ => Some(meta::after_all_versions(bucket, k)),
            },
            _ => None,
        };
        if max_keys == 0 {
            // S3 answers an empty, complete page.
            return Ok(page);
        }
        let mut count = 0usize;
        'outer: loop {
            let batch = read.scan_after(VERSIONS, &scan, after.as_deref(), BATCH)?;
            if batch.is_empty() {
                break;
            }
            for (sk, value) in batch {
                let Some((key, _)) = meta::parse_version_key(bucket, &sk) else {
                    after = Some(sk);
                    continue;
                };
                let key = key.to_string();
                if let Some(cp) = common_prefix(&key, prefix, delimiter) {
                    if count >= max_keys {
                        page.truncated = true;
                        break 'outer;
                    }
                    after = Some(meta::after_prefix(bucket, &cp));
                    page.next_key_marker = Some(cp.clone());
                    page.next_version_id_marker = None;
                    page.prefixes.push(cp);
                    count += 1;
                    last_key = None;
                    continue 'outer;
                }
                if count >= max_keys {
                    page.truncated = true;
                    break 'outer;
                }
                let v: ObjectVersion = serde_json::from_slice(&value).map_err(S3Error::internal)?;
                let is_latest = last_key.as_deref() != Some(key.as_str());
                last_key = Some(key.clone());
                page.next_key_marker = Some(key);
                page.next_version_id_marker = Some(v.version_id.clone());
                page.versions.push((v, is_latest));
                count += 1;
                after = Some(sk);
            }
        }
        if !page.truncated {
            page.next_key_marker = None;
            page.next_version_id_marker = None;
        }
        Ok(page)
    }

    /// In-progress multipart uploads of a bucket.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max_uploads: usize,
    ) -> Result<UploadsPage, S3Error> {
        let read = self.store.read()?;
        let scan = format!("{bucket}/{prefix}");
        let mut after = match (key_marker, upload_id_marker) {
            (Some(k), Some(u)) if !u.is_empty() => Some(meta::upload_key(bucket, k, u)),
            (Some(k), _) if !k.is_empty() => Some(meta::after_all_versions(bucket, k)),
            _ => None,
        };
        let mut page = UploadsPage::default();
        if max_uploads == 0 {
            return Ok(page);
        }
        let mut count = 0usize;
        'outer: loop {
            let batch = read.scan_after(UPLOADS, &scan, after.as_deref(), BATCH)?;
            if batch.is_empty() {
                break;
            }
            for (sk, value) in batch {
                let u: UploadRecord = serde_json::from_slice(&value).map_err(S3Error::internal)?;
                if let Some(cp) = common_prefix(&u.key, prefix, delimiter) {
                    if count >= max_uploads {
                        page.truncated = true;
                        break 'outer;
                    }
                    after = Some(meta::after_prefix(bucket, &cp));
                    page.next_key_marker = Some(cp.clone());
                    page.next_upload_id_marker = None;
                    page.prefixes.push(cp);
                    count += 1;
                    continue 'outer;
                }
                if count >= max_uploads {
                    page.truncated = true;
                    break 'outer;
                }
                page.next_key_marker = Some(u.key.clone());
                page.next_upload_id_marker = Some(u.upload_id.clone());
                page.uploads.push(u);
                count += 1;
                after = Some(sk);
            }
        }
        Ok(page)
    }

    /// Parts of an upload after `marker`, at most `max_parts`; `true` if more follow.
    pub fn list_parts(
        &self,
        upload_id: &str,
        marker: u32,
        max_parts: usize,
    ) -> Result<(Vec<PartRecord>, bool), S3Error> {
        let read = self.store.read()?;
        let after = (marker > 0).then(|| meta::part_key(upload_id, marker));
        let rows = read.scan_after(
            PARTS,
            &format!("{upload_id}/"),
            after.as_deref(),
            max_parts.saturating_add(1),
        )?;
        let truncated = rows.len() > max_parts;
        let parts = rows
            .into_iter()
            .take(max_parts)
            .map(|(_, v)| serde_json::from_slice(&v).map_err(S3Error::internal))
            .collect::<Result<Vec<PartRecord>, S3Error>>()?;
        Ok((parts, truncated))
    }
}

pub(crate) fn list_objects(
    read: &dyn ReadTxn,
    bucket: &str,
    q: &ListQuery,
) -> Result<ObjectsPage, S3Error> {
    let scan = format!("{bucket}/{}", q.prefix);
    let mut after = start_key(bucket, &q.start);
    let delimiter = q.delimiter.as_deref();
    let mut page = ObjectsPage::default();
    if q.max_keys == 0 {
        // S3 answers an empty, complete page (`IsTruncated` false) whatever the bucket holds.
        return Ok(page);
    }
    let mut last_key: Option<String> = None;
    let mut count = 0usize;
    'outer: loop {
        let batch = read.scan_after(VERSIONS, &scan, after.as_deref(), BATCH)?;
        if batch.is_empty() {
            break;
        }
        for (sk, value) in batch {
            let Some((key, _)) = meta::parse_version_key(bucket, &sk) else {
                after = Some(sk);
                continue;
            };
            if last_key.as_deref() == Some(key) {
                // An older version of a key already decided.
                after = Some(sk.clone());
                continue;
            }
            let key = key.to_string();
            last_key = Some(key.clone());
            if let Some(cp) = common_prefix(&key, &q.prefix, delimiter) {
                // A common prefix appears if any key under it is current; this key's latest
                // version decides for it only if it is not a delete marker, so look at it.
                let v: ObjectVersion = serde_json::from_slice(&value).map_err(S3Error::internal)?;
                if v.delete_marker {
                    after = Some(sk);
                    continue;
                }
                if count >= q.max_keys {
                    page.truncated = true;
                    break 'outer;
                }
                after = Some(meta::after_prefix(bucket, &cp));
                page.last = Some(ListStart::Prefix(cp.clone()));
                page.prefixes.push(cp);
                count += 1;
                last_key = None;
                continue 'outer;
            }
            let v: ObjectVersion = serde_json::from_slice(&value).map_err(S3Error::internal)?;
            after = Some(sk);
            if v.delete_marker {
                continue;
            }
            if count >= q.max_keys {
                page.truncated = true;
                break 'outer;
            }
            page.last = Some(ListStart::Key(key));
            page.objects.push(v);
            count += 1;
        }
    }
    Ok(page)
}
