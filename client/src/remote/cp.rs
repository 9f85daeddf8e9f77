//! `kubectl cp` as a library: [`Api::copy_to_pod`] and [`Api::copy_from_pod`], a tar
//! archive streamed through exec of the container's `tar`, as kubectl does.
//!
//! Contract:
//! - Into the pod: the local file or directory `src` becomes the container path `dest` (its
//!   last component renamed as kubectl does: entries are named `basename(dest)/...` and
//!   extracted with `tar -xmf - -C dirname(dest)`). The archive is built on a blocking thread
//!   and streamed (memory stays bounded whatever the size).
//! - Out of the pod: `tar cf - src` in the container; the entries under `src` are written
//!   below the local `dest` (a file to `dest` itself). Entries whose path would leave `dest`
//!   (`..`, absolute) and links are skipped, as kubectl skips them; at most
//!   [`MAX_COPY_BYTES`] are extracted.
//! - The container needs `tar` (as for kubectl). A non-zero exit is an error carrying what
//!   `tar` wrote to stderr (at most 4 KiB of it); file contents are never put in errors.

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::exec::{ExecOptions, ExitStatus};
use crate::api::Api;
use crate::error::{Error, Result};

/// The most [`Api::copy_from_pod`] extracts: 8 GiB.
pub const MAX_COPY_BYTES: u64 = 8 << 30;

/// How much of tar's stderr an error keeps.
const MAX_STDERR: usize = 4096;

/// Chunks handed between the blocking tar thread and the session.
const CHUNK: usize = 32 * 1024;

fn local_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidRequest(format!("{what}: {e}"))
}

impl Api<Pod> {
    /// Copies the local file or directory `src` into the container as `dest` (see
    /// [`crate::remote::cp`]).
    pub async fn copy_to_pod(&self, name: &str, container: Option<&str>, src: &Path, dest: &str) -> Result<()> {
        let dest = dest.trim_end_matches('/');
        let (dir, base) = match dest.rsplit_once('/') {
            Some(("", b)) => ("/", b),
            Some((d, b)) => (d, b),
            None => (".", dest),
        };
        if base.is_empty() || base == "." || base == ".." {
            return Err(Error::InvalidRequest(format!("{dest:?} names no file in the container")));
        }
        let is_dir = tokio::fs::metadata(src).await.map_err(|e| local_error(&src.display().to_string(), e))?.is_dir();
        let mut opts = ExecOptions::default().stdin(true).stdout(false).stderr(true);
        opts.container = container.map(String::from);
        let mut p = self.exec(name, ["tar", "-xmf", "-", "-C", dir], &opts).await?;
        let (mut stdin, stderr) = (p.stdin(), p.stderr());
        let (tx, mut rx) = mpsc::channel::<Bytes>(4);
        let (src, base) = (src.to_path_buf(), base.to_string());
        let builder = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut b = tar::Builder::new(ChunkWriter { tx, buf: Vec::with_capacity(CHUNK) });
            b.follow_symlinks(false);
            if is_dir {
                b.append_dir_all(&base, &src)?;
            } else {
                b.append_path_with_name(&src, &base)?;
            }
            b.into_inner()?.flush()
        });
        let errors = tokio::spawn(read_bounded(stderr));
        while let Some(chunk) = rx.recv().await {
            if let Some(w) = stdin.as_mut() {
                if w.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        }
        if let Some(mut w) = stdin.take() {
            let _ = w.shutdown().await;
        }
        let built = builder.await.map_err(|e| local_error("building the archive", e))?;
        let status = p.status().await?;
        let stderr = errors.await.unwrap_or_default();
        built.map_err(|e| local_error("archiving the local files", e))?;
        check(status, &stderr, name)
    }

    /// Copies the container's file or directory `src` to the local `dest` (see
    /// [`crate::remote::cp`]).
    pub async fn copy_from_pod(&self, name: &str, container: Option<&str>, src: &str, dest: &Path) -> Result<()> {
        let opts = ExecOptions { container: container.map(String::from), ..Default::default() };
        let mut p = self.exec(name, ["tar", "cf", "-", src], &opts).await?;
        let (stdout, stderr) = (p.stdout(), p.stderr());
        let errors = tokio::spawn(read_bounded(stderr));
        let (tx, rx) = mpsc::channel::<Bytes>(4);
        let prefix = src.trim_start_matches('/').trim_end_matches('/').to_string();
        let dest = dest.to_path_buf();
        let extract =
            tokio::task::spawn_blocking(move || extract(ChunkReader { rx, current: Bytes::new() }, &prefix, &dest));
        if let Some(mut out) = stdout {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = out.read(&mut buf).await.map_err(|e| local_error("reading the archive", e))?;
                if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    break;
                }
            }
        }
        drop(tx);
        let extracted = extract.await.map_err(|e| local_error("extracting the archive", e))?;
        let status = p.status().await?;
        let stderr = errors.await.unwrap_or_default();
        check(status, &stderr, name)?;
        extracted.map_err(|e| local_error("extracting the archive", e))
    }
}

fn check(status: ExitStatus, stderr: &str, pod: &str) -> Result<()> {
    match status {
        ExitStatus::Code(0) => Ok(()),
        ExitStatus::Code(c) => {
            Err(Error::InvalidRequest(format!("tar in pod {pod} exited with code {c}: {}", stderr.trim())))
        }
        ExitStatus::Failed(s) => Err(Error::InvalidRequest(format!("tar in pod {pod} could not run: {}", s.message))),
    }
}

async fn read_bounded(r: Option<super::exec::ProcessOutput>) -> String {
    let Some(mut r) = r else { return String::new() };
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = MAX_STDERR.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Extracts the entries under `prefix` of an archive to `dest` (see the module docs).
fn extract(input: impl Read, prefix: &str, dest: &Path) -> io::Result<()> {
    let mut archive = tar::Archive::new(input.take(MAX_COPY_BYTES));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        let Some(rel) = relative(&name, prefix) else { continue };
        let target = if rel.as_os_str().is_empty() { dest.to_path_buf() } else { dest.join(&rel) };
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut f = std::fs::File::create(&target)?;
                io::copy(&mut entry, &mut f)?;
            }
            // Links and devices are skipped, as kubectl skips links.
            _ => {}
        }
    }
    Ok(())
}

/// `name` below `prefix` as a safe relative path (`None` outside it or escaping).
fn relative(name: &Path, prefix: &str) -> Option<PathBuf> {
    let rest = name.strip_prefix(prefix).ok()?;
    let mut out = PathBuf::new();
    for c in rest.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// A blocking `Write` that hands full chunks to the async side.
struct ChunkWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(chunk).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

/// A blocking `Read` over chunks from the async side.
struct ChunkReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.current = b,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::relative;
    use std::path::{Path, PathBuf};

    #[test]
    fn entries_outside_the_source_or_escaping_are_skipped() {
        assert_eq!(relative(Path::new("tmp/dir/a/b.txt"), "tmp/dir"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(relative(Path::new("tmp/dir"), "tmp/dir"), Some(PathBuf::new()));
        assert_eq!(relative(Path::new("tmp/dir/../../etc/passwd"), "tmp/dir"), None);
        assert_eq!(relative(Path::new("tmp/other"), "tmp/dir"), None);
        assert_eq!(relative(Path::new("tmp/dirx/a"), "tmp/dir"), None);
    }
}
