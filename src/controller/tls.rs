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

/// How long the serving certificate `certs` writes is valid (from one hour before its
/// creation: clocks differ).
pub const SERVING_VALIDITY: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);
/// How long the CA `certs` writes is valid.
pub const CA_VALIDITY: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 86_400);

/// Checks one `--hosts` entry: an IP address, or a DNS name (RFC 1123 labels of letters,
/// digits and `-`, at most 63 bytes each and 253 in all, the last label not all digits: so
/// `999.1.1.1`, which is not an IPv4 address, is not taken for a name either).
///
/// Errors: naming the host and what is wrong.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let bad = |why: &str| Err(format!("--hosts {host:?}: {why}"));
    if host.is_empty() {
        return bad("empty (a name or an IP address is needed)");
    }
    if host.len() > 253 {
        return bad("longer than 253 bytes");
    }
    let labels: Vec<&str> = host.split('.').collect();
    for l in &labels {
        if l.is_empty() || l.len() > 63 {
            return bad("a label is empty or longer than 63 bytes");
        }
        if !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || l.starts_with('-')
            || l.ends_with('-')
        {
            return bad("neither an IP address nor a DNS name (letters, digits, inner '-')");
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad("neither an IP address nor a DNS name (its last label is all digits)");
    }
    Ok(())
}

/// Writes a new CA (`ca.crt`, valid [`CA_VALIDITY`]) and a serving certificate signed by it
/// for `hosts` (DNS names or IP addresses, [`check_host`]; `tls.crt`, `tls.key`, valid
/// [`SERVING_VALIDITY`]) into `out`, created if missing. The CA's key is not kept: a new
/// serving certificate needs a new CA (docs/controlplane.md, "Certificates and their
/// rotation"). A CA already in `out` is replaced only with `force`: every agent trusts it.
///
/// Errors: no host, every bad host at once, `out/ca.crt` exists without `force`, `out` not
/// writable.
pub fn generate(out: &Path, hosts: &[String], force: bool) -> Result<(), String> {
    use rcgen::{
        date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
        Issuer, KeyPair, KeyUsagePurpose,
    };
    if hosts.is_empty() {
        return Err("certs: --hosts names no host".into());
    }
    let bad: Vec<String> = hosts.iter().filter_map(|h| check_host(h).err()).collect();
    if !bad.is_empty() {
        return Err(format!("certs: {}", bad.join("\n")));
    }
    let existing = out.join(CA_CRT);
    if existing.exists() && !force {
        return Err(format!(
            "certs: {} exists: every agent trusts it; --force replaces it (then give the \
             agents the new one)",
            existing.display()
        ));
    }
    let now = date_time_ymd(1970, 1, 1)
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
    let not_before = now - std::time::Duration::from_secs(3600);
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
    ca.not_before = not_before;
    ca.not_after = now + CA_VALIDITY;
    let ca_key = KeyPair::generate().map_err(e)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(hosts.to_vec())
        .map_err(|err| format!("certs: --hosts {}: {err}", hosts.join(",")))?;
    leaf.distinguished_name
        .push(DnType::CommonName, "kakine-controller");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = not_before;
    leaf.not_after = now + SERVING_VALIDITY;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_ip_addresses_or_dns_names() {
        for ok in [
            "127.0.0.1",
            "::1",
            "kakine-controller",
            "a.b-c.svc",
            "node-1.lab",
        ] {
            assert_eq!(check_host(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_host("999.1.1.1").unwrap_err(),
            "--hosts \"999.1.1.1\": neither an IP address nor a DNS name (its last label is \
             all digits)"
        );
        for bad in ["", "a..b", "-a", "a_b", "a b", "x.", &"a".repeat(64)] {
            assert!(check_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_existing_ca_is_replaced_only_with_force_and_bad_hosts_write_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("certs");
        let e = generate(&out, &["ok".into(), "999.1.1.1".into(), "".into()], false).unwrap_err();
        assert_eq!(e.lines().count(), 2, "{e}");
        assert!(!out.exists());
        generate(&out, &["127.0.0.1".into()], false).unwrap();
        let ca = std::fs::read(out.join(CA_CRT)).unwrap();
        let e = generate(&out, &["127.0.0.1".into()], false).unwrap_err();
        assert!(e.contains("--force"), "{e}");
        assert_eq!(std::fs::read(out.join(CA_CRT)).unwrap(), ca);
        generate(&out, &["127.0.0.1".into()], true).unwrap();
        assert_ne!(std::fs::read(out.join(CA_CRT)).unwrap(), ca);
    }
}
