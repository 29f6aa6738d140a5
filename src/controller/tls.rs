//! TLS for the controlplane (rustls, no OpenSSL): the serving certificate directory
//! (`--tls-cert-dir DIR` with `tls.crt`, `tls.key`, `ca.crt`, the layout of a Kubernetes TLS
//! Secret plus its CA), the agents' client configuration trusting `ca.crt`, and
//! `kakine-controller certs`: a CA and a serving certificate signed by it (rcgen) for the
//! standalone controller and the lab. Both ends speak HTTP/2 only (ALPN `h2`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The serving certificate chain file of a certificate directory.
pub const TLS_CRT: &str = "tls.crt";
/// Its private key.
pub const TLS_KEY: &str = "tls.key";
/// The CA agents trust (published as the `kakine-ca` ConfigMap in a cluster).
pub const CA_CRT: &str = "ca.crt";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut text.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    rustls_pemfile::private_key(&mut text.as_slice())
        .map_err(|e| format!("{}: {e}", path.display()))?
        .ok_or_else(|| format!("{}: no PEM private key", path.display()))
}

/// The server configuration of certificate directory `dir` (`tls.crt`, `tls.key`), ALPN `h2`.
///
/// Errors: a file missing or unreadable, not PEM, or a key not matching the certificate, each
/// naming the file.
pub fn server_config(dir: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = read_certs(&dir.join(TLS_CRT))?;
    let key = read_key(&dir.join(TLS_KEY))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// The agent's client configuration trusting only the CA in `ca_file`, ALPN `h2`.
///
/// Errors: the file missing, unreadable, or holding no usable certificate.
pub fn client_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in read_certs(ca_file)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// Writes a new CA (`ca.crt`) and a serving certificate signed by it for `hosts` (DNS names
/// or IP addresses; `tls.crt`, `tls.key`) into `out`, created if missing. The CA's key is not
/// kept: a new serving certificate needs a new CA.
///
/// Errors: no host, a host that is neither a DNS name nor an IP, `out` not writable.
pub fn generate(out: &Path, hosts: &[String]) -> Result<(), String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    if hosts.is_empty() {
        return Err("certs: --hosts names no host".into());
    }
    let e = |e: rcgen::Error| format!("certs: {e}");
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "kakine-controller CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(e)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(hosts.to_vec())
        .map_err(|err| format!("certs: --hosts {}: {err}", hosts.join(",")))?;
    leaf.distinguished_name
        .push(DnType::CommonName, "kakine-controller");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(e)?;
    let cert = leaf.signed_by(&key, &issuer).map_err(e)?;
    std::fs::create_dir_all(out).map_err(|err| format!("{}: {err}", out.display()))?;
    for (name, text) in [
        (CA_CRT, ca_cert.pem()),
        (TLS_CRT, cert.pem()),
        (TLS_KEY, key.serialize_pem()),
    ] {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|err| format!("{}: {err}", path.display()))?;
    }
    // The key readable by its owner only.
    let key = out.join(TLS_KEY);
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|err| format!("{}: {err}", key.display()))?;
    Ok(())
}
