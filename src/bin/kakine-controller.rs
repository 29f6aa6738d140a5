//! kakine-controller: computes each node's span from the policies and the cluster and serves
//! it to the agents over the controlplane (HTTP/2 + TLS, docs/controlplane.md).
//!
//! `kakine-controller --standalone DIR --tls-cert-dir CERTS --tokens FILE` serves agents from
//! the YAML directory `kakinectl` reads, with per-node tokens; `kakine-controller certs --out
//! DIR --hosts h1,h2` writes a CA and a serving certificate. Without `--standalone` it runs
//! in a cluster (Kubernetes watchers, TokenReview, CRD status, leader election).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kakine::controller::auth::{AuthError, Authenticator, Identity, TokenFile};
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
    /// Standalone: where the last good version of every object is kept (last-good.yaml), so
    /// that a restart serves it and an object whose file is refused keeps it ("none": nothing
    /// kept, a restart reads only DIR).
    #[arg(long, default_value = "/var/lib/kakine-controller", value_name = "DIR")]
    state_dir: String,
    /// Controlplane connections served at once; one more is closed when accepted.
    #[arg(long, default_value_t = 4096, value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
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
    /// /metrics, /healthz, /readyz and /v1/realization ("off": none).
    #[arg(long, default_value = "0.0.0.0:10350", value_name = "ADDR|off")]
    metrics_addr: String,
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
        /// Replace a CA already in --out (every agent must then trust the new ca.crt).
        #[arg(long)]
        force: bool,
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
    let metrics = match args.metrics_addr.as_str() {
        "off" => None,
        a => match a.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                errors.push(format!(
                    "--metrics-addr {a}: neither an address (IP:PORT) nor off"
                ));
                None
            }
        },
    };
    let state_dir = match args.state_dir.as_str() {
        "none" | "" => None,
        d => Some(PathBuf::from(d)),
    };
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
            Some(path) => match Tokens::read(path) {
                Ok(t) => tokens = Some(Arc::new(t)),
                Err(e) => errors.push(format!("--tokens {e}")),
            },
        }
    }
    // Created last, once nothing else is wrong: a refused command line leaves no trace.
    if let (Some(state), Some(_), true) = (&state_dir, &args.standalone, errors.is_empty()) {
        if let Err(e) = kakine::agent::state::create_private_dir(state) {
            errors.push(format!(
                "--state-dir {}: {e} (another directory, or `--state-dir none` to keep nothing)",
                state.display()
            ));
        }
    }
    match (cert_dir, tls) {
        (Some(cert_dir), Some(tls)) if errors.is_empty() => Ok(Start {
            cert_dir,
            tls,
            tokens,
            metrics,
            state_dir,
        }),
        _ => Err(errors.join("\n")),
    }
}

/// The `--tokens` file, read at start and again on SIGHUP ([`Tokens::reload`]).
struct Tokens {
    path: PathBuf,
    now: std::sync::RwLock<Arc<TokenFile>>,
    /// Bumped at each reload: open span streams check their token again.
    reloads: tokio::sync::watch::Sender<u64>,
}

impl Tokens {
    fn read(path: &std::path::Path) -> Result<Self, String> {
        Ok(Tokens {
            path: path.to_path_buf(),
            now: std::sync::RwLock::new(Arc::new(TokenFile::read(path)?)),
            reloads: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Reads the file again; a file that does not parse keeps the tokens in force (logged).
    /// The open span streams of a token no longer in the file are then ended.
    fn reload(&self) {
        match TokenFile::read(&self.path) {
            Ok(t) => {
                *self.now.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(t);
                tracing::info!("--tokens {}: read again", self.path.display());
                self.reloads.send_modify(|n| *n += 1);
            }
            Err(e) => tracing::error!("--tokens {e}; the tokens read before stay in force"),
        }
    }
}

impl Authenticator for Tokens {
    async fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        let now = self.now.read().unwrap_or_else(|e| e.into_inner()).clone();
        now.authenticate(token).await
    }

    fn reloads(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.reloads.subscribe())
    }
}

/// What the command line gives once checked ([`check_start`]).
struct Start {
    cert_dir: PathBuf,
    tls: Arc<rustls::ServerConfig>,
    tokens: Option<Arc<Tokens>>,
    /// `--metrics-addr`, `None` for off.
    metrics: Option<SocketAddr>,
    /// `--state-dir`, `None` for none.
    state_dir: Option<PathBuf>,
}

/// The controlplane server's task.
fn spawn_server<A: Authenticator>(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    controller: &Arc<Controller>,
    auth: Arc<A>,
    options: server::ServeOptions,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(server::serve_with(
        listener,
        tls,
        controller.clone(),
        auth,
        options,
    ))
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
    if let Some(Command::Certs { out, hosts, force }) = &args.command {
        tls::generate(out, hosts, *force).map_err(anyhow::Error::msg)?;
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
        metrics,
        state_dir,
    } = check_start(&args).map_err(anyhow::Error::msg)?;
    let controller = Controller::new(Controller::first_version());
    if let Some(addr) = metrics {
        let (bound, _metrics) = metrics::serve(addr, controller.clone())
            .await
            .with_context(|| format!("--metrics-addr {addr}"))?;
        tracing::info!("metrics on http://{bound}/metrics");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    let serve_options = server::ServeOptions {
        max_connections: args.max_connections as usize,
        ..server::ServeOptions::default()
    };
    let (ftx, rx) = tokio::sync::mpsc::channel(16);
    let reload = tokens.clone();
    let (source, serve) = match (args.standalone.clone(), tokens) {
        (Some(dir), Some(auth)) => {
            tracing::info!(
                "controlplane on https://{} serving {}",
                listener.local_addr()?,
                dir.display()
            );
            let source = tokio::spawn(async move {
                let quiet = Duration::from_millis(20);
                match standalone::watch_with(dir.clone(), quiet, state_dir, ftx).await {
                    Err(e) => anyhow::anyhow!("--standalone {}: {e}", dir.display()),
                    Ok(_) => anyhow::anyhow!("--standalone {}: the watch stopped", dir.display()),
                }
            });
            let serve = spawn_server(listener, tls, &controller, auth, serve_options);
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
            let serve = spawn_server(listener, tls, &controller, auth, serve_options);
            (source, serve)
        }
    };
    let run = tokio::spawn(controller.clone().run(rx, Duration::from_secs(5)));
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    // SIGHUP (the agent's reload) reads the tokens file again; the directory and the
    // Kubernetes objects are watched.
    let mut hup = signal(SignalKind::hangup())?;
    tokio::pin!(source, run, serve);
    loop {
        tokio::select! {
            r = &mut source => match r {
                Ok(e) => return Err(e),
                Err(e) => anyhow::bail!("the source of events stopped: {e}"),
            },
            _ = &mut run => anyhow::bail!("the controller stopped"),
            _ = &mut serve => anyhow::bail!("the controlplane server stopped"),
            _ = hup.recv() => match &reload {
                Some(tokens) => tokens.reload(),
                None => tracing::info!("received SIGHUP: nothing to reload (watches follow)"),
            },
            _ = term.recv() => break tracing::info!("received SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => break tracing::info!("received SIGINT: stopping"),
        }
    }
    Ok(())
}
