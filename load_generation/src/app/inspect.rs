//! The commands that look at a load without running it: `check` (validate,
//! import in Locust, show the plan and the client) and `render` (write the
//! locustfiles for inspection).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::{CheckArgs, RenderArgs};
use crate::load::Load;
use crate::locust::import_check;
use crate::locust::requirements;
use crate::locustfile;

/// `loadgen check`: validate, import the locustfile in Locust, show the plan.
pub fn check(args: &CheckArgs) -> Result<()> {
    let load = Load::open(&args.config.files())?;
    print!("{}", load.overview());
    let imported = if args.no_import {
        None
    } else {
        let locust = requirements::locust_for(
            args.python.locust.as_deref(),
            args.python.requirements.as_deref(),
            &load.template.source.path,
        )?;
        Some((
            import_check::import(&load, &locust, args.python.user_class)?,
            locust.version,
        ))
    };
    if let Some(mapping) = load
        .template
        .mapping_overview(imported.as_ref().map(|(c, _)| c.as_slice()))
    {
        println!("{}:", load.template.source.path.display());
        print!("{mapping}");
    }
    match &imported {
        Some((classes, version)) => println!(
            "Imported in Locust {version}: User classes {}",
            classes.join(", ")
        ),
        None => println!("(not imported in Locust: --no-import)"),
    }
    if !load.template.is_plain() {
        println!(
            "Client: {}",
            load.template.client(args.python.user_class).why
        );
    }
    for note in load.template.notes() {
        println!("{note}");
    }
    println!(
        "OK: {} and {} are valid.",
        load.config.source.path.display(),
        load.template.source.path.display()
    );
    Ok(())
}

/// `loadgen render`: write the locustfiles for inspection.
pub fn render(args: &RenderArgs) -> Result<()> {
    let load = Load::open(&args.config.files())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if let Some(note) = load.template.shape_note() {
        println!("{note}");
    }
    if load.template.is_plain() {
        return copy_plain(&load.template.source.path, &args.out);
    }
    let name = load.config_name();
    let mut written = Vec::new();
    let client = load.template.client(args.user_class);
    println!("Client: {}", client.why);
    if let Some(note) = load.template.legacy_note() {
        println!("{note}; the files written keep them, and run where loadgen's harness loads them");
    }
    let user_class = client.class;
    let run_file = locustfile::render_for_run(&load.template, &load.plan, user_class, &name);
    written.push(write_file(&args.out.join("locustfile.py"), &run_file.text)?);
    for i in 0..load.plan.phases.len() {
        let file = locustfile::render_for_phase(&load.template, &load.plan, i, user_class, &name);
        written.push(write_file(
            &args.out.join(format!("locustfile.phase{}.py", i + 1)),
            &file.text,
        )?);
    }
    println!("Wrote:");
    println!(
        "  {}  (the whole load; loadgen sets users and waits per phase while running)",
        written[0].display()
    );
    for (i, path) in written.iter().enumerate().skip(1) {
        println!(
            "  {}  (phase {i} alone: `locust -f {}` runs its mix)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// A plain locustfile runs as it is: `render` copies it byte for byte (there is
/// nothing to render; loadgen sets how many users of each class run while running).
fn copy_plain(locustfile: &Path, out: &Path) -> Result<()> {
    let name = locustfile.file_name().unwrap_or("locustfile.py".as_ref());
    let copy = out.join(name);
    std::fs::copy(locustfile, &copy)
        .with_context(|| format!("cannot copy {} to {}", locustfile.display(), copy.display()))?;
    println!("Wrote:");
    println!(
        "  {}  (a plain locustfile runs as it is: copied unchanged; loadgen sets how many users of each class run, phase by phase, while running)",
        copy.display()
    );
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<PathBuf> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.to_path_buf())
}
