//! What the controlplane tests (`controlplane.rs`, `controller_failsafe.rs`) share: a two-node
//! cluster model and the controller's parts run as tasks.

use std::net::SocketAddr;
use std::sync::Arc;

use kakine::controller::Controller;

/// Two nodes; `web/frontend` on n1, `db/postgres` on n2.
pub const CLUSTER: &str = "\
apiVersion: kakine.io/v1alpha1
kind: Cluster
nodes:
- {name: n1, ip: 192.168.50.1, podCIDR: 10.50.1.0/24}
- {name: n2, ip: 192.168.50.2, podCIDR: 10.50.2.0/24}
namespaces:
- {name: web}
- {name: db}
pods:
- {namespace: web, name: frontend, labels: {app: frontend}, ip: 10.50.1.10, node: n1}
- {namespace: db, name: postgres, labels: {app: postgres}, ip: 10.50.2.10, node: n2}
";

/// A ClusterNetworkPolicy `name` in tier application applied to namespace `db` (node n2),
/// its ingress rule `from-web` with `action` from namespace `web`, on TCP `port` if given.
pub fn web_to_db(name: &str, action: &str, port: Option<u32>) -> String {
    let ports = port.map_or(String::new(), |p| {
        format!("    ports: [{{protocol: TCP, port: {p}}}]\n")
    });
    format!(
        "\
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: {name}}}
spec:
  priority: 5
  tier: application
  appliedTo:
  - namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: db}}}}
  ingress:
  - name: from-web
    action: {action}
{ports}    from:
    - namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: web}}}}
"
    )
}

/// A controller's parts running: the source, the batch loop, the server.
pub struct Running {
    /// The server's address.
    pub addr: SocketAddr,
    /// The controller.
    pub controller: Arc<Controller>,
    /// The tasks.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops every task and waits until they are gone (the port is free again).
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
