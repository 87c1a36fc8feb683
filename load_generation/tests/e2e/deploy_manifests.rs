//! Static checks of the deployment artefacts: the Kubernetes manifests under
//! `applications/*/kubernetes_manifests/`, every kustomization under
//! `deploy/kustomize/` and `applications/` as `kubectl kustomize` renders it.
//! (One file past 600 lines on purpose: every check reads the same parsed
//! manifests, and each is a short test of its own. The Dockerfile's checks are
//! in `dockerfile.rs`.)
//!
//! Schema validity is checked by `.ci/lint-deploy` (kubernetes-validate,
//! hadolint); these tests pin down what the schemas cannot: that every pod is
//! confined to the dedicated load node, is locked down, has limits, and that
//! the probes, ports and flags agree with each other.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_yaml_ng::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate dir has a parent")
        .to_path_buf()
}

/// Every `*.yaml`/`*.yml` under `applications/*/kubernetes_manifests/`.
fn manifest_files() -> Vec<PathBuf> {
    let apps = repo_root().join("applications");
    let mut files = Vec::new();
    for app in fs::read_dir(&apps).expect("applications/ exists") {
        let dir = app.unwrap().path().join("kubernetes_manifests");
        if !dir.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

struct Doc {
    file: PathBuf,
    value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }
    fn file_name(&self) -> &str {
        self.file.file_name().unwrap().to_str().unwrap()
    }
    fn what(&self) -> String {
        format!("{} {}/{}", self.file.display(), self.kind(), self.name())
    }
    fn pod_spec(&self) -> &Value {
        &self.value["spec"]["template"]["spec"]
    }
}

/// All non-empty documents of all manifest files and rendered kustomizations.
fn docs() -> Vec<Doc> {
    let mut texts: Vec<(PathBuf, String)> = manifest_files()
        .into_iter()
        .map(|file| {
            let text = fs::read_to_string(&file).unwrap();
            (file, text)
        })
        .collect();
    texts.extend(rendered_kustomizations().iter().cloned());
    let mut docs = Vec::new();
    for (file, text) in texts {
        for de in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(de)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", file.display()));
            if !value.is_null() {
                docs.push(Doc {
                    file: file.clone(),
                    value,
                });
            }
        }
    }
    docs
}

/// Every kustomization under `deploy/` and `applications/` (components aside:
/// they only render as part of one).
fn kustomizations() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
                let text = fs::read_to_string(&path).unwrap();
                if !text.lines().any(|l| l == "kind: Component") {
                    found.push(path.parent().unwrap().to_path_buf());
                }
            }
        }
    }
    let mut found = Vec::new();
    for top in ["deploy", "applications"] {
        walk(&repo_root().join(top), &mut found);
    }
    found.sort();
    found
}

/// kubectl, which renders kustomizations: `$KUBECTL`, the one `.ci/lint-deploy`
/// installs from PyPI, or the one on PATH. CI must have it; elsewhere the
/// rendered checks are skipped with a note.
fn kubectl() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return Some(PathBuf::from(path));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    let from_lint = cache.map(|c| c.join("loadgen-ci/venv/bin/kubectl"));
    if let Some(path) = from_lint.filter(|p| p.is_file()) {
        return Some(path);
    }
    let on_path = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    on_path.then(|| PathBuf::from("kubectl"))
}

/// Each kustomization with what `kubectl kustomize` printed for it, rendered once.
fn rendered_kustomizations() -> &'static [(PathBuf, String)] {
    static RENDERED: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let Some(kubectl) = kubectl() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "kubectl is needed in CI to render the kustomizations (.ci/lint-deploy installs it)"
            );
            eprintln!("kubectl not found: the rendered kustomizations are not checked (run .ci/lint-deploy once to install it)");
            return Vec::new();
        };
        kustomizations()
            .into_iter()
            .map(|dir| {
                let out = Command::new(&kubectl)
                    .arg("kustomize")
                    .arg(&dir)
                    .output()
                    .expect("kubectl runs");
                assert!(
                    out.status.success(),
                    "kubectl kustomize {}: {}",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                (dir, String::from_utf8(out.stdout).unwrap())
            })
            .collect()
    })
}

/// The pods that run loadgen: Deployments and Jobs.
fn workloads() -> Vec<Doc> {
    let found: Vec<Doc> = docs()
        .into_iter()
        .filter(|d| matches!(d.kind(), "Deployment" | "Job"))
        .collect();
    assert!(
        !found.is_empty(),
        "no Deployment or Job found in any manifest"
    );
    found
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map(|s| s.as_slice()).unwrap_or(&[])
}

/// Containers and init containers of a pod spec.
fn all_containers(pod: &Value) -> Vec<&Value> {
    seq(&pod["initContainers"])
        .iter()
        .chain(seq(&pod["containers"]))
        .collect()
}

fn args(container: &Value) -> Vec<String> {
    seq(&container["command"])
        .iter()
        .chain(seq(&container["args"]))
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

/// Value of `--flag=value` or `--flag value`.
fn flag(args: &[String], name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if let Some(v) = a.strip_prefix(&prefix) {
            Some(v.to_owned())
        } else if a == name {
            args.get(i + 1).cloned()
        } else {
            None
        }
    })
}

/// Port part of `HOST:PORT`.
fn port_of(addr: &str) -> i64 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in address {addr:?}"))
}

/// The `loadgen` container of a pod (the one whose args start with a subcommand).
fn main_container(doc: &Doc) -> &Value {
    let containers = seq(&doc.pod_spec()["containers"]);
    assert_eq!(
        containers.len(),
        1,
        "{}: expected exactly one container",
        doc.what()
    );
    &containers[0]
}

fn subcommand(doc: &Doc) -> String {
    args(main_container(doc))
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("{}: container has no args (subcommand)", doc.what()))
}

/// A probe's httpGet port as a number, resolving named container ports.
fn probe_port(container: &Value, probe: &Value) -> i64 {
    let port = &probe["httpGet"]["port"];
    if let Some(n) = port.as_i64() {
        return n;
    }
    let name = port.as_str().expect("probe port is a number or a name");
    seq(&container["ports"])
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["containerPort"].as_i64())
        .unwrap_or_else(|| panic!("probe refers to unknown port name {name:?}"))
}

#[test]
fn manifests_exist_and_parse() {
    let files: Vec<String> = manifest_files()
        .iter()
        .map(|f| f.strip_prefix(repo_root()).unwrap().display().to_string())
        .collect();
    let plain = "applications/hipster_shop/kubernetes_manifests/loadgenerator.yaml";
    assert!(
        files.iter().any(|f| f == plain),
        "missing {plain}; found {files:?}"
    );
    let kustomizations: Vec<String> = kustomizations()
        .iter()
        .map(|d| d.strip_prefix(repo_root()).unwrap().display().to_string())
        .collect();
    for expected in [
        "applications/hipster_shop",
        "deploy/kustomize/base",
        "deploy/kustomize/distributed",
        "deploy/kustomize/job",
    ] {
        assert!(
            kustomizations.iter().any(|k| k == expected),
            "missing kustomization {expected}; found {kustomizations:?}"
        );
    }
    for doc in docs() {
        assert!(
            doc.value["apiVersion"].is_string(),
            "{}: no apiVersion",
            doc.what()
        );
        assert!(!doc.kind().is_empty(), "{}: no kind", doc.file.display());
        assert!(!doc.name().is_empty(), "{}: no metadata.name", doc.what());
    }
}

#[test]
fn deployments_are_pinned_to_the_dedicated_load_node() {
    let mut expected_toleration = serde_yaml_ng::Mapping::new();
    for (k, v) in [
        ("key", "dedicated"),
        ("operator", "Equal"),
        ("value", "load"),
        ("effect", "NoSchedule"),
    ] {
        expected_toleration.insert(k.into(), v.into());
    }
    for doc in workloads() {
        let pod = doc.pod_spec();
        assert_eq!(
            pod["nodeSelector"]["dedicatednode"].as_str(),
            Some("load"),
            "{}: nodeSelector must have dedicatednode: load",
            doc.what()
        );
        let tolerations = seq(&pod["tolerations"]);
        assert!(
            tolerations
                .iter()
                .any(|t| t.as_mapping() == Some(&expected_toleration)),
            "{}: needs exactly the toleration {{key: dedicated, operator: Equal, value: load, \
             effect: NoSchedule}}; has {tolerations:?}",
            doc.what()
        );
    }
}

#[test]
fn deployments_run_locked_down_as_non_root() {
    for doc in workloads() {
        let pod = doc.pod_spec();
        let pod_sc = &pod["securityContext"];
        for c in all_containers(pod) {
            let sc = &c["securityContext"];
            let what = format!(
                "{} container {}",
                doc.what(),
                c["name"].as_str().unwrap_or("?")
            );
            // Container-level settings override the pod-level ones.
            let effective = |key: &str| -> Value {
                if !sc[key].is_null() {
                    sc[key].clone()
                } else {
                    pod_sc[key].clone()
                }
            };
            assert_eq!(
                effective("runAsNonRoot").as_bool(),
                Some(true),
                "{what}: runAsNonRoot"
            );
            let uid = effective("runAsUser").as_i64();
            assert!(
                matches!(uid, Some(u) if u > 0),
                "{what}: runAsUser must be a non-zero UID, is {uid:?}"
            );
            assert_eq!(
                sc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{what}: allowPrivilegeEscalation: false"
            );
            assert_eq!(
                sc["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{what}: readOnlyRootFilesystem: true"
            );
            assert!(
                seq(&sc["capabilities"]["drop"])
                    .iter()
                    .any(|c| c.as_str() == Some("ALL")),
                "{what}: capabilities.drop must contain ALL"
            );
            assert_eq!(
                effective("seccompProfile")["type"].as_str(),
                Some("RuntimeDefault"),
                "{what}: seccompProfile RuntimeDefault"
            );
        }
    }
}

#[test]
fn deployments_have_resource_requests_and_limits() {
    for doc in workloads() {
        for c in all_containers(doc.pod_spec()) {
            let what = format!(
                "{} container {}",
                doc.what(),
                c["name"].as_str().unwrap_or("?")
            );
            for kind in ["requests", "limits"] {
                for res in ["cpu", "memory"] {
                    assert!(
                        !c["resources"][kind][res].is_null(),
                        "{what}: resources.{kind}.{res} missing"
                    );
                }
            }
        }
    }
}

#[test]
fn writable_paths_and_config_file_are_mounted() {
    for doc in workloads() {
        let c = main_container(&doc);
        let mounts: Vec<&str> = seq(&c["volumeMounts"])
            .iter()
            .filter_map(|m| m["mountPath"].as_str())
            .collect();
        // Read-only root filesystem: /tmp (HOME, caches, rendered locustfile) must be a volume.
        assert!(
            mounts.contains(&"/tmp"),
            "{}: /tmp must be mounted (emptyDir)",
            doc.what()
        );
        let env: BTreeMap<&str, &str> = seq(&c["env"])
            .iter()
            .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
            .collect();
        for var in ["HOME", "XDG_CACHE_HOME"] {
            let v = env
                .get(var)
                .unwrap_or_else(|| panic!("{}: env {var} not set", doc.what()));
            assert!(
                v.starts_with("/tmp"),
                "{}: {var}={v} is not under /tmp",
                doc.what()
            );
        }
        // --config_file must live in a mounted volume or in the image's /config.
        let args = args(c);
        if let Some(config) = flag(&args, "--config_file") {
            let dir = Path::new(&config)
                .parent()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                dir == "/config" || mounts.contains(&dir.as_str()),
                "{}: --config_file={config} is neither in the image's /config nor in a mounted volume {mounts:?}",
                doc.what()
            );
        }
    }
}

#[test]
fn single_node_probes_use_healthz_on_the_metrics_port() {
    let deps = workloads();
    let doc = deps
        .iter()
        .find(|d| d.file_name() == "loadgenerator.yaml" && d.name() == "loadgenerator")
        .expect("Deployment loadgenerator in loadgenerator.yaml");
    assert_eq!(subcommand(doc), "run");
    let c = main_container(doc);
    let args = args(c);
    let metrics_addr = flag(&args, "--metrics-addr").expect("--metrics-addr in args");
    let metrics_port = port_of(&metrics_addr);
    assert!(
        flag(&args, "--wait-for-host").is_some(),
        "--wait-for-host in args"
    );
    for probe_kind in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let probe = &c[probe_kind];
        if probe.is_null() && probe_kind == "startupProbe" {
            continue;
        }
        assert_eq!(
            probe["httpGet"]["path"].as_str(),
            Some("/healthz"),
            "{probe_kind} path"
        );
        assert_eq!(
            probe_port(c, probe),
            metrics_port,
            "{probe_kind} port vs --metrics-addr"
        );
    }
    let scrape_port =
        &doc.value["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"];
    assert_eq!(
        scrape_port.as_str().and_then(|p| p.parse::<i64>().ok()),
        Some(metrics_port),
        "prometheus.io/port annotation vs --metrics-addr"
    );
    let env_frontend = seq(&c["env"])
        .iter()
        .find(|e| e["name"].as_str() == Some("FRONTEND_ADDR"))
        .and_then(|e| e["value"].as_str());
    assert_eq!(env_frontend, Some("frontend:80"));
}

#[test]
fn distributed_master_and_workers_agree() {
    let all = docs();
    let mut sources: Vec<&Path> = all
        .iter()
        .filter(|d| d.kind() == "Deployment" && subcommand(d) == "worker")
        .map(|d| d.file.as_path())
        .collect();
    sources.dedup();
    if kubectl().is_some() {
        assert!(
            sources.len() >= 2,
            "the distributed overlay and the hipster example both run workers; found {sources:?}"
        );
    }
    for source in sources {
        master_and_workers_agree(&all, source);
    }
}

/// In one manifest or rendered kustomization: the master waits for as many
/// workers as run, and they reach it through its Service.
fn master_and_workers_agree(all: &[Doc], source: &Path) {
    let in_source: Vec<&Doc> = all.iter().filter(|d| d.file == source).collect();
    let one = |what: &str, matches: &dyn Fn(&Doc) -> bool| -> &Doc {
        let found: Vec<&&Doc> = in_source.iter().filter(|d| matches(d)).collect();
        assert_eq!(found.len(), 1, "{}: one {what}", source.display());
        found[0]
    };
    let worker = one("worker Deployment", &|d| {
        d.kind() == "Deployment" && subcommand(d) == "worker"
    });
    let master = one("master Deployment", &|d| {
        d.kind() == "Deployment" && subcommand(d) == "run"
    });
    let wargs = args(main_container(worker));
    let target = flag(&wargs, "--master").expect("--master on the workers");
    let master_host = target.rsplit_once(':').map_or(target.as_str(), |(h, _)| h);
    let service = one("master Service", &|d| {
        d.kind() == "Service" && d.name() == master_host
    });

    assert_eq!(
        master.value["spec"]["replicas"].as_i64(),
        Some(1),
        "one master"
    );
    let margs = args(main_container(master));

    // The master waits for exactly as many workers as the worker Deployment runs.
    let expect: i64 = flag(&margs, "--expect-workers")
        .expect("--expect-workers on the master")
        .parse()
        .unwrap();
    assert_eq!(
        worker.value["spec"]["replicas"].as_i64(),
        Some(expect),
        "worker replicas vs master --expect-workers"
    );

    // Workers reach the master through the Service, on the port it binds.
    let bind_port = port_of(&flag(&margs, "--master-bind").expect("--master-bind on the master"));
    let (host, port) = match target.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse::<i64>().unwrap()),
        None => (target.clone(), 5557),
    };
    assert_eq!(
        host,
        service.name(),
        "workers' --master host is the master Service"
    );
    let svc_port = seq(&service.value["spec"]["ports"])
        .iter()
        .find(|p| p["port"].as_i64() == Some(port))
        .unwrap_or_else(|| panic!("Service {} does not expose port {port}", service.name()));
    let target_port = svc_port["targetPort"].as_i64().unwrap_or(port);
    assert_eq!(
        target_port, bind_port,
        "Service targetPort vs --master-bind"
    );

    // Keyed by default: master and workers read the same Secret's key.
    let keyed = |d: &Doc| -> (Option<String>, Option<String>) {
        let container = main_container(d);
        let file = seq(&container["env"])
            .iter()
            .find(|e| e["name"].as_str() == Some("LOADGEN_CLUSTER_KEY_FILE"))
            .and_then(|e| e["value"].as_str())
            .map(str::to_owned);
        let dir = file
            .as_deref()
            .and_then(|f| Path::new(f).parent())
            .and_then(|p| p.to_str())
            .map(str::to_owned);
        let mount = seq(&container["volumeMounts"])
            .iter()
            .find(|m| m["mountPath"].as_str().map(str::to_owned) == dir)
            .and_then(|m| m["name"].as_str())
            .map(str::to_owned);
        let secret = seq(&d.pod_spec()["volumes"])
            .iter()
            .find(|v| v["name"].as_str().map(str::to_owned) == mount)
            .and_then(|v| v["secret"]["secretName"].as_str())
            .map(str::to_owned);
        (file, secret)
    };
    let (master_key, worker_key) = (keyed(master), keyed(worker));
    assert!(
        master_key.0.is_some() && master_key.1.is_some(),
        "{}: the master reads no cluster key from a Secret: {master_key:?}",
        source.display()
    );
    assert_eq!(
        master_key,
        worker_key,
        "{}: master and workers read the same key",
        source.display()
    );

    // The Service selects the master pods and also exposes the metrics port.
    let selector = service.value["spec"]["selector"]
        .as_mapping()
        .expect("Service selector");
    let labels = master.value["spec"]["template"]["metadata"]["labels"]
        .as_mapping()
        .expect("master pod labels");
    for (k, v) in selector {
        assert_eq!(
            labels.get(k),
            Some(v),
            "Service selector {k:?} does not match the master pods"
        );
    }
    let metrics_port =
        port_of(&flag(&margs, "--metrics-addr").expect("--metrics-addr on the master"));
    assert!(
        seq(&service.value["spec"]["ports"])
            .iter()
            .any(|p| p["targetPort"].as_i64().or(p["port"].as_i64()) == Some(metrics_port)),
        "Service exposes the metrics port {metrics_port}"
    );
    let mc = main_container(master);
    for probe_kind in ["livenessProbe", "readinessProbe"] {
        assert_eq!(mc[probe_kind]["httpGet"]["path"].as_str(), Some("/healthz"));
        assert_eq!(
            probe_port(mc, &mc[probe_kind]),
            metrics_port,
            "master {probe_kind} port"
        );
    }
}

#[test]
fn the_job_is_bounded_judged_and_keeps_its_report() {
    let jobs: Vec<Doc> = workloads()
        .into_iter()
        .filter(|d| d.kind() == "Job")
        .collect();
    if kubectl().is_some() {
        assert!(!jobs.is_empty(), "deploy/kustomize/job renders a Job");
    }
    for job in &jobs {
        let spec = &job.value["spec"];
        assert_eq!(
            spec["backoffLimit"].as_i64(),
            Some(0),
            "{}: a failed verdict must not rerun the load",
            job.what()
        );
        assert_eq!(
            job.pod_spec()["restartPolicy"].as_str(),
            Some("Never"),
            "{}",
            job.what()
        );
        let c = main_container(job);
        let args = args(c);
        assert_eq!(args.first().map(String::as_str), Some("run"));
        let seconds = |flag_name: &str| -> u64 {
            let value = flag(&args, flag_name).unwrap_or_else(|| panic!("{flag_name} on the Job"));
            humantime::parse_duration(&value)
                .unwrap_or_else(|e| panic!("{flag_name}={value}: {e}"))
                .as_secs()
        };
        let deadline = spec["activeDeadlineSeconds"]
            .as_u64()
            .expect("activeDeadlineSeconds");
        assert!(
            deadline > seconds("--run_time") + seconds("--wait-for-host"),
            "{}: activeDeadlineSeconds {deadline} leaves no room for the run",
            job.what()
        );
        assert!(
            args.iter().any(|a| a.starts_with("--fail-if=")),
            "{}: a Job without thresholds has no verdict",
            job.what()
        );
        // The report and the JUnit file land on the claim, which outlives the pod.
        let claims: BTreeMap<&str, &str> = seq(&job.pod_spec()["volumes"])
            .iter()
            .filter_map(|v| {
                Some((
                    v["name"].as_str()?,
                    v["persistentVolumeClaim"]["claimName"].as_str()?,
                ))
            })
            .collect();
        for output in ["--report", "--junit"] {
            let path = flag(&args, output).unwrap_or_else(|| panic!("{output} on the Job"));
            let mount = seq(&c["volumeMounts"])
                .iter()
                .find(|m| {
                    m["mountPath"]
                        .as_str()
                        .is_some_and(|p| path.starts_with(&format!("{p}/")))
                })
                .unwrap_or_else(|| panic!("{}: {output}={path} is on no volume", job.what()));
            let volume = mount["name"].as_str().unwrap();
            assert!(
                claims.contains_key(volume),
                "{}: {output} is written to {volume}, which is not a PersistentVolumeClaim",
                job.what()
            );
        }
    }
}

#[test]
fn the_hipster_example_carries_its_config_and_names_the_image_once() {
    let Some((_, rendered)) = rendered_kustomizations()
        .iter()
        .find(|(dir, _)| dir.ends_with("applications/hipster_shop"))
    else {
        return; // kubectl missing outside CI (rendered_kustomizations said so)
    };
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(rendered)
        .map(|de| Value::deserialize(de).unwrap())
        .collect();
    let config = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "loadgenerator-config")
        .expect("the ConfigMap loadgenerator-config");
    let dir = repo_root().join("applications/hipster_shop/load_generation");
    for file in ["load.pbtxt", "locustfile.loadgen.tmpl"] {
        assert_eq!(
            config["data"][file].as_str(),
            Some(fs::read_to_string(dir.join(file)).unwrap().as_str()),
            "the ConfigMap's {file} is the application's"
        );
    }
    let mut images: Vec<&str> = docs
        .iter()
        .flat_map(|d| all_containers(&d["spec"]["template"]["spec"]))
        .filter_map(|c| c["image"].as_str())
        .collect();
    images.dedup();
    assert_eq!(images, ["loadgen:latest"], "one image, from `images:`");
    let hosts: Vec<&str> = docs
        .iter()
        .flat_map(|d| seq(&d["spec"]["template"]["spec"]["containers"]))
        .flat_map(|c| seq(&c["env"]))
        .filter(|e| e["name"] == "PL_HOST")
        .filter_map(|e| e["value"].as_str())
        .collect();
    assert_eq!(
        hosts,
        ["http://frontend:80"],
        "the master is given the host"
    );
}
