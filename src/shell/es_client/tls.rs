//! TLS for the Elasticsearch client: a rustls configuration that trusts only the given CA,
//! or exactly the CA with a pinned SHA-256 fingerprint, and the fingerprint helpers. It must
//! not trust the system roots or skip the chain, validity or host-name checks (there is
//! deliberately no option to).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// A bare 64-digit SHA-256 fingerprint, from hex with optional `:` separators.
pub fn parse_pin(pin: &str) -> anyhow::Result<[u8; 32]> {
    let digits: String = pin.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(digits.trim()).map_err(|e| {
        anyhow::anyhow!("the CA fingerprint {pin:?} is not hexadecimal SHA-256: {e}")
    })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        anyhow::anyhow!(
            "the CA fingerprint {pin:?} has {} bytes; a SHA-256 fingerprint has 32 (64 hex digits)",
            bytes.len()
        )
    })
}

/// Lower-case hex SHA-256 of a DER certificate, the form [`parse_pin`] accepts.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// rustls configuration trusting only `ca_pem`, or exactly the pinned CA.
pub(super) fn tls_config(ca_pem: &str, pin: Option<&str>) -> anyhow::Result<rustls::ClientConfig> {
    let provider = provider();
    let cas = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("cannot read the CA certificate PEM: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match pin {
        None => {
            if cas.is_empty() {
                anyhow::bail!("no CA certificate given (the CA PEM holds no certificate)");
            }
            webpki_verifier(cas, &provider)?
        }
        Some(pin) => {
            let pin = parse_pin(pin)?;
            let configured = if cas.is_empty() {
                None
            } else {
                let matching: Vec<_> = cas
                    .iter()
                    .filter(|c| Sha256::digest(c.as_ref()).as_slice() == pin)
                    .cloned()
                    .collect();
                if matching.is_empty() {
                    let have: Vec<String> = cas.iter().map(|c| fingerprint(c)).collect();
                    anyhow::bail!(
                        "the pinned CA fingerprint {} does not match the configured CA \
                         certificate (SHA-256 {}); the CA file and the fingerprint are for \
                         different CAs",
                        hex::encode(pin),
                        have.join(", ")
                    );
                }
                Some(webpki_verifier(matching, &provider)?)
            };
            Arc::new(PinnedCaVerifier {
                pin,
                configured,
                provider: provider.clone(),
            })
        }
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Connect to `host:port`, complete a TLS handshake trusting only `ca_pem` (chain, validity
/// and host name checked, as every request does) and return the DER of the leaf certificate
/// the server presented. Sends no request. What `renew` uses to see which certificate a
/// node's HTTP layer serves to a *new* connection.
pub fn presented_leaf(
    host: &str,
    port: u16,
    ca_pem: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<Vec<u8>> {
    use std::io::Write as _;
    use std::net::ToSocketAddrs as _;
    let config = Arc::new(tls_config(ca_pem, None)?);
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
    .map_err(|e| anyhow::anyhow!("{host} is not a host name or IP address: {e}"))?;
    let addr = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} resolves to no address"))?;
    let tcp = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| anyhow::anyhow!("connecting to {host}:{port}: {e}"))?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // An empty write drives the handshake to completion.
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| anyhow::anyhow!("TLS handshake with {host}:{port}: {e}"))?;
    }
    let _ = tls.flush();
    let leaf = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| anyhow::anyhow!("{host}:{port} presented no certificate"))?;
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
    Ok(leaf)
}

fn webpki_verifier(
    roots: Vec<CertificateDer<'static>>,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<WebPkiServerVerifier>> {
    let mut store = RootCertStore::empty();
    for cert in roots {
        store
            .add(cert)
            .map_err(|e| anyhow::anyhow!("the CA certificate cannot be used as a root: {e}"))?;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| anyhow::anyhow!("TLS verifier setup: {e}"))
}

/// Why a pinned handshake was refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum PinError {
    #[error(
        "no certificate presented by the server matches the pinned CA fingerprint {pin}; it \
         presented {presented}"
    )]
    NoMatch { pin: String, presented: String },
    #[error(
        "the pinned fingerprint {pin} is the server's own certificate, not its CA; pin the \
         CA certificate's SHA-256"
    )]
    Leaf { pin: String },
}

/// Verifier whose only trust anchor is the CA with the pinned SHA-256. The chain, validity
/// and host name are still checked by webpki; the pin only chooses the anchor.
#[derive(Debug)]
struct PinnedCaVerifier {
    pin: [u8; 32],
    /// Set when the configured CA is the pinned one: no need to look at the chain.
    configured: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(v) = &self.configured {
            return v.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        let pin_hex = hex::encode(self.pin);
        let anchor = intermediates
            .iter()
            .find(|c| Sha256::digest(c.as_ref()).as_slice() == self.pin);
        let Some(anchor) = anchor else {
            let err = if Sha256::digest(end_entity.as_ref()).as_slice() == self.pin {
                PinError::Leaf { pin: pin_hex }
            } else {
                let presented: Vec<String> = std::iter::once(end_entity)
                    .chain(intermediates)
                    .map(|c| fingerprint(c))
                    .collect();
                PinError::NoMatch {
                    pin: pin_hex,
                    presented: presented.join(", "),
                }
            };
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(err)),
            )));
        };
        let verifier = webpki_verifier(vec![anchor.clone().into_owned()], &self.provider)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn pins_parse_with_or_without_colons() {
        let hex64 = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(parse_pin(&hex64).unwrap(), [0xab; 32]);
        assert_eq!(parse_pin(&colons).unwrap(), [0xab; 32]);
        assert!(parse_pin("abcd").is_err());
        assert!(parse_pin(&"zz".repeat(32)).is_err());
    }
}
