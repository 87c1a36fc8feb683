//! A locustfile's own Python dependencies: its `requirements.txt` installed into a
//! virtual environment layered on loadgen's Locust, cached by the file's content.
//!
//! The layer is a venv of its own whose site-packages come first, with a `.pth`
//! file that adds the Locust installation's site-packages after them: the user's
//! packages are found, Locust and its dependencies are not installed twice (pip
//! sees them as installed), and the Locust installation itself is never changed.
//! A layer is reused while the requirements' text, the Locust interpreter and its
//! version are the same; it is marked complete only after pip succeeded, so an
//! interrupted install is redone, not half-used.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::install::LocustInstall;
use crate::diagnostic::BadInput;

/// The name of the file beside a locustfile that lists its dependencies.
pub const REQUIREMENTS_FILE: &str = "requirements.txt";

/// Written into a layer once pip has installed everything into it.
const COMPLETE_MARK: &str = "loadgen-complete";

/// The Locust a load runs with, the one place every command finds it: the
/// installation given (`--locust`), else found or installed, with the
/// packages of the requirements given, or of the `requirements.txt` beside
/// the locustfile, layered on it.
pub fn locust_for(
    explicit: Option<&Path>,
    given_requirements: Option<&Path>,
    locustfile: &Path,
) -> Result<LocustInstall> {
    let locust = super::install::find_or_install(explicit)?;
    match requirements_for(given_requirements, locustfile) {
        Some(file) => layer(&locust, &file),
        None => Ok(locust),
    }
}

/// The requirements file to install: the one given, else `requirements.txt` beside
/// the locustfile when there is one.
pub fn requirements_for(given: Option<&Path>, locustfile: &Path) -> Option<PathBuf> {
    if let Some(path) = given {
        return Some(path.to_path_buf());
    }
    let beside = locustfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(REQUIREMENTS_FILE);
    beside.is_file().then_some(beside)
}

/// The Locust installation with the packages of `requirements` available:
/// a cached layer when one matches, else a new one, installed with pip's progress shown.
pub fn layer(locust: &LocustInstall, requirements: &Path) -> Result<LocustInstall> {
    let text = std::fs::read(requirements)
        .with_context(|| format!("cannot read {}", requirements.display()))?;
    let root = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("loadgen")
        .join("requirements");
    let venv = root.join(layer_key(&text, locust));
    let python = venv.join("bin").join("python");
    let layered = LocustInstall {
        python: python.clone(),
        version: locust.version.clone(),
    };
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    // loadgen runs the layer's Python: no one else may be able to put one there.
    for dir in [root.parent(), Some(root.as_path())].into_iter().flatten() {
        private(dir)?;
    }
    if venv.exists() {
        private(&venv)?;
    }
    if venv.join(COMPLETE_MARK).is_file() {
        tracing::info!(
            "using the packages of {} from {}",
            requirements.display(),
            venv.display()
        );
        return Ok(layered);
    }
    // Two loadgen processes (a master and `loadgen worker`, or tests) must not build one layer at once.
    let lock_file = std::fs::File::create(root.join("install.lock"))
        .with_context(|| format!("cannot create a lock file in {}", root.display()))?;
    let mut lock = fd_lock::RwLock::new(lock_file);
    let _guard = lock.write().context("cannot lock the requirements cache")?;
    if venv.join(COMPLETE_MARK).is_file() {
        return Ok(layered);
    }

    eprintln!(
        "loadgen: installing the packages of {} into {} (once per content; later runs reuse it)",
        requirements.display(),
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new(&locust.python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv))
    .context("cannot create a virtual environment for the requirements")?;
    let locust_site = site_packages(&locust.python)?;
    let own_site = site_packages(&python)?;
    std::fs::write(
        own_site.join("loadgen-locust.pth"),
        format!("{}\n", locust_site.display()),
    )
    .with_context(|| format!("cannot write into {}", own_site.display()))?;
    // pip runs from the Locust installation (which has it), installing into the layer.
    run(Command::new(&locust.python)
        .args(["-m", "pip", "--python"])
        .arg(&python)
        .args([
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-r",
        ])
        .arg(requirements))
    .map_err(|e| {
        // The user's file names a package pip cannot have: bad input (exit 2).
        BadInput(format!(
            "cannot install the packages of {}: {e}; check each name and version on https://pypi.org \
             (pip's messages above say which one failed), and that PyPI is reachable",
            requirements.display()
        ))
    })?;
    std::fs::write(venv.join(COMPLETE_MARK), b"")
        .with_context(|| format!("cannot write into {}", venv.display()))?;
    Ok(layered)
}

/// The cache key of a layer: the requirements' text, the Locust interpreter and version.
fn layer_key(requirements: &[u8], locust: &LocustInstall) -> String {
    let mut hash = Sha256::new();
    hash.update(requirements);
    hash.update(b"\0");
    hash.update(locust.python.as_os_str().as_encoded_bytes());
    hash.update(b"\0");
    hash.update(locust.version.as_bytes());
    let digest = hash.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `dir` is this user's own and that no one else can write in it
/// (nor replace what is in it): a directory, not a link, owned by this user
/// (or root), not writable by its group or others. One of this user's own
/// that its group or others may write in (a umask of 002) is made private
/// first. A cache that falls back to the shared temporary directory could
/// otherwise hold a layer another user made, whose Python loadgen would run.
fn private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let meta =
        std::fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.file_type().is_dir() && meta.uid() == me && meta.mode() & 0o022 != 0 {
        let mode = meta.mode() & 0o7755;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot make {} private", dir.display()))?;
        return private(dir);
    }
    let why = if !meta.file_type().is_dir() {
        Some("it is not a directory (a link?)".to_string())
    } else if meta.uid() != me && meta.uid() != 0 {
        Some(format!(
            "it belongs to user {}, not to this user ({me})",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "its mode {:o} lets others write in it",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(BadInput(format!(
            "{} cannot hold the packages loadgen runs: {why}. Remove it, or set XDG_CACHE_HOME \
             to a directory of your own",
            dir.display()
        ))
        .into()),
        None => Ok(()),
    }
}

/// An interpreter's site-packages directory.
fn site_packages(python: &Path) -> Result<PathBuf> {
    let output = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !output.status.success() {
        bail!("{} cannot say where its packages go", python.display());
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// Runs a step with its output shown (pip's progress and errors go to stderr).
fn run(command: &mut Command) -> Result<()> {
    let program = format!(
        "`python {}`",
        command
            .get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{program} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_is_used_only_from_a_directory_no_one_else_can_write() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("a directory");
        let own = dir.path().join("own");
        std::fs::create_dir(&own).expect("mkdir");
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(private(&own).is_ok());
        // This user's own, open to others: made private, then used.
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(private(&own).is_ok());
        let mode = std::fs::metadata(&own).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&own, &link).expect("a link");
        assert!(private(&link)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // As root (CI), a directory given to another user is refused.
            std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            std::os::unix::fs::chown(&own, Some(65534), None).expect("chown");
            let theirs = private(&own).unwrap_err().to_string();
            assert!(
                theirs.contains("belongs to user 65534") && theirs.contains("XDG_CACHE_HOME"),
                "{theirs}"
            );
        }
    }

    #[test]
    fn the_key_follows_the_content_and_the_locust() {
        let locust = LocustInstall {
            python: PathBuf::from("/a/bin/python"),
            version: "2.47.0".into(),
        };
        let other = LocustInstall {
            python: PathBuf::from("/b/bin/python"),
            version: "2.47.0".into(),
        };
        assert_eq!(layer_key(b"six\n", &locust), layer_key(b"six\n", &locust));
        assert_ne!(
            layer_key(b"six\n", &locust),
            layer_key(b"six==1.16\n", &locust)
        );
        assert_ne!(layer_key(b"six\n", &locust), layer_key(b"six\n", &other));
        assert_eq!(layer_key(b"", &locust).len(), 16);
    }

    #[test]
    fn requirements_beside_the_locustfile_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("locustfile.py");
        assert_eq!(requirements_for(None, &file), None);
        std::fs::write(dir.path().join(REQUIREMENTS_FILE), "six\n").unwrap();
        assert_eq!(
            requirements_for(None, &file),
            Some(dir.path().join(REQUIREMENTS_FILE))
        );
        let given = Path::new("/elsewhere/reqs.txt");
        assert_eq!(
            requirements_for(Some(given), &file),
            Some(given.to_path_buf())
        );
    }
}
