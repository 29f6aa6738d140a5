//! A lab: the pods of a cluster model as network namespaces on a sandbox OVS, TCP servers in them,
//! and a reachability matrix measured with real connections next to the reference evaluator's.
//!
//! Used by `kakinectl demo` and by the integration tests.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::lab::probe::{Outcome, Transport};
use crate::lab::sandbox::{PodNetns, SandboxError};
use crate::policy::resolved::{PodInfo, PodKey, Protocol, ResolvedPolicies};
use crate::policy::{evaluate, Decision, Destination, Probe, Verdict};

/// A pod of the lab.
#[derive(Debug)]
pub struct LabPod {
    /// The pod in the model.
    pub info: PodInfo,
    /// Its namespace and veth.
    pub netns: PodNetns,
    /// TCP ports it serves.
    pub tcp_ports: Vec<u16>,
}

/// Pods plus their servers. Dropping it stops the servers and deletes the namespaces.
#[derive(Debug)]
pub struct Lab {
    /// The pods.
    pub pods: Vec<LabPod>,
    servers: Vec<std::process::Child>,
    kakinectl: PathBuf,
}

/// Which servers a lab starts in its pods (`kakinectl probe serve`).
#[derive(Debug, Clone, Copy)]
pub struct Servers<'a> {
    /// The `kakinectl` binary.
    pub kakinectl: &'a Path,
    /// Also echo on the pods' UDP ports.
    pub udp: bool,
    /// Also accept on the pods' SCTP ports (only where the kernel has SCTP).
    pub sctp: bool,
}

/// The prefix length that puts every pod address in one on-link subnet.
pub fn common_prefix_len(ips: &[Ipv4Addr]) -> u8 {
    let Some(first) = ips.first() else { return 32 };
    let first = u32::from(*first);
    let mut len = 32;
    for ip in ips {
        let diff = first ^ u32::from(*ip);
        len = len.min(diff.leading_zeros() as u8);
    }
    len.min(24)
}

pub(crate) fn served(info: &PodInfo, protocol: Protocol) -> Vec<u16> {
    let mut ports: Vec<u16> = info
        .ports
        .iter()
        .filter(|(p, _)| *p == protocol)
        .map(|(_, n)| *n)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

pub(crate) fn port_list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl Lab {
    /// Creates every pod of `policies.pods` as a namespace named `<prefix>-<ns>-<name>` with a host
    /// veth named by [`crate::agent::interfaces::host_ifname`], and starts `kakinectl probe serve` in each on the
    /// pod's TCP ports. With `pid_dir`, each server's pid goes to `<pid_dir>/<netns>.pid` and each
    /// pod's host veth to `<pid_dir>/<netns>.netns`, so a later `kakinectl demo --clean` can stop
    /// and delete what a `--keep` run left, whatever its input was.
    pub fn create(
        policies: &ResolvedPolicies,
        prefix: &str,
        kakinectl: &Path,
        pid_dir: Option<&Path>,
    ) -> Result<Lab, SandboxError> {
        let servers = Servers {
            kakinectl,
            udp: false,
            sctp: false,
        };
        Lab::create_with(policies, prefix, Some(servers), pid_dir)
    }

    /// [`Lab::create`] with a choice of servers (`None`: pods only, no process in them). The
    /// namespaces are made in parallel; if one fails, those already made are deleted.
    pub fn create_with(
        policies: &ResolvedPolicies,
        prefix: &str,
        servers: Option<Servers<'_>>,
        pid_dir: Option<&Path>,
    ) -> Result<Lab, SandboxError> {
        let ips: Vec<Ipv4Addr> = policies.pods.iter().map(|p| p.ip).collect();
        let plen = common_prefix_len(&ips);
        let mut lab = Lab {
            pods: Vec::new(),
            servers: Vec::new(),
            kakinectl: servers
                .map(|s| s.kakinectl.to_path_buf())
                .unwrap_or_default(),
        };
        let names = |info: &PodInfo| {
            (
                format!("{prefix}-{}-{}", info.key.namespace, info.key.name),
                crate::agent::interfaces::host_ifname(prefix, &info.key.namespace, &info.key.name),
            )
        };
        if let Some(dir) = pid_dir {
            for info in &policies.pods {
                // A marker per pod, so that a later clean-up finds every namespace.
                let (netns, host_if) = names(info);
                let path = dir.join(format!("{netns}.netns"));
                std::fs::create_dir_all(dir)
                    .and_then(|_| std::fs::write(&path, format!("{host_if}\n")))
                    .map_err(|source| SandboxError::Io { path, source })?;
            }
        }
        let made: Vec<Result<PodNetns, SandboxError>> = std::thread::scope(|s| {
            let handles: Vec<_> = policies
                .pods
                .iter()
                .map(|info| {
                    let (netns, host_if) = names(info);
                    let mac = info
                        .mac
                        .unwrap_or_else(|| crate::policy::mac::default_mac(info.ip));
                    s.spawn(move || PodNetns::create(&netns, &host_if, info.ip, plen, mac))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("pod creation thread"))
                .collect()
        });
        let mut pods = Vec::new();
        for (info, pod) in policies.pods.iter().zip(made) {
            let pod = pod?;
            if let Some(addr) = info.ipv6 {
                pod.add_ipv6(addr)?;
            }
            pods.push((info, pod));
        }
        for (info, pod) in pods {
            let tcp_ports = served(info, Protocol::Tcp);
            if let Some(srv) = servers {
                let udp_ports = if srv.udp {
                    served(info, Protocol::Udp)
                } else {
                    vec![]
                };
                let sctp_ports = if srv.sctp {
                    served(info, Protocol::Sctp)
                } else {
                    vec![]
                };
                if !(tcp_ports.is_empty() && udp_ports.is_empty() && sctp_ports.is_empty()) {
                    let mut cmd = pod.command(srv.kakinectl);
                    cmd.args(["probe", "serve", "--name", &info.key.to_string()]);
                    for (flag, ports) in [
                        ("--tcp", &tcp_ports),
                        ("--udp", &udp_ports),
                        ("--sctp", &sctp_ports),
                    ] {
                        if !ports.is_empty() {
                            cmd.args([flag, &port_list(ports)]);
                        }
                    }
                    let child =
                        // No inherited stdio: a server outliving a `--keep` demo must not hold
                        // the demo's output pipe open.
                        cmd.stdout(std::process::Stdio::null())
                            .stderr(std::process::Stdio::null())
                            .spawn()
                            .map_err(|source| SandboxError::Spawn {
                                cmd: srv.kakinectl.display().to_string(),
                                source,
                            })?;
                    if let Some(dir) = pid_dir {
                        let path = dir.join(format!("{}.pid", pod.netns));
                        std::fs::create_dir_all(dir)
                            .and_then(|_| std::fs::write(&path, format!("{}\n", child.id())))
                            .map_err(|source| SandboxError::Io { path, source })?;
                    }
                    lab.servers.push(child);
                }
            }
            lab.pods.push(LabPod {
                info: info.clone(),
                netns: pod,
                tcp_ports,
            });
        }
        if servers.is_some() {
            // Give the servers a moment to bind.
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(lab)
    }

    /// Keeps namespaces (and servers) after drop, for `KEEP=1`.
    pub fn keep(&mut self) {
        for p in &mut self.pods {
            p.netns.keep();
        }
        self.servers.clear();
    }

    /// The pod `key`.
    pub fn pod(&self, key: &PodKey) -> Option<&LabPod> {
        self.pods.iter().find(|p| &p.info.key == key)
    }

    /// One real TCP connection attempt from `from` to `to:port`, inside `from`'s namespace.
    pub async fn probe_tcp(
        &self,
        from: &PodKey,
        to_ip: impl Into<IpAddr>,
        port: u16,
        timeout: Duration,
    ) -> Option<Outcome> {
        self.probe(from, to_ip.into(), Transport::Tcp, port, 0, timeout)
            .await
    }

    /// One real attempt (`kakinectl probe connect`) from `from`'s namespace to `to_ip:port` over
    /// `transport`, from `source_port` (0 = any). `None`: the probe could not run.
    pub async fn probe(
        &self,
        from: &PodKey,
        to_ip: impl Into<IpAddr>,
        transport: Transport,
        port: u16,
        source_port: u16,
        timeout: Duration,
    ) -> Option<Outcome> {
        let to_ip = to_ip.into();
        let pod = self.pod(from)?;
        let protocol = match transport {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Sctp => "sctp",
        };
        let status = tokio::process::Command::new("ip")
            .args(["netns", "exec", &pod.netns.netns])
            .arg(&self.kakinectl)
            .args(["probe", "connect", &to_ip.to_string(), &port.to_string()])
            .args(["--protocol", protocol])
            .args(["--source-port", &source_port.to_string()])
            .args(["--timeout-ms", &timeout.as_millis().to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .ok()?;
        Outcome::from_exit_code(status.code()?)
    }

    /// Measures every (client, server, served TCP port) cell with real connections, all at once,
    /// and evaluates each with the reference evaluator; between two dual-stack pods, over IPv4
    /// and over IPv6.
    pub async fn matrix(&self, policies: &ResolvedPolicies, timeout: Duration) -> Matrix {
        let mut probes = Vec::new();
        for to in &self.pods {
            for &port in &to.tcp_ports {
                for from in &self.pods {
                    if from.info.key == to.info.key {
                        continue;
                    }
                    let (from_key, to_key) = (from.info.key.clone(), to.info.key.clone());
                    probes.push((
                        from_key.clone(),
                        to_key.clone(),
                        IpAddr::V4(to.info.ip),
                        port,
                    ));
                    if let (Some(_), Some(v6)) = (from.info.ipv6, to.info.ipv6) {
                        probes.push((from_key, to_key, IpAddr::V6(v6), port));
                    }
                }
            }
        }
        let futures = probes
            .iter()
            .map(|(from, _, ip, port)| self.probe_tcp(from, *ip, *port, timeout));
        let outcomes = futures::future::join_all(futures).await;
        let cells = probes
            .into_iter()
            .zip(outcomes)
            .map(|((from, to, ip, port), measured)| {
                let probe = Probe {
                    from: from.clone(),
                    to: match ip {
                        IpAddr::V4(_) => Destination::Pod(to.clone()),
                        v6 => Destination::Ip(v6),
                    },
                    protocol: Protocol::Tcp,
                    port,
                    source_port: None,
                };
                let expected = evaluate(policies, &probe);
                Cell {
                    from,
                    to,
                    port,
                    ipv6: ip.is_ipv6(),
                    measured,
                    expected,
                }
            })
            .collect();
        Matrix {
            pods: self.pods.iter().map(|p| p.info.key.clone()).collect(),
            cells,
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One probe: measured and expected.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Client.
    pub from: PodKey,
    /// Server.
    pub to: PodKey,
    /// TCP port.
    pub port: u16,
    /// Whether the connection went between the pods' IPv6 addresses.
    pub ipv6: bool,
    /// What the real connection did (`None`: the probe could not run).
    pub measured: Option<Outcome>,
    /// The reference evaluator's decision.
    pub expected: Decision,
}

impl Cell {
    /// Whether the measurement agrees with the evaluator.
    pub fn agrees(&self) -> bool {
        matches!(
            (self.measured, self.expected.verdict),
            (Some(Outcome::Connected), Verdict::Allow)
                | (Some(Outcome::TimedOut), Verdict::Deny)
                | (Some(Outcome::Refused), Verdict::Reject)
        )
    }
}

/// A reachability matrix.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Pods, in row/column order.
    pub pods: Vec<PodKey>,
    /// Cells.
    pub cells: Vec<Cell>,
}

fn measured_symbol(o: Option<Outcome>) -> &'static str {
    match o {
        Some(Outcome::Connected) => "+",
        Some(Outcome::TimedOut) => "x",
        Some(Outcome::Refused) => "R",
        None => "?",
    }
}

fn verdict_symbol(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "+",
        Verdict::Deny => "x",
        Verdict::Reject => "R",
    }
}

impl Matrix {
    /// Cells that disagree.
    pub fn mismatches(&self) -> Vec<&Cell> {
        self.cells.iter().filter(|c| !c.agrees()).collect()
    }

    /// Renders one measured | expected grid per port; `explain` adds the deciding rules.
    pub fn render(&self, explain: bool) -> String {
        let mut ports: Vec<(bool, u16)> = self.cells.iter().map(|c| (c.ipv6, c.port)).collect();
        ports.sort_unstable();
        ports.dedup();
        let index: BTreeMap<(&PodKey, &PodKey, bool, u16), &Cell> = self
            .cells
            .iter()
            .map(|c| ((&c.from, &c.to, c.ipv6, c.port), c))
            .collect();
        // Pod names alone when they are unique, `namespace/name` otherwise.
        let unique = {
            let mut n: Vec<&str> = self.pods.iter().map(|p| p.name.as_str()).collect();
            n.sort_unstable();
            n.windows(2).all(|w| w[0] != w[1])
        };
        let names: Vec<String> = self
            .pods
            .iter()
            .map(|p| {
                if unique {
                    p.name.clone()
                } else {
                    p.to_string()
                }
            })
            .collect();
        let w = names.iter().map(String::len).max().unwrap_or(3).max(4);
        let mut s = String::new();
        for (ipv6, port) in ports {
            let family = if ipv6 { " over IPv6" } else { "" };
            s.push_str(&format!(
                "\nTCP port {port}{family}: rows = client, columns = server; + allowed, x dropped, R rejected, . not probed (self, or port not served); ! differs\n"
            ));
            let header: String = names.iter().map(|n| format!(" {n:>w$}")).collect();
            s.push_str(&format!(
                "{:w$}  measured{}   |  expected\n",
                "",
                " ".repeat(header.len().saturating_sub(8))
            ));
            s.push_str(&format!("{:w$} {header}   | {header}\n", ""));
            for (i, from) in self.pods.iter().enumerate() {
                let mut left = String::new();
                let mut right = String::new();
                for to in &self.pods {
                    let (m, e) = match index.get(&(from, to, ipv6, port)) {
                        None => (".", ".".to_string()),
                        Some(c) => {
                            let e = verdict_symbol(c.expected.verdict);
                            let mark = if c.agrees() { "" } else { "!" };
                            (measured_symbol(c.measured), format!("{e}{mark}"))
                        }
                    };
                    left.push_str(&format!(" {m:>w$}"));
                    right.push_str(&format!(" {e:>w$}"));
                }
                s.push_str(&format!("{:>w$} {left}   | {right}\n", names[i]));
            }
        }
        if explain {
            s.push_str("\nDeciding rules (reference evaluator):\n");
            for c in &self.cells {
                let rule = |r: &Option<crate::policy::resolved::RuleRef>| {
                    r.as_ref()
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "-".into())
                };
                s.push_str(&format!(
                    "  {} -> {}:{}{}  measured {}  expected {:?}  egress: {}  ingress: {}{}\n",
                    c.from,
                    c.to,
                    c.port,
                    if c.ipv6 { " (IPv6)" } else { "" },
                    measured_symbol(c.measured),
                    c.expected.verdict,
                    rule(&c.expected.egress),
                    rule(&c.expected.ingress),
                    if c.agrees() { "" } else { "  MISMATCH" }
                ));
            }
        }
        s
    }
}
