//! Reports. The end-of-run table, and the files of a run's record:
//! with `--report DIR` `summary.json`, `stats.csv` and `report.html`, with
//! `--junit FILE` the verdict as JUnit XML. Every ending writes them (a run that
//! ends in an error too, marked so), each file atomically, and a run that goes
//! on checkpoints `summary.json` and `stats.csv` as it goes ([`checkpoint`]), so
//! a loadgen killed outright leaves its record up to the last checkpoint.

pub mod checkpoint;
pub mod csv;
#[cfg(test)]
pub(crate) mod fixture;
pub mod html;
pub mod junit;
pub mod summary;
pub mod table;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::diagnostic::BadInput;
pub use summary::Summary;

/// The prefix of the temporary files an atomic write leaves only if it is
/// killed mid-write; the next checkpoint into the directory removes them.
const TEMPORARY_PREFIX: &str = ".loadgen-";

/// Where a run's record goes: the one place every output file is written from.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// `--report DIR`: summary.json, stats.csv and report.html.
    pub dir: Option<PathBuf>,
    /// `--junit FILE`.
    pub junit: Option<PathBuf>,
}

impl Destinations {
    /// Writes every file of the record.
    pub fn write(&self, summary: &Summary) -> Result<()> {
        if let Some(path) = &self.junit {
            // Often inside the --report directory, which may not exist yet.
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                create_dir(parent)?;
            }
            write_atomically(path, junit::render(summary).as_bytes())?;
        }
        if let Some(dir) = &self.dir {
            create_dir(dir)?;
            write_data(dir, summary)?;
            write_atomically(&dir.join("report.html"), html::render(summary).as_bytes())?;
        }
        Ok(())
    }
}

/// summary.json and stats.csv: what a checkpoint writes, and the end too.
fn write_data(dir: &Path, summary: &Summary) -> Result<()> {
    write_atomically(
        &dir.join("summary.json"),
        &serde_json::to_vec_pretty(summary)?,
    )?;
    write_atomically(&dir.join("stats.csv"), csv::render(summary).as_bytes())
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the report directory {}", dir.display()))
}

/// Writes `bytes` to `path` so that a reader, or a kill at any moment, finds the
/// old file or the new one and never part of one: a temporary file beside it,
/// synced to disk, then renamed over it (a rename within a directory is atomic),
/// and the directory synced so that the rename survives a crash of the node.
///
/// Only a regular file (or none) is replaced so. A symbolic link is written
/// through, and stays a link; a device or a pipe (`-o /dev/stdout`, a FIFO) is
/// written into as it is: a file renamed over one replaces it, and so a
/// benchmark's `loadgen shape -o /dev/null` once left /dev/null a regular file
/// for every later program on the machine.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let path = &through_links(path);
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::write(path, bytes)
            .with_context(|| format!("cannot write {}", path.display()));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let written = (|| -> std::io::Result<()> {
        let mut file = tempfile::Builder::new()
            .prefix(TEMPORARY_PREFIX)
            .tempfile_in(dir)?;
        file.write_all(bytes)?;
        file.as_file().sync_all()?;
        file.persist(path).map_err(|e| e.error)?;
        // Not every file system can sync a directory: the file itself is whole.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    written.with_context(|| format!("cannot write {}", path.display()))
}

/// Where `path` leads through symbolic links (at most 40, as the kernel
/// follows), a dangling link's target included.
fn through_links(path: &Path) -> PathBuf {
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&at) else {
            break;
        };
        at = match at.parent() {
            Some(parent) if target.is_relative() => parent.join(target),
            _ => target,
        };
    }
    at
}

/// Removes what atomic writes killed mid-way left in `dir`.
fn remove_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TEMPORARY_PREFIX))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `loadgen report DIR`: reads DIR/summary.json (a finished run's, or the last
/// checkpoint of one that was killed) and draws report.html and stats.csv from it
/// again; returns it for the table.
pub fn redraw(dir: &Path) -> Result<Summary> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        BadInput(format!(
            "cannot read {}: {e}; give the directory a run wrote with --report",
            path.display()
        ))
    })?;
    let summary: Summary = serde_json::from_str(&text).map_err(|e| {
        BadInput(format!(
            "{}:{}:{}: not a loadgen summary: {e}; it is the summary.json that loadgen run --report writes",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if summary.schema_version > summary::SCHEMA_VERSION {
        return Err(BadInput(format!(
            "{}: schema version {} is newer than this loadgen's ({}): redraw it with the loadgen that wrote it",
            path.display(),
            summary.schema_version,
            summary::SCHEMA_VERSION
        ))
        .into());
    }
    write_atomically(&dir.join("stats.csv"), csv::render(&summary).as_bytes())?;
    write_atomically(&dir.join("report.html"), html::render(&summary).as_bytes())?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_a_file_whole_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new and longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new and longer");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["summary.json"]);
    }

    #[test]
    fn a_link_is_written_through_and_a_pipe_into_neither_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.pbtxt");
        let link = dir.path().join("load.pbtxt");
        std::os::unix::fs::symlink("real.pbtxt", &link).unwrap();
        write_atomically(&link, b"through").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"through");
        // A FIFO stands for /dev/null and /dev/stdout: written into, kept.
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomically(&fifo, b"piped").unwrap();
        assert_eq!(reader.join().unwrap(), b"piped");
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
    }

    #[test]
    fn what_a_killed_write_left_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".loadgen-abc123"), b"half").unwrap();
        std::fs::write(dir.path().join("summary.json"), b"{}").unwrap();
        remove_temporaries(dir.path());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["summary.json"]);
    }
}
