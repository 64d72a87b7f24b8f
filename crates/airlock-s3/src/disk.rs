//! Segment files on disk, and the crash-safety protocol around them.
//!
//! ```text
//! DATA_DIR/s3/tmp/<random>.part      a segment being written (never referenced)
//! DATA_DIR/s3/objects/<xx>/<id>      a finished segment (xx = first two hex digits of id)
//! ```
//!
//! A segment is written to `tmp/`, fsynced, renamed into `objects/`, and its directory fsynced
//! *before* the metadata transaction that references it commits; the operation is answered
//! only after that commit. Files a change no longer references are removed after the commit.
//! So after a crash at any point, every committed version has its data, and the only debris is
//! files nothing references: everything in `tmp/`, and segments whose commit never happened or
//! whose removal never ran. [`Disk::sweep`] removes that debris at start, before serving.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::crypto::{SegmentId, fill_random, hex};

/// The segment files of one data directory.
#[derive(Debug, Clone)]
pub struct Disk {
    tmp: PathBuf,
    objects: PathBuf,
}

/// A segment file being written.
#[derive(Debug)]
pub struct TempFile {
    /// Where it is.
    pub path: PathBuf,
    /// The open file.
    pub file: File,
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Disk {
    /// Opens (creating) the layout under `root` (`DATA_DIR/s3`).
    pub fn open(root: &Path) -> io::Result<Disk> {
        let tmp = root.join("tmp");
        let objects = root.join("objects");
        fs::create_dir_all(&tmp)?;
        let mut created = false;
        for i in 0..=255u8 {
            let d = objects.join(hex(&[i]));
            if !d.exists() {
                fs::create_dir_all(&d)?;
                created = true;
            }
        }
        if created {
            sync_dir(&objects)?;
            sync_dir(root)?;
            if let Some(parent) = root.parent() {
                let _ = sync_dir(parent);
            }
        }
        Ok(Disk { tmp, objects })
    }

    /// The final path of a segment.
    pub fn path(&self, id: &SegmentId) -> PathBuf {
        self.objects.join(hex(&id.0[..1])).join(id.hex())
    }

    /// A new temporary file.
    pub fn temp(&self) -> io::Result<TempFile> {
        let mut r = [0u8; 12];
        fill_random(&mut r);
        let path = self.tmp.join(format!("{}.part", hex(&r)));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(TempFile { path, file })
    }

    /// Makes a finished temporary file the segment `id`: fsync the data, rename, fsync the
    /// directory. After this returns, the segment survives a crash.
    pub fn publish(&self, mut temp: TempFile, id: &SegmentId) -> io::Result<()> {
        temp.file.flush()?;
        temp.file.sync_all()?;
        drop(temp.file);
        let dest = self.path(id);
        fs::rename(&temp.path, &dest)?;
        if let Some(dir) = dest.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Opens a segment for reading.
    pub fn open_segment(&self, id: &SegmentId) -> io::Result<File> {
        File::open(self.path(id))
    }

    /// Removes a segment no metadata references any more (missing is fine).
    pub fn remove(&self, id: &SegmentId) {
        match fs::remove_file(self.path(id)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(target: "airlock::s3", segment = %id.hex(), error = %e, "could not remove an unreferenced segment")
            }
        }
    }

    /// Removes everything in `tmp/` and every segment file not in `referenced`. Returns the
    /// number of files removed.
    pub fn sweep(&self, referenced: &HashSet<SegmentId>) -> io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.tmp)? {
            let entry = entry?;
            fs::remove_file(entry.path())?;
            removed += 1;
        }
        for dir in fs::read_dir(&self.objects)? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(dir.path())? {
                let entry = entry?;
                let name = entry.file_name();
                let keep = name
                    .to_str()
                    .and_then(SegmentId::parse)
                    .is_some_and(|id| referenced.contains(&id));
                if !keep {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_and_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::open(&dir.path().join("s3")).unwrap();
        let keep = SegmentId::random();
        let orphan = SegmentId::random();
        for id in [keep, orphan] {
            let mut t = disk.temp().unwrap();
            t.file.write_all(b"data").unwrap();
            disk.publish(t, &id).unwrap();
        }
        let mut leftover = disk.temp().unwrap();
        leftover.file.write_all(b"half").unwrap();
        let removed = disk.sweep(&[keep].into_iter().collect()).unwrap();
        assert_eq!(removed, 2);
        assert!(disk.path(&keep).exists());
        assert!(!disk.path(&orphan).exists());
        assert!(!leftover.path.exists());
    }
}
