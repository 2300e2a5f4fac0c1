//! Object bytes on local disk. Every upload is a new version (a UUID, stored in the row's
//! `version` column, as Supabase Storage names its backend keys): bytes stream into `tmp/`,
//! then move to `objects/<2 hex>/<version>` before the row that names them commits. Names never
//! reach the file system, so no object name can point outside the folder, and two uploads of
//! one name never touch the same file.

use std::io;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncWriteExt, BufWriter};

/// Writes reach the file in pieces this large: each write to a tokio file is a blocking task.
const WRITE_BUFFER: usize = 256 * 1024;

pub struct Files {
    root: PathBuf,
}

impl Files {
    /// Creates the folders; temporary files a previous run left behind are removed.
    pub fn open(root: &Path) -> Result<Files, String> {
        let files = Files {
            root: root.to_path_buf(),
        };
        let _ = std::fs::remove_dir_all(files.tmp_dir());
        for dir in [files.tmp_dir(), root.join("objects")] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("--storage-dir: cannot create {}: {e}", dir.display()))?;
        }
        Ok(files)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where the bytes of `version` live; `None` for a version the stand-in did not write
    /// (a row inserted with SQL), which has no bytes.
    pub fn object_path(&self, version: &str) -> Option<PathBuf> {
        let v = uuid::Uuid::parse_str(version)
            .ok()?
            .hyphenated()
            .to_string();
        (v == version).then(|| self.root.join("objects").join(&v[..2]).join(&v))
    }

    /// A new, empty temporary file, removed when dropped unless persisted.
    pub async fn temp(&self) -> io::Result<TempFile> {
        let path = self.tmp_dir().join(uuid::Uuid::new_v4().to_string());
        let file = tokio::fs::File::create(&path).await?;
        Ok(TempFile {
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            guard: Guard(Some(path)),
        })
    }

    /// Removes the bytes of `version`; a version without bytes is already gone.
    pub async fn remove(&self, version: &str) {
        if let Some(path) = self.object_path(version) {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}

/// Removes its file when dropped, unless disarmed: a refused, failed or abandoned upload
/// leaves nothing behind.
struct Guard(Option<PathBuf>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub struct TempFile {
    file: Option<BufWriter<tokio::fs::File>>,
    guard: Guard,
}

impl TempFile {
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.write_all(chunk).await,
            None => Err(io::Error::other("temporary file already closed")),
        }
    }

    /// Moves the bytes to where `version` lives. They are removed again when the returned
    /// [`Placed`] is dropped before [`Placed::keep`] (the row did not commit).
    pub async fn place(mut self, files: &Files, version: &str) -> io::Result<Placed> {
        if let Some(mut f) = self.file.take() {
            f.flush().await?;
        }
        let to = files
            .object_path(version)
            .ok_or_else(|| io::Error::other("not a version the stand-in writes"))?;
        if let Some(dir) = to.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let from = self.guard.0.take().expect("a temporary file has a path");
        if let Err(e) = tokio::fs::rename(&from, &to).await {
            self.guard.0 = Some(from);
            return Err(e);
        }
        Ok(Placed(Guard(Some(to))))
    }
}

pub struct Placed(Guard);

impl Placed {
    /// The row naming these bytes committed: they stay.
    pub fn keep(mut self) {
        self.0 .0 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("standin-files-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn only_uuid_versions_have_a_path() {
        let dir = scratch();
        let files = Files::open(&dir).unwrap();
        let v = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(files.object_path(v), Some(dir.join("objects/0f").join(v)));
        for bad in ["1", "../x", "", "0F8FAD5B-D9CB-469F-A165-70867728950E"] {
            assert_eq!(files.object_path(bad), None, "{bad}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn dropped_files_leave_nothing_and_kept_ones_stay() {
        let dir = scratch();
        let files = Files::open(&dir).unwrap();
        let mut t = files.temp().await.unwrap();
        t.write(b"abc").await.unwrap();
        drop(t);
        assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0);

        let v = uuid::Uuid::new_v4().to_string();
        let mut t = files.temp().await.unwrap();
        t.write(b"abc").await.unwrap();
        drop(t.place(&files, &v).await.unwrap());
        assert!(
            !files.object_path(&v).unwrap().exists(),
            "not kept: removed"
        );

        let mut t = files.temp().await.unwrap();
        t.write(b"abc").await.unwrap();
        t.place(&files, &v).await.unwrap().keep();
        assert_eq!(
            std::fs::read(files.object_path(&v).unwrap()).unwrap(),
            b"abc"
        );
        files.remove(&v).await;
        assert!(!files.object_path(&v).unwrap().exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
