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
    if venv.join(COMPLETE_MARK).is_file() {
        tracing::info!(
            "using the packages of {} from {}",
            requirements.display(),
            venv.display()
        );
        return Ok(layered);
    }
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
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
