//! The local-node exemption: traffic from a pod's own node into the pod skips ingress policy.
//!
//! A Kubernetes NetworkPolicy cannot isolate a pod from its resident node (kubelet probes must
//! work: the NetworkPolicy concept docs), and an Antrea `nodeSelector` rule does not affect a
//! node's traffic to its own pods (Antrea `docs/antrea-network-policy.md`, Node selector). The
//! packet is recognised by its source, the node IP, and its destination pod (reg1 = ofport); it
//! goes straight to IngressMetric, as an established packet does. Another node's IP matches
//! nothing here and is judged by the rules.

use std::collections::HashMap;

use openflow::flow::{FlowMod, Match, MatchField};

use crate::datapath::pipeline::{prio, regs};
use crate::policy::resolved::{PodInfo, PodKey, ResolvedPolicies};

use super::base::{ip, reg_match, t, with_cookie};
use super::{cookie, CompileError, LocalPod};

/// One IngressClassifier flow per local pod whose node IP the model gives:
/// `ip,nw_src=<node IP>,reg1=<ofport>` → IngressMetric (cookie category POD, object ofport).
/// Host-network pods are skipped (they are never policy subjects).
pub(super) fn local_node_flows(
    flows: &mut Vec<FlowMod>,
    policies: &ResolvedPolicies,
    local: &[LocalPod],
    round: u16,
) -> Result<(), CompileError> {
    let icls = t("IngressClassifier")?;
    // The model's pods by key, the first of a repeated key (a scan of the model per local pod
    // was quadratic: 1.2 G instructions of key comparisons for 10,000 pods).
    let mut by_key: HashMap<&PodKey, &PodInfo> = HashMap::with_capacity(policies.pods.len());
    for p in &policies.pods {
        by_key.entry(&p.key).or_insert(p);
    }
    for pod in local {
        let Some(info) = by_key.get(&pod.key) else {
            continue;
        };
        let Some(node_ip) = info.node_ip.filter(|_| !info.host_network) else {
            continue;
        };
        flows.push(with_cookie(
            icls.flow(
                prio::LOW,
                Match::from(vec![
                    ip(),
                    MatchField::Ipv4Src(node_ip, None),
                    reg_match(regs::TARGET_OFPORT, pod.ofport),
                ]),
                vec![icls.goto("IngressMetric")?],
            ),
            round,
            cookie::POD,
            pod.ofport,
        ));
    }
    Ok(())
}
