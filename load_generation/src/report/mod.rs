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

/// Creates the report directory (and its parents) readable by this user only,
/// as every file in it is (see [`write_atomically`]): a run's record names the
/// target, its routes and its failures, which a run's owner shares on purpose
/// (`chmod -R a+rX DIR`), not by default. A directory that exists keeps its mode.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the report directory {}", dir.display()))
}

/// Writes `bytes` to `path` so that a reader, or a kill at any moment, finds the
/// old file or the new one and never part of one: a temporary file beside it,
/// synced to disk, then renamed over it (a rename within a directory is atomic),
/// and the directory synced so that the rename survives a crash of the node.
///
/// The file is readable and writable by this user only (0600, made so by the
/// temporary file it starts as), whatever it was before.
///
/// Only a regular file (or none) is replaced so. A symbolic link is written
/// through, and stays a link; a device or a pipe (`-o /dev/stdout`, a FIFO) is
/// written into as it is: a file renamed over one replaces it, and so a
/// benchmark's `loadgen shape -o /dev/null` once left /dev/null a regular file
/// for every later program on the machine. A link is followed only where the
/// kernel's own `protected_symlinks` rule would follow it: see [`through_links`].
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let path = &through_links(path)?;
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
///
/// Reading links by hand bypasses the kernel's `fs.protected_symlinks`, which
/// is what stops another user's link in a shared directory (`--report /tmp`,
/// `/tmp/summary.json -> ~you/.bashrc`) from turning a write into theirs. So the
/// same rule is kept here: a link is followed only if this user owns it, or the
/// owner of the directory it is in does (who could have put anything there).
fn through_links(path: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt as _;
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&at) else {
            break;
        };
        let parent = match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let link_owner = std::fs::symlink_metadata(&at).map(|m| m.uid())?;
        let dir_owner = std::fs::metadata(&parent).map(|m| m.uid())?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if link_owner != me && link_owner != dir_owner {
            anyhow::bail!(
                "{} is a symbolic link owned by another user (uid {link_owner}) in a directory they do not own: \
                 loadgen does not write through it; remove the link or write elsewhere",
                at.display()
            );
        }
        at = if target.is_relative() {
            parent.join(target)
        } else {
            target
        };
    }
    Ok(at)
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
    fn the_report_directory_and_its_files_are_this_users_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("reports/run-1");
        create_dir(&dir).unwrap();
        write_atomically(&dir.join("summary.json"), b"{}").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("reports")), 0o700);
        assert_eq!(mode(&dir.join("summary.json")), 0o600);
    }

    #[test]
    fn another_users_link_in_a_shared_directory_is_not_written_through() {
        use std::os::unix::fs::PermissionsExt as _;
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: making another user's link needs root");
            return;
        }
        let chown = |p: &Path, uid: u32| {
            let name = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
            assert_eq!(unsafe { libc::lchown(name.as_ptr(), uid, uid) }, 0);
        };
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("victim");
        std::fs::write(&victim, b"theirs").unwrap();
        // A /tmp of its own: sticky, open to all, owned by someone else.
        let shared = root.path().join("tmp");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        chown(&shared, 40_000);
        let planted = shared.join("summary.json");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        chown(&planted, 40_001);
        let error = write_atomically(&planted, b"mine").unwrap_err();
        assert!(
            format!("{error:#}").contains("owned by another user"),
            "{error:#}"
        );
        assert_eq!(std::fs::read(&victim).unwrap(), b"theirs");
        // The directory's owner's own link is followed, as the kernel would.
        chown(&planted, 40_000);
        write_atomically(&planted, b"mine").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"mine");
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
