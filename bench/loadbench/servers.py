"""The targets: the demo shop (its request log judges fidelity) and nginx (a
fast, pure HTTP target for saturation runs, with an access log in ms)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

from .common import log
from .processes import _comm, descendants, kill_tagged, proc_cpu, reap, wait_gone


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_http(url, limit=15):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            http_get(url, timeout=1)
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {limit} s")


class Shop:
    def __init__(self, procs, loadgen, budget, args=()):
        """`args`: more `demo-shop` flags (`--latency-ms 0`, `--stall 5s/1s`)."""
        self.port = free_port()
        self.tag = procs.new_tag("shop")
        self.proc = procs.spawn(
            ["timeout", "-k", "5", str(budget), loadgen, "demo-shop", "--port", self.port, *args],
            self.tag, procs.workdir / "shop.log")
        self.host = f"http://127.0.0.1:{self.port}"
        wait_http(self.host + "/_shop/health")

    def total(self):
        return json.loads(http_get(self.host + "/_shop/counters"))["total_requests"]

    def requests(self, since):
        """The log entries from `since` on; each also gets `at` and `arrived_at`,
        its answer and arrival on the wall clock (epoch seconds)."""
        out = []
        while True:
            page = json.loads(http_get(f"{self.host}/_shop/requests?since={since}", timeout=30))
            if not page["requests"]:
                return out
            for r in page["requests"]:
                r["at"] = page["started_at"] + r["t"]
                r["arrived_at"] = page["started_at"] + r.get("arrived", r["t"])
            out.extend(page["requests"])
            since = page["next"]

    def stop(self):
        kill_tagged(self.tag, signal.SIGTERM)
        if wait_gone(self.tag, 3):
            kill_tagged(self.tag)
        try:
            self.proc.wait(timeout=5)
        except Exception:
            pass
        reap()


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  log_format bench '$msec $http_x_user_type';
  client_body_temp_path {prefix}/tmp;
  proxy_temp_path {prefix}/tmp;
  fastcgi_temp_path {prefix}/tmp;
  uwsgi_temp_path {prefix}/tmp;
  scgi_temp_path {prefix}/tmp;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  # Saturation target: a static 200, no access log.
  server {{
    listen 127.0.0.1:{fast_port};
    access_log off;
    location = /_status {{ stub_status; }}
    location / {{ return 200 "ok\\n"; }}
  }}
  # Start/stop target: the same, with a millisecond access log.
  server {{
    listen 127.0.0.1:{logged_port};
    access_log {prefix}/access.log bench;
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


def find_nginx(allow_install):
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if path or not allow_install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return path
    log("nginx not found: apt-get install -y nginx-light")
    for cmd in (["apt-get", "install", "-y", "-q", "nginx-light"], ["apt-get", "install", "-y", "-q", "nginx"]):
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=300, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        except Exception:
            continue
        if r.returncode == 0 and (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
            return shutil.which("nginx") or "/usr/sbin/nginx"
    return None


class Nginx:
    def __init__(self, procs, nginx, budget, name="nginx"):
        self.prefix = procs.workdir / name
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.fast_port, self.logged_port = free_port(), free_port()
        conf = self.prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=self.prefix, fast_port=self.fast_port, logged_port=self.logged_port))
        (self.prefix / "access.log").touch()
        self.tag = procs.new_tag(name)
        self.proc = procs.spawn(["timeout", "-k", "5", str(budget), nginx, "-p", self.prefix, "-c", conf],
                                self.tag, procs.workdir / f"{name}.out")
        self.host = f"http://127.0.0.1:{self.fast_port}"
        self.logged_host = f"http://127.0.0.1:{self.logged_port}"
        wait_http(self.host + "/_status")
        wait_http(self.logged_host + "/")
        self.access_log = self.prefix / "access.log"

    def requests(self):
        text = http_get(self.host + "/_status")
        return int(text.splitlines()[2].split()[2])

    def cpu(self):
        # nginx rewrites its environment area for its process titles: find it by parentage.
        return sum(proc_cpu(pid) or 0 for pid in descendants(self.proc.pid) if _comm(pid) == "nginx")

    def stop(self):
        kill_tagged(self.tag, signal.SIGTERM)
        if wait_gone(self.tag, 3):
            kill_tagged(self.tag)
        try:
            self.proc.wait(timeout=5)
        except Exception:
            pass
        reap()


class ShopTarget:
    """The demo shop as a saturation target when there is no nginx."""

    def __init__(self, shop):
        self.shop = shop
        self.host = shop.host

    def requests(self):
        return self.shop.total() + 1

    def cpu(self):
        return sum(proc_cpu(pid) or 0 for pid in descendants(self.shop.proc.pid) if _comm(pid) == "loadgen")
