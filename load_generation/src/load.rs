//! A load ready to run: config -> plan, with its checked template, read from
//! files or built in (the hipster shop, for `loadgen demo`).

use std::path::{Path, PathBuf};

use crate::config::{self, LoadConfig};
use crate::diagnostic::{Diagnostics, SourceText};
use crate::locustfile::{Given, Template};
use crate::plan::Plan;

/// The built-in hipster shop load, for `loadgen demo`.
const HIPSTER_CONFIG: &str =
    include_str!("../../applications/hipster_shop/load_generation/load.pbtxt");
const HIPSTER_TEMPLATE: &str =
    include_str!("../../applications/hipster_shop/load_generation/locustfile.loadgen.tmpl");

/// Where a load is read from: the config, and the template or locustfile
/// beside it (as `--config-file`, `--template` and `-f` say).
#[derive(Debug, Clone)]
pub struct Files {
    pub config: PathBuf,
    pub locustfile: PathBuf,
    /// A template, or a file given with `-f` (a plain locustfile unless it
    /// has the template's marker).
    pub given: Given,
}

/// A load ready to run: the validated config, its plan and its checked template.
pub struct Load {
    pub config: LoadConfig,
    pub plan: Plan,
    pub template: Template,
}

impl Load {
    /// Reads, validates and plans a load; prints warnings; fails with every error.
    pub fn open(files: &Files) -> Result<Load, Diagnostics> {
        let (template_path, given) = (&files.locustfile, files.given);
        let loaded = match config::load(&files.config) {
            Ok(loaded) => loaded,
            Err(Diagnostics(mut errors)) => {
                // The template's own problems too, so one round of fixes is enough.
                errors.extend(Template::problems_alone(template_path, given));
                return Err(Diagnostics(errors));
            }
        };
        let template = Template::load(template_path, &loaded.config, given);
        Load::assemble(loaded, template)
    }

    /// The built-in hipster shop load.
    pub fn hipster() -> Result<Load, Diagnostics> {
        let base = Path::new("applications/hipster_shop/load_generation (built in)");
        let loaded = config::parse(SourceText::new(
            base.join("load.pbtxt"),
            HIPSTER_CONFIG.to_string(),
        ))?;
        let template = Template::check(
            SourceText::new(
                base.join("locustfile.loadgen.tmpl"),
                HIPSTER_TEMPLATE.to_string(),
            ),
            &loaded.config,
        );
        Load::assemble(loaded, template)
    }

    fn assemble(
        loaded: config::Loaded,
        template: Result<Template, Diagnostics>,
    ) -> Result<Load, Diagnostics> {
        for warning in &loaded.warnings {
            eprintln!("{warning}");
        }
        let template = template?;
        let plan = Plan::build(&loaded.config, &[], template.is_plain());
        Ok(Load {
            config: loaded.config,
            plan,
            template,
        })
    }

    pub fn config_name(&self) -> String {
        self.config.source.path.file_name().map_or_else(
            || "load.pbtxt".to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

impl Load {
    /// A one-screen description: the config's path, then the plan.
    pub fn overview(&self) -> String {
        format!("{}: {}", self.config.source.path.display(), self.plan)
    }
}
