//! Every policy object of an input, by kind, and the identities of the objects.

use super::*;
use crate::policy::model_v1alpha2;

/// Every policy object of an input, by kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySet {
    /// Custom tiers.
    pub tiers: Vec<Tier>,
    /// ClusterNetworkPolicies and Antrea NetworkPolicies.
    pub antrea_policies: Vec<AntreaPolicy>,
    /// ClusterGroups.
    pub cluster_groups: Vec<ClusterGroup>,
    /// K8s NetworkPolicies.
    pub k8s_policies: Vec<K8sNetworkPolicy>,
    /// Namespaced Antrea `Group`s (the ClusterGroup shape; `metadata.namespace` set).
    pub groups: Vec<ClusterGroup>,
    /// AdminNetworkPolicies and the BaselineAdminNetworkPolicy.
    pub admin_policies: Vec<AdminPolicy>,
    /// `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicies (Admin and Baseline tiers).
    pub network_policies_v1alpha2: Vec<model_v1alpha2::NetworkPolicyV1Alpha2>,
}

/// One parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyObject {
    /// A Tier.
    Tier(Tier),
    /// A ClusterNetworkPolicy or Antrea NetworkPolicy.
    Antrea(AntreaPolicy),
    /// A ClusterGroup.
    ClusterGroup(ClusterGroup),
    /// A K8s NetworkPolicy.
    K8s(K8sNetworkPolicy),
    /// A namespaced Antrea Group.
    Group(ClusterGroup),
    /// An AdminNetworkPolicy or BaselineAdminNetworkPolicy.
    Admin(AdminPolicy),
    /// A `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy.
    V1Alpha2(model_v1alpha2::NetworkPolicyV1Alpha2),
}

impl PolicySet {
    /// How many objects, of every kind.
    pub fn len(&self) -> usize {
        self.tiers.len()
            + self.antrea_policies.len()
            + self.cluster_groups.len()
            + self.k8s_policies.len()
            + self.groups.len()
            + self.admin_policies.len()
            + self.network_policies_v1alpha2.len()
    }

    /// Whether there is no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds one object.
    pub fn push(&mut self, object: PolicyObject) {
        match object {
            PolicyObject::Tier(t) => self.tiers.push(t),
            PolicyObject::Antrea(p) => self.antrea_policies.push(p),
            PolicyObject::ClusterGroup(g) => self.cluster_groups.push(g),
            PolicyObject::K8s(p) => self.k8s_policies.push(p),
            PolicyObject::Group(g) => self.groups.push(g),
            PolicyObject::Admin(p) => self.admin_policies.push(p),
            PolicyObject::V1Alpha2(p) => self.network_policies_v1alpha2.push(p),
        }
    }
}

impl AntreaPolicy {
    /// The kind as written in YAML.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            AntreaKind::Cluster => "ClusterNetworkPolicy",
            AntreaKind::Namespaced => "NetworkPolicy",
        }
    }

    /// `name`, or `namespace/name` for the namespaced kind.
    pub fn full_name(&self) -> String {
        match (self.kind, &self.metadata.namespace) {
            (AntreaKind::Namespaced, Some(ns)) => format!("{ns}/{}", self.metadata.name),
            _ => self.metadata.name.clone(),
        }
    }
}

impl K8sNetworkPolicy {
    /// The policy's namespace (`default` when metadata has none).
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// `namespace/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.namespace(), self.metadata.name)
    }
}
