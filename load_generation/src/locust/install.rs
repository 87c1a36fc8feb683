//! Finding Locust, or installing a pinned one, so a fresh machine needs no manual step.
//!
//! loadgen runs its harness with the Python interpreter that has Locust: the one
//! behind `--locust` (a `locust` script or a Python interpreter), else the Python
//! beside loadgen's own executable (`pip install` / `pipx install` put both in one
//! virtual environment's `bin/`), else the one behind `locust` on PATH, else a
//! virtual environment that loadgen manages in the user's cache directory and
//! creates on first use with the pinned Locust version.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The Locust version loadgen is built and tested against, and installs.
pub const PINNED_LOCUST: &str = "2.47.0";

/// The Locust versions the harness is tested with. It drives Locust's
/// internals (runners, stats entries, the dispatch of users to workers), which
/// change between minor versions without notice, so another version is refused
/// unless the user asks to try it.
const TESTED_LOCUST: &[&str] = &[PINNED_LOCUST];

/// Set (to anything) to run a Locust version loadgen is not tested with.
const ALLOW_UNTESTED: &str = "LOADGEN_ALLOW_UNTESTED_LOCUST";

/// A Python interpreter that imports Locust 2.x.
#[derive(Debug, Clone)]
pub struct LocustInstall {
    pub python: PathBuf,
    pub version: String,
}

/// Finds a usable Locust, installing the pinned one when there is none.
pub fn find_or_install(explicit: Option<&Path>) -> Result<LocustInstall> {
    if let Some(path) = explicit {
        let python = interpreter_of(path)?;
        return check(&python).with_context(|| {
            format!(
                "the Locust given with --locust ({}) cannot be used",
                path.display()
            )
        });
    }
    if let Some(python) = python_beside_own_executable() {
        if let Ok(found) = check(&python) {
            return Ok(found);
        }
    }
    if let Some(script) = which("locust") {
        if let Ok(python) = interpreter_of(&script) {
            match check(&python) {
                Ok(found) => return Ok(found),
                Err(e) => tracing::warn!("ignoring `locust` on PATH ({}): {e:#}", script.display()),
            }
        }
    }
    managed()
}

/// The Python in the directory of loadgen's own executable, if any. pip and
/// pipx install loadgen's wheel into a virtual environment together with the
/// Locust it depends on, so that environment's Python is the one to use even
/// when it is not activated (pipx links only `loadgen` onto PATH;
/// `current_exe` follows that link back into the environment).
fn python_beside_own_executable() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?;
    ["python", "python3"]
        .iter()
        .map(|name| bin.join(name))
        .find(|p| p.is_file())
}

/// The managed virtual environment: reused when present, created when not.
fn managed() -> Result<LocustInstall> {
    let root = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("loadgen");
    let venv = root.join(format!("locust-{PINNED_LOCUST}"));
    let python = venv.join("bin").join("python");
    if let Ok(found) = check(&python) {
        return Ok(found);
    }
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create loadgen's cache directory {}", root.display()))?;
    // Two loadgen processes starting at once (tests do) must not install twice.
    let lock_file = std::fs::File::create(root.join("install.lock"))
        .with_context(|| format!("cannot create a lock file in {}", root.display()))?;
    let mut lock = fd_lock::RwLock::new(lock_file);
    let _guard = lock
        .write()
        .context("cannot lock loadgen's cache directory")?;
    if let Ok(found) = check(&python) {
        return Ok(found);
    }

    let system_python = ["python3", "python"]
        .iter()
        .find_map(|name| which(name))
        .context("Locust is not installed and no Python was found to install it: install Python 3.10 or newer (with its venv module), or pass --locust PATH")?;
    eprintln!(
        "loadgen: Locust not found; installing Locust {PINNED_LOCUST} into {} (once; later runs reuse it)",
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    run_visible(
        Command::new(&system_python)
            .arg("-m")
            .arg("venv")
            .arg(&venv),
    )
    .with_context(|| {
        format!(
            "cannot create a virtual environment with {} (on Debian: apt-get install python3-venv)",
            system_python.display()
        )
    })?;
    run_visible(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
            ])
            .arg(format!("locust=={PINNED_LOCUST}")),
    )
    .context("cannot install Locust with pip (is PyPI reachable?)")?;
    check(&python)
}

/// Runs an install step with its output shown to the user.
fn run_visible(command: &mut Command) -> Result<()> {
    eprintln!("loadgen: running {command:?}");
    let status = command
        .stdin(Stdio::null())
        .status()
        .context("cannot start the command")?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// Asks an interpreter for its Locust version, and insists on a tested one.
///
/// It reads the installed package's metadata rather than importing Locust:
/// the import (gevent's monkey-patching) costs most of a second, and the
/// harness imports Locust anyway, reporting an import failure as an error.
fn check(python: &Path) -> Result<LocustInstall> {
    let output = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('locust'))",
        ])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "{} has no Locust: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !version.starts_with("2.") {
        bail!(
            "loadgen needs Locust 2.x, but {} has Locust {version}: run `{} -m pip install locust=={PINNED_LOCUST}`, or pass --locust with another installation",
            python.display(),
            python.display()
        );
    }
    if !TESTED_LOCUST.contains(&version.as_str()) {
        if std::env::var_os(ALLOW_UNTESTED).is_none() {
            bail!(
                "loadgen is tested with Locust {} only, but {} has Locust {version}: run `{} -m pip install locust=={PINNED_LOCUST}`, or set {ALLOW_UNTESTED}=1 to try this version anyway",
                TESTED_LOCUST.join(", "),
                python.display(),
                python.display()
            );
        }
        tracing::warn!(
            "Locust {version} is not a version loadgen is tested with ({ALLOW_UNTESTED} is set)"
        );
    }
    Ok(LocustInstall {
        python: python.to_path_buf(),
        version,
    })
}

/// The Python interpreter behind a `locust` script (from its `#!` line), or the
/// path itself when it already is an interpreter.
pub fn interpreter_of(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with("python") {
        return Ok(path.to_path_buf());
    }
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let head = String::from_utf8_lossy(&text[..text.len().min(4096)]).into_owned();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let Some(shebang) = first.strip_prefix("#!") else {
        bail!(
            "{} is neither a Python interpreter nor a `locust` script",
            path.display()
        );
    };
    let mut words = shebang.split_whitespace();
    let program = words.next().unwrap_or("");
    if program.ends_with("/env") {
        let interpreter = words.find(|w| !w.starts_with('-')).unwrap_or("python3");
        return which(interpreter)
            .with_context(|| format!("{interpreter} (from {}) is not on PATH", path.display()));
    }
    if program.ends_with("/sh") {
        // pip's launcher for long paths: `'''exec' "/path/to/python" "$0" "$@"`.
        if let Some(quoted) = lines.next().and_then(|l| l.split('"').nth(1)) {
            return Ok(PathBuf::from(quoted));
        }
    }
    Ok(PathBuf::from(program))
}

/// The first executable named `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_from_shebangs() {
        let dir = tempfile::tempdir().unwrap();
        let direct = dir.path().join("locust");
        std::fs::write(&direct, "#!/opt/venv/bin/python3.11\nimport locust\n").unwrap();
        assert_eq!(
            interpreter_of(&direct).unwrap(),
            PathBuf::from("/opt/venv/bin/python3.11")
        );
        std::fs::write(
            &direct,
            "#!/bin/sh\n'''exec' \"/very/long/bin/python\" \"$0\" \"$@\"\n' '''\n",
        )
        .unwrap();
        assert_eq!(
            interpreter_of(&direct).unwrap(),
            PathBuf::from("/very/long/bin/python")
        );
        std::fs::write(&direct, "just text").unwrap();
        assert!(interpreter_of(&direct).is_err());
        assert_eq!(
            interpreter_of(Path::new("/usr/bin/python3")).unwrap(),
            PathBuf::from("/usr/bin/python3")
        );
    }
}
