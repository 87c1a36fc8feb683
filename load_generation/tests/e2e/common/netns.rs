//! The project's own test hosts: Linux network namespaces joined by two bridges,
//! the topology of pods on nodes. Every address lives only inside these
//! namespaces (10.200.1.0/24 for master <-> workers, 10.200.2.0/24 for traffic to
//! the target); nothing in the test's own namespace is touched. Dropping a
//! [`Hosts`] kills what runs inside and deletes every namespace, also when a test
//! fails.
//!
//! ```text
//!   hub namespace:  bridge "ctl" (10.200.1.0/24)      bridge "dat" (10.200.2.0/24)
//!                     |  master .1, workers .1N          | shop .1, master .2, workers .1N
//! ```
//! A worker has one interface on each bridge, so it can lose the master while the
//! target stays reachable.
#![allow(dead_code)]

use std::process::Command;

/// Whether this machine can make network namespaces (root and `ip`); tests say
/// so and skip otherwise.
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err("no `ip` (iproute2)".into()),
    }
}

/// The master's address on the control network.
pub const MASTER_CTL: &str = "10.200.1.1";
/// The shop's address on the data network.
pub const SHOP: &str = "10.200.2.1";

/// A set of namespaces: a hub with the two bridges, and named hosts.
pub struct Hosts {
    prefix: String,
    hosts: Vec<String>,
}

impl Hosts {
    /// A hub; `name` makes the namespaces' names unique to the test.
    pub fn new(name: &str) -> Hosts {
        let prefix = format!("lg{}-{name}", std::process::id() % 100_000);
        let hosts = Hosts {
            prefix,
            hosts: Vec::new(),
        };
        let hub = hosts.ns("hub");
        ip(&["netns", "add", &hub]);
        ip(&["-n", &hub, "link", "set", "lo", "up"]);
        for bridge in ["ctl", "dat"] {
            ip(&["-n", &hub, "link", "add", bridge, "type", "bridge"]);
            ip(&["-n", &hub, "link", "set", bridge, "up"]);
        }
        hosts
    }

    /// The full namespace name of host `host`.
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// Adds host `host` with an interface on the control network (`ctl`, last
    /// octet given) and/or the data network (`dat`).
    pub fn add(&mut self, host: &str, ctl: Option<u8>, dat: Option<u8>) {
        let ns = self.ns(host);
        ip(&["netns", "add", &ns]);
        self.hosts.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        for (bridge, octet, net) in [("ctl", ctl, 1), ("dat", dat, 2)] {
            let Some(octet) = octet else { continue };
            let hub_end = self.link(host, bridge);
            ip(&[
                "-n",
                &self.ns("hub"),
                "link",
                "add",
                &hub_end,
                "type",
                "veth",
                "peer",
                "name",
                bridge,
                "netns",
                &ns,
            ]);
            ip(&[
                "-n",
                &self.ns("hub"),
                "link",
                "set",
                &hub_end,
                "master",
                bridge,
                "up",
            ]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.200.{net}.{octet}/24"),
                "dev",
                bridge,
            ]);
            ip(&["-n", &ns, "link", "set", bridge, "up"]);
        }
    }

    /// The hub's end of a host's link to `bridge`.
    fn link(&self, host: &str, bridge: &str) -> String {
        format!("{bridge}-{host}")
    }

    /// Cuts (or restores) a host's link to `bridge` ("ctl" or "dat") at the hub,
    /// like a node losing its network: packets are dropped, connections stay open.
    pub fn set_link(&self, host: &str, bridge: &str, up: bool) {
        ip(&[
            "-n",
            &self.ns("hub"),
            "link",
            "set",
            &self.link(host, bridge),
            if up { "up" } else { "down" },
        ]);
    }

    /// A command that runs inside host `host`'s namespace.
    pub fn command(&self, host: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host), program]);
        c
    }

    /// Kills (SIGKILL) every process in host `host`'s namespace, as when its pod dies.
    pub fn kill_all(&self, host: &str) {
        let ns = self.ns(host);
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: kill has no memory preconditions; the pid is in our namespace.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }

    /// Runs `f` on a thread inside host `host`'s network namespace (to read a
    /// server that only that network can reach).
    pub fn within<T: Send>(&self, host: &str, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.ns(host));
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open the namespace");
                use std::os::fd::AsRawFd;
                // SAFETY: a valid namespace fd; only this thread changes namespace.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}");
                f()
            })
            .join()
            .expect("the thread inside the namespace")
        })
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in &self.hosts {
            let host = ns
                .trim_start_matches(&format!("{}-", self.prefix))
                .to_string();
            self.kill_all(&host);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        for ns in self.hosts.iter().chain([&self.ns("hub")]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `ip` with `args`, panicking with its message when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
