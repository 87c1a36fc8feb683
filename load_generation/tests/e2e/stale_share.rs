//! A deterministic test of share sequencing on a worker: the harness's worker
//! side is driven through its share handler (`on_worker_targets`) with real
//! Locust users on a real runner, no master and no network timing. A share of
//! the old generation, delivered after the worker dropped its users on losing
//! the master (the burst ZeroMQ delivers when a cut link heals), must start
//! nothing; a share of the new generation runs; the final stop runs whatever
//! its generation.

use crate::common;

use std::process::Command;

use common::*;

const HARNESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/locust/harness.py");

const SCRIPT: &str = r#"
import importlib.util, sys, types
import gevent
spec = importlib.util.spec_from_file_location("harness", sys.argv[1])
h = importlib.util.module_from_spec(spec)
spec.loader.exec_module(h)
from locust import User, task, constant
from locust.env import Environment

class A(User):
    wait_time = constant(0.1)
    @task
    def idle(self):
        pass

env = Environment(user_classes=[A], stop_timeout=0)
setup = {"role": {"mode": "worker", "master_host": "127.0.0.1", "master_port": 5557, "cluster_key": None},
         "locustfile": "locustfile.py", "host": None, "user_classes": ["A"], "class_names": {},
         "base_dir": None, "locust_args": [], "sample_interval": 0.5, "stop_drain": 0.5,
         "trace": {"traceparent": False, "baggage": False, "sample_ratio": 0.0, "baggage_prefix": "",
                   "run_id": "", "user_types": {}},
         "verbose": False}
worker = h.sibling("loadgen_worker").WorkerHarness(setup)  # its state as a worker's starts; no Locust process is started
# As Harness.start does:
worker.open_model = h.sibling("loadgen_open").OpenModel(worker.counts.count_iteration)
worker.tracing = h.sibling("loadgen_trace").Tracing(setup["trace"])
worker.locustfile_sha = "same"
worker.classes = {"A": A}
worker.env = env
worker.runner = env.create_local_runner()
worker.test_started = True

def share(users, generation, final=False):
    data = {"users": {"A": users}, "waits": {}, "host": None, "final": final,
            "generation": generation, "locustfile_sha": "same", "loss_s": 3}
    worker.on_worker_targets(env, types.SimpleNamespace(data=data, node_id="master"))
    gevent.sleep(0.3)
    return worker.runner.user_classes_count.get("A", 0)

running = [share(5, 0)]
worker.drop_users()  # the master was lost: generation 0 -> 1, users stopped
gevent.sleep(0.3)
running.append(worker.runner.user_classes_count.get("A", 0))
running.append(share(5, 0))   # a stale share, queued before the drop
running.append(share(3, 1))   # the master's fresh share
running.append(share(7, 0))   # another stale one, after the fresh share
running.append(share(0, 0, final=True))  # the run's end, whatever its generation
# The harness takes stdout for its protocol: the result goes to stderr.
print("running: " + " ".join(map(str, running)), file=sys.stderr)
"#;

#[test]
fn a_share_of_an_old_generation_after_the_drop_is_ignored() {
    let out = Command::new(locust_python("stale-share"))
        .args(["-c", SCRIPT, HARNESS])
        .output()
        .expect("run the script");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let running = stderr
        .lines()
        .find_map(|l| l.strip_prefix("running: "))
        .unwrap_or_else(|| panic!("no result: {stderr}"));
    // Users running after: a share (gen 0), the drop, a stale share (gen 0),
    // a fresh one (gen 1), another stale one, the final stop.
    assert_eq!(running, "5 0 0 3 3 0", "{stderr}");
}
