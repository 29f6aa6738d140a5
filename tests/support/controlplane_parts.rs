//! What the controlplane tests (`controlplane.rs`, `controller_failsafe.rs`) share: a two-node
//! cluster model and the controller's parts run as tasks (`agent_realization.rs` too).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kakine::controller::auth::TokenFile;
use kakine::controller::{server, standalone, tls, Controller};

/// Two nodes; `web/frontend` on n1, `db/postgres` on n2.
#[allow(dead_code)] // not every test of these parts uses it
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
#[allow(dead_code)] // not every test of these parts uses it
pub fn web_to_db(name: &str, action: &str, port: Option<u32>) -> String {
    from_web(name, action, "db", port)
}

/// A ClusterNetworkPolicy `name` in tier application applied to namespace `to`, its ingress
/// rule `from-web` with `action` from namespace `web`, on TCP `port` if given.
pub fn from_web(name: &str, action: &str, to: &str, port: Option<u32>) -> String {
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
  - namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {to}}}}}
  ingress:
  - name: from-web
    action: {action}
{ports}    from:
    - namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: web}}}}
"
    )
}

/// The standalone controller's parts on `dir` (versions from `first`) serving on
/// 127.0.0.1:`port` (0: any) with TLS from `certs` and the tokens file `tokens`, once the
/// directory's first content is applied.
#[allow(dead_code)] // not every test of these parts uses it
pub async fn start(dir: &Path, certs: &Path, tokens: &Path, first: u64, port: u16) -> Running {
    let controller = Controller::new(first);
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let auth = Arc::new(TokenFile::read(tokens).unwrap());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = tls::server_config(certs).unwrap();
    let dir = dir.to_path_buf();
    let tasks = vec![
        tokio::spawn(async move {
            standalone::watch(dir, Duration::from_millis(20), tx)
                .await
                .unwrap()
        }),
        tokio::spawn(controller.clone().run(rx, Duration::from_millis(200))),
        tokio::spawn(server::serve(listener, tls, controller.clone(), auth)),
    ];
    // The first content applied (spans are served from then on).
    for _ in 0..200 {
        if controller.synced() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(controller.synced(), "the directory was never applied");
    assert!(controller.version() > first);
    Running {
        addr,
        controller,
        tasks,
    }
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
