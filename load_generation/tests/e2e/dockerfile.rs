//! Static checks of `load_generation/Dockerfile` and `.dockerignore`: the
//! builder stage copies every file the build reads, the image runs as non-root,
//! and build outputs stay out of the context. `.ci/image` builds the image for
//! real; these catch what a build would only find minutes in.

use std::fs;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate dir has a parent")
        .to_path_buf()
}

/// Dockerfile instructions as (KEYWORD, arguments), comments dropped and
/// continuation lines joined.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let text = fs::read_to_string(repo_root().join("load_generation/Dockerfile"))
        .expect("load_generation/Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (kw, rest) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        out.push((kw.to_uppercase(), rest.trim().to_owned()));
        current.clear();
    }
    out
}

/// Every file the release build reads (the crate, and what its sources pull in
/// with `include_str!`/`include_bytes!` from outside it) is copied into the
/// builder stage and not dropped by .dockerignore: otherwise `docker build`
/// fails, which no linter notices.
#[test]
fn the_builder_stage_copies_every_file_the_build_reads() {
    let root = repo_root();
    let ins = dockerfile_instructions();
    let final_stage_start = ins.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let copied: Vec<PathBuf> = ins[..final_stage_start]
        .iter()
        .filter(|(k, a)| k == "COPY" && !a.starts_with("--from"))
        .flat_map(|(_, a)| {
            let words: Vec<&str> = a.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| PathBuf::from(w.trim_end_matches('/')))
                .collect::<Vec<_>>()
        })
        .collect();
    let ignored: Vec<String> = fs::read_to_string(root.join(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let is_ignored = |path: &Path| {
        let parts: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        ignored
            .iter()
            .any(|pattern| match pattern.strip_prefix("**/") {
                Some(name) => parts.iter().any(|p| glob_match(name, p)),
                None => glob_match(pattern, &parts[0]),
            })
    };

    let mut needed = vec![
        PathBuf::from("Cargo.toml"),
        PathBuf::from("Cargo.lock"),
        PathBuf::from("load_generation/Cargo.toml"),
        PathBuf::from("load_generation/build.rs"),
        PathBuf::from("load_generation/proto/load_config.proto"),
    ];
    let src = root.join("load_generation/src");
    for file in rust_files(&src) {
        let text = fs::read_to_string(&file).unwrap();
        for macro_name in ["include_str!(\"", "include_bytes!(\""] {
            for (at, _) in text.match_indices(macro_name) {
                let rest = &text[at + macro_name.len()..];
                let literal = &rest[..rest.find('"').unwrap()];
                let resolved = normalize(&file.parent().unwrap().join(literal));
                let relative = resolved.strip_prefix(&root).unwrap().to_path_buf();
                needed.push(relative);
            }
        }
        needed.push(file.strip_prefix(&root).unwrap().to_path_buf());
    }
    assert!(
        needed
            .iter()
            .any(|p| p.starts_with("applications/hipster_shop/load_generation")),
        "the demo load is expected to be compiled in: {needed:?}"
    );
    for path in needed {
        assert!(
            root.join(&path).exists(),
            "{} does not exist",
            path.display()
        );
        assert!(
            copied.iter().any(|c| path.starts_with(c)),
            "the build reads {} but the builder stage does not COPY it (copies {copied:?})",
            path.display()
        );
        assert!(
            !is_ignored(&path),
            "the build reads {} but .dockerignore leaves it out",
            path.display()
        );
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// `a/b/../c` -> `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Docker's patterns as .dockerignore uses them here: a name with an optional `*`.
fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
        None => pattern == name,
    }
}

#[test]
fn dockerfile_builds_in_a_builder_stage_and_runs_as_non_root() {
    let ins = dockerfile_instructions();
    let froms: Vec<&str> = ins
        .iter()
        .filter(|(k, _)| k == "FROM")
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(
        froms.len() >= 2,
        "multi-stage build expected, FROMs: {froms:?}"
    );
    for from in &froms {
        let image = from.split_whitespace().next().unwrap();
        assert!(
            image.contains(':') && !image.ends_with(":latest"),
            "base image {image} must be pinned to a tag"
        );
    }
    assert!(
        froms[..froms.len() - 1]
            .iter()
            .any(|f| f.to_lowercase().ends_with(" as builder")),
        "a stage named `builder` is expected: {froms:?}"
    );
    assert!(
        froms.last().unwrap().starts_with("python:"),
        "final stage is a python image: {froms:?}"
    );
    let final_stage_start = ins.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let final_stage = &ins[final_stage_start..];

    let runs = |stage: &[(String, String)]| -> String {
        stage
            .iter()
            .filter(|(k, _)| k == "RUN")
            .map(|(_, a)| a.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        runs(&ins[..final_stage_start]).contains("cargo build --release --locked -p loadgen"),
        "builder must run `cargo build --release --locked -p loadgen`"
    );
    assert!(
        runs(final_stage).contains("locust==2.47.0"),
        "final stage must pip install locust==2.47.0"
    );

    // ARG configDir in the final stage, copied to /config.
    assert!(
        final_stage
            .iter()
            .any(|(k, a)| k == "ARG" && (a == "configDir" || a.starts_with("configDir="))),
        "final stage needs ARG configDir"
    );
    assert!(
        final_stage
            .iter()
            .any(|(k, a)| k == "COPY" && a.contains("${configDir}") && a.contains("/config")),
        "final stage must COPY ${{configDir}} to /config"
    );
    assert!(
        final_stage
            .iter()
            .any(|(k, a)| k == "ENV" && a.contains("PL_CONFIG_FILE=/config/load.pbtxt")),
        "ENV PL_CONFIG_FILE=/config/load.pbtxt"
    );

    // The last USER of the final stage is not root.
    let user = final_stage
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .map(|(_, a)| a.clone())
        .expect("final stage sets USER");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "USER {user} must not be root");
    assert!(
        uid.parse::<u32>().is_ok(),
        "USER {user} should be numeric so runAsNonRoot can verify it"
    );

    let get = |kw: &str| -> Vec<&str> {
        final_stage
            .iter()
            .filter(|(k, _)| k == kw)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    assert_eq!(get("ENTRYPOINT"), vec![r#"["loadgen"]"#]);
    assert_eq!(get("CMD"), vec![r#"["run"]"#]);
    assert_eq!(get("STOPSIGNAL"), vec!["SIGTERM"]);
    assert!(
        get("EXPOSE")
            .iter()
            .any(|e| e.split_whitespace().any(|p| p == "9646")),
        "EXPOSE 9646"
    );
}

#[test]
fn dockerignore_keeps_build_outputs_out_of_the_context() {
    let text =
        fs::read_to_string(repo_root().join(".dockerignore")).expect(".dockerignore at repo root");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.trim_start_matches("**/") == "target"),
        "target/ ignored"
    );
    assert!(lines.contains(&".git"), ".git ignored");
}
