# In-process measure of what the trace headers cost a FastHttpUser (docs/benchmarks.md 3c):
# python bench/trace_inprocess.py http://127.0.0.1:PORT off|none|tp|bg|on SECONDS
# (run with Locust's Python, against `loadgen demo-shop --latency-ms 0`; "none" installs the patch with both headers off).
import os, sys, time, gevent
from locust import FastHttpUser, task, constant, events
from locust.env import Environment
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'load_generation', 'src', 'locust'))
import loadgen_trace as t
base, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
class U(FastHttpUser):
    host = base
    wait_time = constant(0)
    @task
    def get(self):
        self.client.get("/", headers={"X-User-Type": "A"})
if mode != "off":
    tr = t.Tracing({"traceparent": mode in ("on", "tp"), "baggage": mode in ("on", "bg"), "sample_ratio": 0.01, "baggage_prefix": "loadgen.", "run_id": "5f0c2a9e41d7b3c8", "user_types": {"U": "A"}})
    tr.set_phase({"number": 1, "name": "weekday", "loop_number": 1})
    t.install(tr)
    if mode == "nolisten":
        events.request.remove_listener(tr.on_request)
env = Environment(user_classes=[U], events=events)
r = env.create_local_runner()
r.start(20, spawn_rate=1000)
gevent.sleep(1.0)
n0 = env.stats.total.num_requests; c0 = time.process_time()
gevent.sleep(seconds)
n1 = env.stats.total.num_requests; c1 = time.process_time()
r.quit()
print(f"{mode}: {(n1-n0)/(c1-c0):.0f} req/CPU-s")
