//! The node lab: several Kubernetes nodes' datapaths on one machine.
//!
//! Each node is a network namespace running its own `ovsdb-server` and `ovs-vswitchd`
//! (userspace datapath; each namespace has its own `ovs-netdev` tap) and its own
//! `kakine-agent --node NAME`. The nodes are joined by an underlay: a Linux bridge in a
//! "fabric" namespace and one veth per node, whose node end (`ul0`) is a port of the node's
//! `br-phy` bridge, which holds the node IP (OVS routes Geneve through it). An "outside" host
//! on the underlay owns the addresses outside the cluster that probes may reach, and is every
//! node's default route. Pods are network namespaces made by `kakine-cni` as a kubelet's runtime
//! runs it, against the node's agent (`--cni-socket`), with host-local IPAM
//! ([`crate::lab::node_pods`]): a /32 address, the Geneve MTU and a default route via the
//! node's gateway.
//!
//! Nothing is created in the root namespace: every veth is created inside a lab namespace
//! (`ip -n NS link add ... peer ... netns OTHER`). Every namespace made is listed in
//! `<dir>/netns.list` and every process in `<dir>/*.pid`, so [`teardown`] (`kakinectl lab
//! down`) removes what a kept lab left.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::lab::pods::{port_list, served};
use crate::lab::probe::{Outcome, Transport};
use crate::lab::sandbox::{run, stop_pidfile, stop_sandbox, OvsSandbox, SandboxError};
use crate::policy::resolved::{PodInfo, PodKey, Protocol};

/// The integration bridge of a lab node.
pub const BRIDGE: &str = "br-int";
/// The underlay bridge of a lab node.
pub const PHYS_BRIDGE: &str = "br-phy";

/// One node to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Node name (the agent's `--node`).
    pub name: String,
    /// Its underlay address.
    pub ip: Ipv4Addr,
}

/// What a lab is made of.
#[derive(Debug, Clone)]
pub struct LabSpec {
    /// Name prefix of its namespaces (short: `<prefix>-n0`).
    pub prefix: String,
    /// Its directory: per-node OVS and agent state, logs, pid files.
    pub dir: PathBuf,
    /// The nodes.
    pub nodes: Vec<NodeSpec>,
    /// Prefix length of the underlay subnet.
    pub underlay_len: u8,
    /// The outside host's underlay address.
    pub outside_ip: Ipv4Addr,
    /// Addresses outside the cluster the outside host answers on (/32 on its loopback).
    pub outside_addrs: Vec<Ipv4Addr>,
    /// TCP ports the outside host serves.
    pub outside_ports: Vec<u16>,
}

/// A node of a running lab.
#[derive(Debug)]
pub struct LabNode {
    /// Its spec.
    pub spec: NodeSpec,
    /// Its network namespace.
    pub netns: String,
    /// Its directory (OVS run directory, agent state and log).
    pub dir: PathBuf,
    /// Its Open vSwitch.
    pub ovs: OvsSandbox,
    agent: Option<Child>,
}

impl LabNode {
    /// The agent's state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }
    /// The agent's log.
    pub fn agent_log(&self) -> PathBuf {
        self.dir.join("agent.log")
    }
    /// The agent's CNI socket (`--cni-socket`), where `kakine-cni` attaches pods.
    pub fn cni_socket(&self) -> PathBuf {
        self.dir.join("cni.sock")
    }
    /// Interface name -> OpenFlow port of every interface of the node's OVS
    /// (`ovs-vsctl list Interface`).
    ///
    /// Errors: `ovs-vsctl` failed.
    pub fn interface_ofports(
        &self,
    ) -> Result<std::collections::BTreeMap<String, u32>, SandboxError> {
        let out = self.ovs.vsctl(&[
            "--format=csv",
            "--no-headings",
            "--columns=name,ofport",
            "list",
            "Interface",
        ])?;
        Ok(out
            .lines()
            .filter_map(|line| {
                let (name, port) = line.split_once(',')?;
                let p: i64 = port.trim().parse().ok()?;
                (p > 0).then(|| (name.trim_matches('"').to_string(), p as u32))
            })
            .collect())
    }

    /// A command run inside the node's namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns]).arg(program);
        c
    }
}

/// A pod of a running lab.
#[derive(Debug, Clone)]
pub struct LabPod {
    /// The pod.
    pub info: PodInfo,
    /// Index of its node in [`NodeLab::nodes`].
    pub node: usize,
    /// Its namespace; the node's own for a host-network pod.
    pub netns: String,
}

/// A running lab; dropping it stops and deletes everything unless [`NodeLab::keep`] was called.
#[derive(Debug)]
pub struct NodeLab {
    /// What it was made from.
    pub spec: LabSpec,
    /// The nodes, in spec order.
    pub nodes: Vec<LabNode>,
    /// The pods made so far.
    pub pods: Vec<LabPod>,
    servers: Vec<Child>,
    keep: bool,
}

fn ip_in(ns: &str, args: &[&str]) -> Result<String, SandboxError> {
    run(Command::new("ip").arg("-n").arg(ns).args(args))
}

fn exec_in(ns: &str, args: &[&str]) -> Result<String, SandboxError> {
    run(Command::new("ip").args(["netns", "exec", ns]).args(args))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl NodeLab {
    /// Makes the fabric, the outside host and every node with its OVS (no agents yet: see
    /// [`NodeLab::start_agents`]). A lab left in the same directory is torn down first.
    ///
    /// Errors: the first command that failed; what was made is deleted again.
    pub fn start(spec: LabSpec) -> Result<NodeLab, SandboxError> {
        teardown(&spec.dir);
        std::fs::create_dir_all(&spec.dir).map_err(io(&spec.dir))?;
        let mut lab = NodeLab {
            spec: spec.clone(),
            nodes: Vec::new(),
            pods: Vec::new(),
            servers: Vec::new(),
            keep: false,
        };
        let fab = lab.add_netns("fab")?;
        ip_in(&fab, &["link", "add", "fab0", "type", "bridge"])?;
        ip_in(&fab, &["link", "set", "fab0", "up"])?;
        let plen = spec.underlay_len.to_string();
        // The outside host.
        let out = lab.add_netns("out")?;
        ip_in(
            &out,
            &[
                "link", "add", "out0", "type", "veth", "peer", "name", "o0", "netns", &fab,
            ],
        )?;
        ip_in(&fab, &["link", "set", "o0", "master", "fab0", "up"])?;
        ip_in(
            &out,
            &[
                "addr",
                "add",
                &format!("{}/{plen}", spec.outside_ip),
                "dev",
                "out0",
            ],
        )?;
        ip_in(&out, &["link", "set", "out0", "up"])?;
        // Full checksums: the nodes' userspace conntrack marks partial ones invalid.
        exec_in(&out, &["ethtool", "-K", "out0", "tx", "off"])?;
        for a in &spec.outside_addrs {
            ip_in(&out, &["addr", "add", &format!("{a}/32"), "dev", "lo"])?;
        }
        // Nodes, their OVS started in parallel (most of the time is the daemons' start).
        let mut made = Vec::new();
        for (i, n) in spec.nodes.iter().enumerate() {
            let ns = lab.add_netns(&format!("n{i}"))?;
            let ul = format!("n{i}");
            ip_in(
                &ns,
                &[
                    "link", "add", "ul0", "type", "veth", "peer", "name", &ul, "netns", &fab,
                ],
            )?;
            ip_in(&fab, &["link", "set", &ul, "master", "fab0", "up"])?;
            // ul0 is an OVS port: the node's address lives on br-phy, and the kernel must
            // not answer ARP on the port itself.
            ip_in(&ns, &["link", "set", "ul0", "arp", "off"])?;
            ip_in(&ns, &["link", "set", "ul0", "up"])?;
            made.push((n.clone(), ns, spec.dir.join(format!("n{i}"))));
        }
        let started: Vec<Result<OvsSandbox, SandboxError>> = std::thread::scope(|s| {
            let hs: Vec<_> = made
                .iter()
                .map(|(_, ns, dir)| s.spawn(move || OvsSandbox::start_in(dir, Some(ns))))
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("OVS start thread"))
                .collect()
        });
        for ((spec_n, ns, dir), ovs) in made.into_iter().zip(started) {
            lab.nodes.push(LabNode {
                spec: spec_n,
                netns: ns,
                dir,
                ovs: ovs?,
                agent: None,
            });
        }
        for node in &lab.nodes {
            node.ovs.vsctl(&[
                "--",
                "add-br",
                PHYS_BRIDGE,
                "--",
                "set",
                "bridge",
                PHYS_BRIDGE,
                "datapath_type=netdev",
                "--",
                "add-port",
                PHYS_BRIDGE,
                "ul0",
            ])?;
            node.ovs.wait_bridge(PHYS_BRIDGE, Duration::from_secs(10))?;
            let ns = &node.netns;
            ip_in(
                ns,
                &[
                    "addr",
                    "add",
                    &format!("{}/{plen}", node.spec.ip),
                    "dev",
                    PHYS_BRIDGE,
                ],
            )?;
            ip_in(ns, &["link", "set", PHYS_BRIDGE, "up"])?;
            ip_in(
                ns,
                &[
                    "route",
                    "add",
                    "default",
                    "via",
                    &spec.outside_ip.to_string(),
                ],
            )?;
        }
        // The first tunnelled packet to a peer is lost while OVS resolves its MAC: tell each
        // node its peers' br-phy MACs up front.
        let macs: Vec<String> = lab
            .nodes
            .iter()
            .map(|n| link_mac(&n.netns, PHYS_BRIDGE))
            .collect::<Result<_, _>>()?;
        for node in &lab.nodes {
            for (peer, mac) in lab.nodes.iter().zip(&macs) {
                if peer.spec.name != node.spec.name {
                    node.ovs.appctl(&[
                        "tnl/arp/set",
                        PHYS_BRIDGE,
                        &peer.spec.ip.to_string(),
                        mac,
                    ])?;
                }
            }
        }
        if !spec.outside_ports.is_empty() {
            let child = lab.serve(&out, &spec.outside_ports, &[], &[], "outside")?;
            lab.servers.push(child);
        }
        Ok(lab)
    }

    fn add_netns(&mut self, suffix: &str) -> Result<String, SandboxError> {
        let ns = format!("{}-{suffix}", self.spec.prefix);
        let list = self.spec.dir.join("netns.list");
        let mut text = std::fs::read_to_string(&list).unwrap_or_default();
        text.push_str(&ns);
        text.push('\n');
        std::fs::write(&list, text).map_err(io(&list))?;
        let _ = run(Command::new("ip").args(["netns", "del", &ns]));
        run(Command::new("ip").args(["netns", "add", &ns]))?;
        ip_in(&ns, &["link", "set", "lo", "up"])?;
        exec_in(&ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
        exec_in(
            &ns,
            &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
        )?;
        Ok(ns)
    }

    /// Starts `kakine-agent --standalone input --node NAME` in every node, each with its own
    /// OVS and state directory (log: `<node dir>/agent.log`).
    ///
    /// Errors: the agent binary cannot be started.
    pub fn start_agents(&mut self, agent: &Path, input: &Path) -> Result<(), SandboxError> {
        for i in 0..self.nodes.len() {
            self.start_agent(i, agent, input)?;
        }
        Ok(())
    }

    /// Starts (or restarts) the agent of node `i`.
    ///
    /// Errors: the agent binary cannot be started.
    pub fn start_agent(
        &mut self,
        i: usize,
        agent: &Path,
        input: &Path,
    ) -> Result<(), SandboxError> {
        self.start_agent_with(i, agent, &["--standalone".into(), input.into()])
    }

    /// Starts (or restarts) the agent of node `i` with `source` as its input arguments
    /// (`--standalone DIR`, or `--controller URL --ca-file .. --token-file ..`).
    ///
    /// Errors: the agent binary cannot be started.
    pub fn start_agent_with(
        &mut self,
        i: usize,
        agent: &Path,
        source: &[std::ffi::OsString],
    ) -> Result<(), SandboxError> {
        self.stop_agent(i);
        let node = &mut self.nodes[i];
        let log = node.agent_log();
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io(&log))?;
        let child = node
            .command(agent)
            .args(source)
            .args(["--node", &node.spec.name])
            .arg("--ovs-rundir")
            .arg(node.ovs.dir())
            .arg("--state-dir")
            .arg(node.state_dir())
            .arg("--audit-log")
            .arg(node.state_dir().join("np.log"))
            .arg("--cni-socket")
            .arg(node.cni_socket())
            .args(["--bridge", BRIDGE, "--datapath-type", "netdev"])
            .args(["--metrics-addr", "off", "--drift-interval", "0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|source| SandboxError::Spawn {
                cmd: agent.display().to_string(),
                source,
            })?;
        let pidfile = node.dir.join("agent.pid");
        std::fs::write(&pidfile, format!("{}\n", child.id())).map_err(io(&pidfile))?;
        node.agent = Some(child);
        Ok(())
    }

    /// Stops the agent of node `i` (SIGKILL: a crash), if it runs.
    pub fn stop_agent(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if let Some(mut c) = node.agent.take() {
            let _ = c.kill();
            let _ = c.wait();
            let _ = std::fs::remove_file(node.dir.join("agent.pid"));
        }
    }

    /// Makes `pods` (those of a node of this lab; a host-network pod is its node itself) through
    /// `kakine-cni` (beside `kakinectl`; [`crate::lab::node_pods`]) and starts `kakinectl probe
    /// serve` on their ports. The agents must run: ADD returns once a pod's node has committed
    /// its flows. `gateways[node]` is each node's gateway address.
    ///
    /// Errors: the first command that failed (a plugin error carries its code and message).
    pub fn add_pods(
        &mut self,
        pods: &[(PodInfo, usize)],
        gateways: &[Ipv4Addr],
        kakinectl: &Path,
        udp: bool,
        sctp: bool,
    ) -> Result<(), SandboxError> {
        let base = self.pods.len();
        // Listed before they are made, so that a failure half-way still deletes them.
        let list = self.spec.dir.join("netns.list");
        let mut text = std::fs::read_to_string(&list).unwrap_or_default();
        for (k, (info, _)) in pods.iter().enumerate() {
            if !info.host_network {
                text.push_str(&format!("{}-p{}\n", self.spec.prefix, base + k));
            }
        }
        std::fs::write(&list, text).map_err(io(&list))?;
        let cni = crate::lab::node_pods::cni_binary(kakinectl);
        let configs: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                let addresses: Vec<Ipv4Addr> = pods
                    .iter()
                    .filter(|(info, at)| *at == n && !info.host_network)
                    .map(|(info, _)| info.ip)
                    .collect();
                crate::lab::node_pods::network_config(
                    &node.cni_socket(),
                    &node.dir.join("ipam"),
                    &addresses,
                    gateways[n],
                )
                .to_string()
            })
            .collect();
        for (node, config) in self.nodes.iter().zip(&configs) {
            // Kept beside the node for a person who runs kakine-cni by hand (docs/multinode.md).
            let path = node.dir.join("10-kakine.conf");
            std::fs::write(&path, config).map_err(io(&path))?;
            wait_for(&node.cni_socket(), Duration::from_secs(30))?;
        }
        let made: Vec<Result<String, SandboxError>> = std::thread::scope(|s| {
            let hs: Vec<_> = pods
                .iter()
                .enumerate()
                .map(|(k, (info, node))| {
                    let node_ns = self.nodes[*node].netns.clone();
                    let pod_ns = format!("{}-p{}", self.spec.prefix, base + k);
                    let (cni, config) = (&cni, &configs[*node]);
                    s.spawn(move || {
                        if info.host_network {
                            return Ok(node_ns);
                        }
                        crate::lab::node_pods::add(&crate::lab::node_pods::PodAdd {
                            cni,
                            node_ns: &node_ns,
                            pod_ns: &pod_ns,
                            info,
                            config,
                        })
                        .map(|_| pod_ns)
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("pod thread"))
                .collect()
        });
        for ((info, node), netns) in pods.iter().zip(made) {
            let netns = netns?;
            let tcp = served(info, Protocol::Tcp);
            let u = if udp {
                served(info, Protocol::Udp)
            } else {
                vec![]
            };
            let sc = if sctp {
                served(info, Protocol::Sctp)
            } else {
                vec![]
            };
            if !(tcp.is_empty() && u.is_empty() && sc.is_empty()) {
                let child =
                    self.serve_with(kakinectl, &netns, &tcp, &u, &sc, &info.key.to_string())?;
                self.servers.push(child);
            }
            self.pods.push(LabPod {
                info: info.clone(),
                node: *node,
                netns,
            });
        }
        // Give the servers a moment to bind.
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    }

    fn serve(
        &self,
        ns: &str,
        tcp: &[u16],
        udp: &[u16],
        sctp: &[u16],
        name: &str,
    ) -> Result<Child, SandboxError> {
        let kakinectl = crate::lab::ovs_engine::kakinectl_binary();
        self.serve_with(&kakinectl, ns, tcp, udp, sctp, name)
    }

    fn serve_with(
        &self,
        kakinectl: &Path,
        ns: &str,
        tcp: &[u16],
        udp: &[u16],
        sctp: &[u16],
        name: &str,
    ) -> Result<Child, SandboxError> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(kakinectl)
            .args(["probe", "serve", "--name", name]);
        for (flag, ports) in [("--tcp", tcp), ("--udp", udp), ("--sctp", sctp)] {
            if !ports.is_empty() {
                cmd.args([flag, &port_list(ports)]);
            }
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| SandboxError::Spawn {
                cmd: kakinectl.display().to_string(),
                source,
            })?;
        let pidfile = self.spec.dir.join(format!("server-{}.pid", child.id()));
        std::fs::write(&pidfile, format!("{}\n", child.id())).map_err(io(&pidfile))?;
        // The pod it serves, for teardown to name.
        let _ = std::fs::write(pidfile.with_extension("pod"), name);
        Ok(child)
    }

    /// A command run inside the namespace of the pod named `name` (any namespace; the node's
    /// for a host-network pod).
    ///
    /// Panics: no pod of that name (a test's typo).
    pub fn pod_command(&self, name: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let pod = self
            .pods
            .iter()
            .find(|p| p.info.key.name == name)
            .unwrap_or_else(|| panic!("no pod named {name} in the lab"));
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &pod.netns]).arg(program);
        c
    }

    /// The pod `key`, if the lab made it.
    pub fn pod(&self, key: &PodKey) -> Option<&LabPod> {
        self.pods.iter().find(|p| &p.info.key == key)
    }

    /// One real attempt (`kakinectl probe connect`) from `from`'s namespace to `ip:port`.
    /// `None`: the probe could not run.
    pub async fn probe(
        &self,
        from: &PodKey,
        ip: Ipv4Addr,
        transport: Transport,
        port: u16,
        source_port: u16,
        timeout: Duration,
    ) -> Option<Outcome> {
        let pod = self.pod(from)?;
        let protocol = match transport {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Sctp => "sctp",
        };
        let status = tokio::process::Command::new("ip")
            .args(["netns", "exec", &pod.netns])
            .arg(crate::lab::ovs_engine::kakinectl_binary())
            .args(["probe", "connect", &ip.to_string(), &port.to_string()])
            .args(["--protocol", protocol])
            .args(["--source-port", &source_port.to_string()])
            .args(["--timeout-ms", &timeout.as_millis().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .ok()?;
        Outcome::from_exit_code(status.code()?)
    }

    /// Waits until every node's agent has realized an input containing `marker` (its
    /// `last-good.yaml`), up to `timeout`.
    ///
    /// Errors: the nodes that did not, with the tail of their agent logs.
    pub fn wait_realized(&self, marker: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let missing: Vec<&LabNode> = self
                .nodes
                .iter()
                .filter(|n| {
                    !std::fs::read_to_string(n.state_dir().join("last-good.yaml"))
                        .is_ok_and(|t| t.contains(marker))
                })
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let mut msg = String::new();
                for n in missing {
                    let log = std::fs::read_to_string(n.agent_log()).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(8).collect();
                    msg.push_str(&format!(
                        "node {} did not realize the input within {timeout:?}; its agent log ends:\n  {}\n",
                        n.spec.name,
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
                    ));
                }
                return Err(msg);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Keeps everything running after drop (`kakinectl lab up`).
    pub fn keep(&mut self) {
        self.keep = true;
        for n in &mut self.nodes {
            n.ovs.keep();
            // The agent keeps running too: forget the handle without killing it.
            n.agent.take();
        }
        self.servers.clear();
    }
}

impl Drop for NodeLab {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for i in 0..self.nodes.len() {
            self.stop_agent(i);
        }
        for mut s in self.servers.drain(..) {
            let _ = s.kill();
            let _ = s.wait();
        }
        teardown(&self.spec.dir);
        let _ = std::fs::remove_dir_all(&self.spec.dir);
    }
}

/// Stops and deletes everything a lab in `dir` made (agents, servers and OVS by their pid
/// files, then its namespaces: pods first, the fabric last), and removes `dir`'s pid files.
/// Safe on a directory without a lab. Returns what it stopped or deleted, one line each
/// (`agent of n0 (pid 4242) stopped`, `netns kkdae2-p0 deleted`); empty when nothing ran.
pub fn teardown(dir: &Path) -> Vec<String> {
    let mut done = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return done;
    };
    let mut node_dirs = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("server-") && name.ends_with(".pid") {
            if let Some(pid) = stop_pidfile(&p, Duration::from_millis(200)) {
                let what = match name.as_str() {
                    "server-controller.pid" => "controller".to_string(),
                    _ => match std::fs::read_to_string(p.with_extension("pod")) {
                        Ok(pod) => format!("server of {}", pod.trim()),
                        Err(_) => "pod server".to_string(),
                    },
                };
                done.push(format!("{what} (pid {pid}) stopped"));
            }
            let _ = std::fs::remove_file(p.with_extension("pod"));
        } else if p.is_dir() && p.join("conf.db").exists() {
            node_dirs.push(p);
        }
    }
    node_dirs.sort();
    let node = |d: &Path| d.file_name().map(|n| n.to_string_lossy().to_string());
    for d in &node_dirs {
        if let Some(pid) = stop_pidfile(&d.join("agent.pid"), Duration::from_secs(2)) {
            done.push(format!(
                "agent of {} (pid {pid}) stopped",
                node(d).unwrap_or_default()
            ));
        }
    }
    for d in &node_dirs {
        let n = node(d).unwrap_or_default();
        done.extend(stop_sandbox(d).into_iter().map(|x| format!("{n}: {x}")));
    }
    if let Ok(list) = std::fs::read_to_string(dir.join("netns.list")) {
        for ns in list.lines().rev() {
            if run(Command::new("ip").args(["netns", "del", ns])).is_ok() {
                done.push(format!("netns {ns} deleted"));
            }
        }
        let _ = std::fs::remove_file(dir.join("netns.list"));
    }
    done
}

/// Waits until `path` exists (an agent's socket).
///
/// Errors: [`SandboxError::Timeout`] naming it.
fn wait_for(path: &Path, timeout: Duration) -> Result<(), SandboxError> {
    let until = Instant::now() + timeout;
    while !path.exists() {
        if Instant::now() > until {
            return Err(SandboxError::Timeout(format!(
                "{} did not appear within {} s (is the agent running?)",
                path.display(),
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The MAC of `link` in namespace `ns`.
fn link_mac(ns: &str, link: &str) -> Result<String, SandboxError> {
    let out = ip_in(ns, &["-br", "link", "show", link])?;
    out.split_whitespace()
        .nth(2)
        .map(str::to_string)
        .ok_or_else(|| SandboxError::Timeout(format!("no MAC for {link} in {ns}: {out}")))
}
