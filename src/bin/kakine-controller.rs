//! kakine-controller: computes each node's span from the policies and the cluster and serves
//! it to the agents over the controlplane (HTTP/2 + TLS, docs/controlplane.md).
//!
//! `kakine-controller --standalone DIR --tls-cert-dir CERTS --tokens FILE` serves agents from
//! the YAML directory `kakinectl` reads, with per-node tokens; `kakine-controller certs --out
//! DIR --hosts h1,h2` writes a CA and a serving certificate. Without `--standalone` it runs
//! in a cluster (Kubernetes watchers, TokenReview, CRD status, leader election).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kakine::controller::auth::TokenFile;
use kakine::controller::kube as kube_layer;
use kakine::controller::{metrics, server, standalone, tls, Controller};
use kube_layer::lease::LeaseOptions;
use kube_layer::{KubeOptions, TokenReviewAuthenticator};

#[derive(Parser)]
#[command(
    name = "kakine-controller",
    version,
    arg_required_else_help = true,
    about = "kakine controller: per-node policy spans served to the agents"
)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Serve the cluster model and policies of the YAML files of this directory (no API
    /// server; agents authenticate with --tokens).
    #[arg(long, value_name = "DIR")]
    standalone: Option<PathBuf>,
    /// The controlplane's address.
    #[arg(long, default_value = "0.0.0.0:10349", value_name = "ADDR")]
    listen: SocketAddr,
    /// The serving certificate: tls.crt, tls.key (and ca.crt, what agents trust).
    #[arg(long, value_name = "DIR")]
    tls_cert_dir: Option<PathBuf>,
    /// Standalone credentials: lines `NODE TOKEN`.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// The namespace of the controller's objects (CA ConfigMap, Lease).
    #[arg(long, default_value = "kube-system", value_name = "NS")]
    namespace: String,
    /// The ConfigMap the CA is published in.
    #[arg(long, default_value = "kakine-ca", value_name = "NAME")]
    ca_configmap: String,
    /// Run with leader election on a Lease (two replicas).
    #[arg(long)]
    leader_elect: bool,
    /// Also watch Antrea's crd.antrea.io objects (migration).
    #[arg(long)]
    antrea_crds: bool,
    /// In a cluster: the audience the agents' projected ServiceAccount tokens are for.
    #[arg(long, default_value = "kakine-controller", value_name = "AUDIENCE")]
    token_audience: String,
    /// In a cluster: the agents' ServiceAccount (in --namespace); other tokens are refused.
    #[arg(long, default_value = "kakine-agent", value_name = "NAME")]
    agent_service_account: String,
    /// /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:10350", value_name = "ADDR")]
    metrics_addr: SocketAddr,
    /// Log filter (tracing `EnvFilter` syntax: info, debug, kakine=debug, ...).
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    log_level: String,
}

#[derive(Subcommand)]
enum Command {
    /// Write a CA (ca.crt) and a serving certificate signed by it (tls.crt, tls.key).
    Certs {
        /// The directory to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The names and addresses agents reach the controller by, comma-separated.
        #[arg(long, value_name = "H1,H2", value_delimiter = ',', required = true)]
        hosts: Vec<String>,
    },
}

/// The serving certificate and, with `--standalone`, the token file, or every problem of the
/// command line at once (each naming its flag and path): a missing or unreadable
/// `--tls-cert-dir`, an unreadable `--standalone DIR`, a missing or bad `--tokens FILE`.
fn check_start(args: &Args) -> Result<Start, String> {
    let mut errors = Vec::new();
    let cert_dir = args.tls_cert_dir.clone();
    let mut tls = None;
    match &cert_dir {
        Some(dir) => match tls::server_config(dir) {
            Ok(t) => tls = Some(t),
            Err(e) => errors.push(format!("--tls-cert-dir {}: {e}", dir.display())),
        },
        None => errors.push(
            "--tls-cert-dir DIR is required: the controlplane is TLS only (`kakine-controller \
             certs` writes one)"
                .to_string(),
        ),
    }
    let mut tokens = None;
    if let Some(dir) = &args.standalone {
        match std::fs::read_dir(dir) {
            Ok(_) => {}
            Err(e) => errors.push(format!(
                "--standalone {}: cannot read the directory: {e}",
                dir.display()
            )),
        }
        match &args.tokens {
            None => errors.push(
                "--standalone needs --tokens FILE: the agents' per-node credentials (lines \
                 `NODE TOKEN`)"
                    .to_string(),
            ),
            Some(path) => match TokenFile::read(path) {
                Ok(t) => tokens = Some(Arc::new(t)),
                Err(e) => errors.push(format!("--tokens {e}")),
            },
        }
    }
    match (cert_dir, tls) {
        (Some(cert_dir), Some(tls)) if errors.is_empty() => Ok(Start {
            cert_dir,
            tls,
            tokens,
        }),
        _ => Err(errors.join("\n")),
    }
}

/// What the command line gives once checked ([`check_start`]).
struct Start {
    cert_dir: PathBuf,
    tls: Arc<rustls::ServerConfig>,
    tokens: Option<Arc<TokenFile>>,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("kakine-controller: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log_level)
                .with_context(|| format!("--log-level {}", args.log_level))?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(Command::Certs { out, hosts }) = &args.command {
        tls::generate(out, hosts).map_err(anyhow::Error::msg)?;
        println!(
            "kakine-controller: wrote {}/{{ca.crt,tls.crt,tls.key}} for {}",
            out.display(),
            hosts.join(",")
        );
        return Ok(());
    }
    let Start {
        cert_dir,
        tls,
        tokens,
    } = check_start(&args).map_err(anyhow::Error::msg)?;
    let controller = Controller::new(Controller::first_version());
    let ready = Arc::new(AtomicBool::new(false));
    let (bound, _metrics) = metrics::serve(args.metrics_addr, controller.clone(), ready.clone())
        .await
        .with_context(|| format!("--metrics-addr {}", args.metrics_addr))?;
    tracing::info!("metrics on http://{bound}/metrics");
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    // The first batch applied: ready.
    let (ftx, mut frx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let mut first = true;
        while let Some(b) = frx.recv().await {
            if tx.send(b).await.is_err() {
                return;
            }
            if std::mem::take(&mut first) {
                ready.store(true, Ordering::Relaxed);
            }
        }
    });
    let (source, serve) = match (args.standalone.clone(), tokens) {
        (Some(dir), Some(auth)) => {
            tracing::info!(
                "controlplane on https://{} serving {}",
                listener.local_addr()?,
                dir.display()
            );
            let source = tokio::spawn(async move {
                match standalone::watch(dir.clone(), Duration::from_millis(20), ftx).await {
                    Err(e) => anyhow::anyhow!("--standalone {}: {e}", dir.display()),
                    Ok(_) => anyhow::anyhow!("--standalone {}: the watch stopped", dir.display()),
                }
            });
            let serve = tokio::spawn(server::serve(listener, tls, controller.clone(), auth));
            (source, serve)
        }
        _ => {
            let client = kube::Client::try_default().await.context(
                "in-cluster mode (no --standalone): no Kubernetes API access (in-cluster \
                 ServiceAccount or KUBECONFIG)",
            )?;
            let ca_file = cert_dir.join("ca.crt");
            let ca = std::fs::read_to_string(&ca_file)
                .with_context(|| format!("--tls-cert-dir: {}", ca_file.display()))?;
            kube_layer::ca::publish_ca(&client, &args.namespace, &args.ca_configmap, &ca)
                .await
                .with_context(|| {
                    format!(
                        "publish the CA in ConfigMap {}/{}",
                        args.namespace, args.ca_configmap
                    )
                })?;
            let auth = Arc::new(TokenReviewAuthenticator::new(
                client.clone(),
                &args.token_audience,
                &args.namespace,
                &args.agent_service_account,
            ));
            let identity = std::env::var("POD_NAME")
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| format!("kakine-controller-{}", std::process::id()));
            let options = KubeOptions {
                antrea_crds: args.antrea_crds,
                leader_election: args
                    .leader_elect
                    .then(|| LeaseOptions::new(&args.namespace, "kakine-controller", &identity)),
                ..KubeOptions::default()
            };
            tracing::info!(
                "controlplane on https://{} serving the cluster (identity {identity})",
                listener.local_addr()?
            );
            let realization = controller.realization();
            let source = tokio::spawn(async move {
                match kube_layer::run(client, options, ftx, realization).await {
                    Ok(()) => anyhow::anyhow!("the kube layer stopped"),
                    Err(e) => anyhow::anyhow!("the kube layer failed: {e}"),
                }
            });
            let serve = tokio::spawn(server::serve(listener, tls, controller.clone(), auth));
            (source, serve)
        }
    };
    let run = tokio::spawn(controller.clone().run(rx, Duration::from_secs(5)));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = source => match r {
            Ok(e) => return Err(e),
            Err(e) => anyhow::bail!("the source of events stopped: {e}"),
        },
        _ = run => anyhow::bail!("the controller stopped"),
        _ = serve => anyhow::bail!("the controlplane server stopped"),
        _ = term.recv() => tracing::info!("received SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT: stopping"),
    }
    Ok(())
}
