//! TLS and login material for the stores, shared by the etcd and Consul backends: the CA
//! that signed a store's certificate, a client certificate and key, and etcd's user and
//! password. Secrets here never reach `Debug`, logs or error messages.

use std::path::{Path, PathBuf};

/// What a TLS client needs beyond the address, as PEM. Empty: plain defaults.
#[derive(Clone, Default)]
pub struct ClientTls {
    /// The CA certificate(s) the store's certificate must chain to. `None`: the system's
    /// CAs (and, for Consul, the Mozilla set built in).
    pub ca: Option<Vec<u8>>,
    /// A client certificate (chain) and its private key, for stores that verify clients.
    pub identity: Option<ClientIdentity>,
}

/// A client certificate and its private key, both PEM.
#[derive(Clone)]
pub struct ClientIdentity {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl ClientTls {
    /// Nothing given: an `https://` store is checked against the default CAs only.
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.identity.is_none()
    }
}

/// Shows which parts are set, never the key.
impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field(
                "ca",
                &self.ca.as_ref().map(|c| format!("<{} bytes>", c.len())),
            )
            .field(
                "identity",
                &self.identity.as_ref().map(|_| "<certificate and key>"),
            )
            .finish()
    }
}

/// etcd's user and password (`etcdctl --user`). The password stays out of `Debug`.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A PEM file that cannot be used; the CLI adds the flag that named it.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error(
        "{path} holds no PEM private key (expected -----BEGIN PRIVATE KEY-----, RSA or EC PRIVATE KEY)"
    )]
    NoKey { path: PathBuf },
    #[error("{path} is an encrypted private key: give a key without a passphrase")]
    EncryptedKey { path: PathBuf },
}

fn read(path: &Path) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|source| PemError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn has_block(pem: &[u8], label: &str) -> bool {
    let marker = format!("-----BEGIN {label}-----");
    pem.windows(marker.len()).any(|w| w == marker.as_bytes())
}

/// One or more certificates (a CA bundle, or a client certificate chain).
pub fn read_certificates(path: &Path) -> Result<Vec<u8>, PemError> {
    let pem = read(path)?;
    if !has_block(&pem, "CERTIFICATE") {
        return Err(PemError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(pem)
}

/// An unencrypted private key (PKCS#8, PKCS#1 RSA or SEC1 EC), as etcd and Consul use.
/// Its content never appears in an error.
pub fn read_private_key(path: &Path) -> Result<Vec<u8>, PemError> {
    let pem = read(path)?;
    if has_block(&pem, "ENCRYPTED PRIVATE KEY") {
        return Err(PemError::EncryptedKey {
            path: path.to_path_buf(),
        });
    }
    if !["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]
        .iter()
        .any(|l| has_block(&pem, l))
    {
        return Err(PemError::NoKey {
            path: path.to_path_buf(),
        });
    }
    Ok(pem)
}

/// Whether a connection failure's cause is TLS (the certificate, the CA, a client
/// certificate the server wanted): not a network problem, and retrying will not help.
pub(crate) fn is_tls_failure(reason: &str) -> bool {
    const MARKERS: &[&str] = &[
        "invalid peer certificate",
        "received fatal alert",
        "certificate required",
        "CertificateRequired",
        "UnknownIssuer",
        "NotValidForName",
        "BadCertificate",
        "UnknownCA",
        "HandshakeFailure",
        "peer is incompatible",
        "peer sent no certificates",
        "tls handshake",
        "InvalidCertificate",
        "corrupt message",
        "native certs not found",
    ];
    MARKERS.iter().any(|m| {
        reason
            .to_ascii_lowercase()
            .contains(&m.to_ascii_lowercase())
    })
}

/// The TLS failure in words an operator can act on.
pub(crate) fn tls_advice(reason: &str) -> String {
    let hint = if reason.contains("UnknownIssuer") || reason.contains("UnknownCA") {
        "the server's certificate is not signed by the CA given for this store (or, with none given, by a system CA): give the right CA file"
    } else if reason.contains("NotValidForName") {
        "the server's certificate does not name this host or IP address: connect with a name it holds"
    } else if reason.contains("ertificateRequired")
        || reason.contains("certificate required")
        || reason.contains("BadCertificate")
        || reason.contains("HandshakeFailure")
    {
        "the server wants a client certificate it trusts: give a client certificate and key signed by the CA it verifies clients with"
    } else if reason.contains("native certs not found") {
        "no system CA certificates were found: give the CA file"
    } else {
        "check the CA file, and the client certificate and key if the server verifies clients"
    };
    format!("TLS failed ({reason}): {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials {
            user: "root".into(),
            password: "s3cret-pw".into(),
        };
        let t = ClientTls {
            ca: Some(b"ca".to_vec()),
            identity: Some(ClientIdentity {
                cert: b"cert".to_vec(),
                key: b"-----BEGIN PRIVATE KEY-----\nsecretkeybytes".to_vec(),
            }),
        };
        let shown = format!("{c:?} {t:?}");
        assert!(!shown.contains("s3cret-pw") && !shown.contains("secretkeybytes"));
        assert!(shown.contains("root"), "{shown}");
    }

    #[test]
    fn pem_files_are_checked_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        let enc = dir.path().join("e.pem");
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nMII\n").unwrap();
        std::fs::write(&key, "-----BEGIN EC PRIVATE KEY-----\nsecret\n").unwrap();
        std::fs::write(&enc, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n").unwrap();
        assert!(read_certificates(&cert).is_ok());
        assert!(read_private_key(&key).is_ok());
        let e = read_certificates(&key).unwrap_err().to_string();
        assert!(
            e.contains("no PEM certificate") && !e.contains("secret"),
            "{e}"
        );
        assert!(matches!(
            read_private_key(&cert),
            Err(PemError::NoKey { .. })
        ));
        assert!(matches!(
            read_private_key(&enc),
            Err(PemError::EncryptedKey { .. })
        ));
        let missing = read_certificates(&dir.path().join("none.pem")).unwrap_err();
        assert!(missing.to_string().contains("none.pem"), "{missing}");
    }

    #[test]
    fn tls_failures_are_told_apart() {
        assert!(is_tls_failure("invalid peer certificate: UnknownIssuer"));
        assert!(is_tls_failure("received fatal alert: CertificateRequired"));
        assert!(!is_tls_failure("Connection refused (os error 111)"));
        assert!(tls_advice("invalid peer certificate: UnknownIssuer").contains("CA"));
        assert!(
            tls_advice("received fatal alert: CertificateRequired").contains("client certificate")
        );
    }
}
