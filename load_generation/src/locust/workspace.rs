//! The private directory of a run: what the harness processes read.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{HARNESS_PY, SIBLINGS};
use crate::load::Load;
use crate::locustfile::{self, Locustfile, UserClass};

/// The private directory of a run: the rendered locustfile and the harness, mode
/// 0700, removed when the run ends.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub locustfile: Locustfile,
}

impl Workspace {
    /// The workspace of a run whose template renders with `user_class`
    /// (decided by [`crate::locustfile::Template::client`]).
    pub fn create(load: &Load, user_class: UserClass) -> Result<Workspace> {
        use std::os::unix::fs::PermissionsExt as _;
        // tempfile would use the default mode (0755 under umask 022): world-readable.
        let dir = tempfile::Builder::new()
            .prefix("loadgen-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .context("cannot create a private temporary directory")?;
        let locustfile =
            locustfile::render_for_run(&load.template, &load.plan, user_class, &load.config_name());
        if !locustfile.plain {
            std::fs::write(dir.path().join("locustfile.py"), &locustfile.text)?;
        }
        std::fs::write(dir.path().join("loadgen_harness.py"), HARNESS_PY)?;
        for (name, text) in SIBLINGS {
            std::fs::write(dir.path().join(name), text)?;
        }
        Ok(Workspace { dir, locustfile })
    }

    /// The file the harness loads: a plain locustfile is the user's own, so that
    /// `__file__` and its tracebacks name it; a template's rendering is private.
    pub fn locustfile_path(&self) -> PathBuf {
        if self.locustfile.plain {
            let path = &self.locustfile.template;
            std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())
        } else {
            self.dir.path().join("locustfile.py")
        }
    }

    pub fn harness_path(&self) -> PathBuf {
        self.dir.path().join("loadgen_harness.py")
    }
}
