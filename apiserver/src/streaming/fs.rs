//! A fake container's file system: what `cat`, `ls`, `tar` (and so `kubectl cp`) see.
//!
//! Contract: absolute paths, normalised (`.`, `..`, repeated and trailing `/` removed); `/`
//! always exists; writing a file creates its parent directories; at most [`MAX_BYTES`] of file
//! content per container (beyond it a write fails with `No space left on device`).
//! `/dev/null` reads empty and swallows writes; `/dev/zero` is not listed but reads as zeros
//! (`head -c N /dev/zero`).

use std::collections::BTreeMap;

/// The most file content one container holds: 64 MiB.
pub const MAX_BYTES: usize = 64 << 20;

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A regular file and its permission bits.
    File {
        /// The content.
        data: Vec<u8>,
        /// Permission bits (`0o644`).
        mode: u32,
    },
}

/// The files of one container (see the module docs).
#[derive(Debug, Clone)]
pub struct Fs {
    entries: BTreeMap<String, Entry>,
    used: usize,
}

impl Default for Fs {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a file operation failed, as a shell prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    /// No such path.
    #[error("No such file or directory")]
    NotFound,
    /// A directory where a file was expected.
    #[error("Is a directory")]
    IsDir,
    /// A file where a directory was expected.
    #[error("Not a directory")]
    NotDir,
    /// Over [`MAX_BYTES`].
    #[error("No space left on device")]
    NoSpace,
}

/// `path` made absolute (relative to `/`) and normalised.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

impl Fs {
    /// An empty file system with `/`, `/tmp` and `/etc/hostname`-less basics.
    pub fn new() -> Self {
        let mut entries = BTreeMap::new();
        for d in ["/", "/tmp", "/dev", "/etc"] {
            entries.insert(d.to_string(), Entry::Dir);
        }
        Fs { entries, used: 0 }
    }

    /// The entry at `path`.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(&normalize(path))
    }

    /// Whether `path` is a directory.
    pub fn is_dir(&self, path: &str) -> bool {
        matches!(self.get(path), Some(Entry::Dir))
    }

    /// The content of the file at `path`.
    pub fn read(&self, path: &str) -> Result<&[u8], FsError> {
        match normalize(path).as_str() {
            "/dev/null" => Ok(&[]),
            p => match self.entries.get(p) {
                Some(Entry::File { data, .. }) => Ok(data),
                Some(Entry::Dir) => Err(FsError::IsDir),
                None => Err(FsError::NotFound),
            },
        }
    }

    /// Creates `path` and its missing parents as directories.
    pub fn mkdir_all(&mut self, path: &str) -> Result<(), FsError> {
        let path = normalize(path);
        if let Some(p) = parent(&path) {
            self.mkdir_all(p)?;
        }
        match self.entries.get(&path) {
            Some(Entry::Dir) => Ok(()),
            Some(Entry::File { .. }) => Err(FsError::NotDir),
            None => {
                self.entries.insert(path, Entry::Dir);
                Ok(())
            }
        }
    }

    /// Writes (replaces) the file at `path` with `mode`, creating its parents.
    pub fn write(&mut self, path: &str, data: Vec<u8>, mode: u32) -> Result<(), FsError> {
        let path = normalize(path);
        if path == "/dev/null" {
            return Ok(());
        }
        if let Some(p) = parent(&path) {
            self.mkdir_all(p)?;
        }
        let old = match self.entries.get(&path) {
            Some(Entry::Dir) => return Err(FsError::IsDir),
            Some(Entry::File { data, .. }) => data.len(),
            None => 0,
        };
        let used = self.used - old + data.len();
        if used > MAX_BYTES {
            return Err(FsError::NoSpace);
        }
        self.used = used;
        self.entries.insert(path, Entry::File { data, mode: mode & 0o7777 });
        Ok(())
    }

    /// Appends to the file at `path` (creating it with mode 0644).
    pub fn append(&mut self, path: &str, more: &[u8]) -> Result<(), FsError> {
        let mut data = match self.read(path) {
            Ok(d) => d.to_vec(),
            Err(FsError::NotFound) => Vec::new(),
            Err(e) => return Err(e),
        };
        data.extend_from_slice(more);
        let mode = match self.get(path) {
            Some(Entry::File { mode, .. }) => *mode,
            _ => 0o644,
        };
        self.write(path, data, mode)
    }

    /// Removes `path` and everything under it.
    pub fn remove_all(&mut self, path: &str) {
        let path = normalize(path);
        if path == "/" {
            return;
        }
        let under = format!("{path}/");
        let doomed: Vec<String> = self
            .entries
            .range(path.clone()..)
            .map(|(k, _)| k.clone())
            .take_while(|k| *k == path || k.starts_with(&under))
            .collect();
        for k in doomed {
            if let Some(Entry::File { data, .. }) = self.entries.remove(&k) {
                self.used -= data.len();
            }
        }
    }

    /// `path` and every entry under it, in lexical (so parent-first) order.
    pub fn walk(&self, path: &str) -> Vec<(String, Entry)> {
        let path = normalize(path);
        let under = if path == "/" { "/".to_string() } else { format!("{path}/") };
        self.entries
            .range(path.clone()..)
            .take_while(|(k, _)| **k == path || k.starts_with(&under))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The names directly inside the directory `path`.
    pub fn list(&self, path: &str) -> Result<Vec<String>, FsError> {
        let path = normalize(path);
        match self.entries.get(&path) {
            None => return Err(FsError::NotFound),
            Some(Entry::File { .. }) => return Ok(vec![path.rsplit('/').next().unwrap_or_default().to_string()]),
            Some(Entry::Dir) => {}
        }
        let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
        Ok(self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| {
                let rest = &k[prefix.len()..];
                (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_parents_created() {
        let mut fs = Fs::new();
        fs.write("tmp/a/../b//c.txt", b"hi".to_vec(), 0o600).unwrap();
        assert_eq!(fs.read("/tmp/b/c.txt").unwrap(), b"hi");
        assert!(fs.is_dir("/tmp/b"));
        assert_eq!(fs.list("/tmp").unwrap(), vec!["b"]);
        assert_eq!(fs.write("/tmp/b", vec![], 0o644), Err(FsError::IsDir));
        fs.remove_all("/tmp/b");
        assert_eq!(fs.read("/tmp/b/c.txt"), Err(FsError::NotFound));
        assert_eq!(fs.used, 0);
    }

    #[test]
    fn content_is_bounded() {
        let mut fs = Fs::new();
        assert_eq!(fs.write("/big", vec![0; MAX_BYTES + 1], 0o644), Err(FsError::NoSpace));
        assert!(fs.get("/big").is_none());
    }
}
