//! Where the LPA keeps the one record that must survive a crash: the download session in
//! progress (transactionId, SM-DP+ address, step).
//!
//! SGP.22 requires a session that fails after initiateAuthentication to be ended on both sides
//! (ES10b CancelSession on the eUICC, ES9+ cancelSession at the SM-DP+, §3.1.3). A process
//! killed or a device losing power mid-download cannot do that itself, so the LPA writes the
//! record before each step and clears it when the session ended; the next start finds a
//! stranded record and cancels that session.
//!
//! The store holds opaque bytes (the LPA serializes the record); [`FileStore`] writes them
//! atomically, so a crash during a write leaves the old record or the new one, never a torn
//! file.

use core::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why the record could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// A file operation failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The stored record is not one this version can read.
    Corrupt(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { path, source } => {
                write!(f, "session store {}: {source}", path.display())
            }
            StorageError::Corrupt(e) => write!(f, "stored session record is unreadable: {e}"),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            StorageError::Corrupt(_) => None,
        }
    }
}

/// Keeps the session record across restarts.
pub trait SessionStore: Send {
    /// The stored record, if any.
    fn load(&self) -> Result<Option<Vec<u8>>, StorageError>;
    /// Replaces the stored record; when this returns, the record survives a crash.
    fn save(&self, record: &[u8]) -> Result<(), StorageError>;
    /// Removes the record (the session ended on both sides).
    fn clear(&self) -> Result<(), StorageError>;
}

/// A record in one file, written atomically (temporary file, fsync, rename, fsync of the
/// folder). The default store.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// Keeps the record in `path` (its folder must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore { path: path.into() }
    }

    /// The record's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StorageError {
        StorageError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn temp_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "lpa-session".into());
        name.push(".tmp");
        self.path.with_file_name(name)
    }

    fn sync_dir(&self) -> Result<(), StorageError> {
        // Makes the rename itself durable; not every platform allows opening a folder.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = fs::File::open(dir)
        {
            d.sync_all().map_err(|e| self.io(e))?;
        }
        Ok(())
    }
}

impl SessionStore for FileStore {
    fn load(&self) -> Result<Option<Vec<u8>>, StorageError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn save(&self, record: &[u8]) -> Result<(), StorageError> {
        let tmp = self.temp_path();
        let mut file = fs::File::create(&tmp).map_err(|e| self.io(e))?;
        file.write_all(record).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        self.sync_dir()
    }

    fn clear(&self) -> Result<(), StorageError> {
        match fs::remove_file(&self.path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(e)),
        }
    }
}

/// A record kept in memory only: for tests, and for platforms that persist it themselves.
#[derive(Debug, Default)]
pub struct MemoryStore {
    record: Mutex<Option<Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Vec<u8>>> {
        self.record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SessionStore for MemoryStore {
    fn load(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.slot().clone())
    }

    fn save(&self, record: &[u8]) -> Result<(), StorageError> {
        *self.slot() = Some(record.to_vec());
        Ok(())
    }

    fn clear(&self) -> Result<(), StorageError> {
        *self.slot() = None;
        Ok(())
    }
}

impl<S: SessionStore + ?Sized + Sync> SessionStore for std::sync::Arc<S> {
    fn load(&self) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).load()
    }

    fn save(&self, record: &[u8]) -> Result<(), StorageError> {
        (**self).save(record)
    }

    fn clear(&self) -> Result<(), StorageError> {
        (**self).clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lpa-storage-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn file_store_round_trip_and_clear() {
        let dir = temp_dir("rt");
        let store = FileStore::new(dir.join("session"));
        assert_eq!(store.load().unwrap(), None);
        store.save(b"first").unwrap();
        store.save(b"second").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some(&b"second"[..]));
        // No temporary file is left behind after a completed write.
        assert!(!store.temp_path().exists());
        // A second store on the same path (the next process start) sees the record.
        assert_eq!(
            FileStore::new(dir.join("session"))
                .load()
                .unwrap()
                .as_deref(),
            Some(&b"second"[..])
        );
        store.clear().unwrap();
        store.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_torn_temporary_file_does_not_replace_the_record() {
        let dir = temp_dir("torn");
        let store = FileStore::new(dir.join("session"));
        store.save(b"committed").unwrap();
        // A crash between creating the temporary file and the rename leaves it behind.
        fs::write(store.temp_path(), b"half-writ").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some(&b"committed"[..]));
        store.save(b"next").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some(&b"next"[..]));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unwritable_location_is_a_typed_error() {
        let store = FileStore::new("/nonexistent-folder-for-lpa-tests/session");
        let err = store.save(b"x").unwrap_err();
        assert!(matches!(err, StorageError::Io { .. }));
        assert!(
            err.to_string()
                .contains("/nonexistent-folder-for-lpa-tests/session")
        );
    }

    #[test]
    fn memory_store() {
        let store = MemoryStore::new();
        store.save(b"a").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some(&b"a"[..]));
        store.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
    }
}
