//! The ES client against small local servers: a rustls HTTPS server with certificates made by
//! the `openssl` CLI, and a plain HTTP server. Checks what the client trusts (only the given
//! CA, or exactly the pinned CA), that host names are always checked, and that each failure
//! comes out as an error an operator can act on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use es_secure::shell::es_client::{Credentials, EsClient, EsError, Trust, fingerprint};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

const HEALTH: &str = r#"{"cluster_name":"t","status":"green","number_of_nodes":1}"#;

struct Pki {
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        Self {
            _dir: dir,
            dir: path,
        }
    }

    fn openssl(&self, args: &[&str]) {
        let out = support::run::output(Command::new("openssl").args(args).current_dir(&self.dir));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA named `name` (`name.crt`, `name.key`).
    fn ca(&self, name: &str) -> String {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        self.read(&format!("{name}.crt"))
    }

    /// A server certificate `name` for `sans` (openssl syntax), signed by CA `ca`.
    fn leaf(&self, name: &str, ca: &str, sans: &str) {
        let ext = self.dir.join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={sans}\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .unwrap();
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            "0x1234abcd",
            "-days",
            "2",
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap()
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// Read one HTTP request (headers and any Content-Length body).
fn read_request(stream: &mut impl Read) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some((head, String::from_utf8_lossy(&body).into_owned()))
}

fn respond(stream: &mut impl Write, status: u16, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// HTTPS server on 127.0.0.1 presenting `chain` (leaf first), answering every request with a
/// green health body. Returns the port.
fn tls_server(chain: Vec<CertificateDer<'static>>, key: &Path) -> u16 {
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                if read_request(&mut tls).is_some() {
                    respond(&mut tls, 200, HEALTH);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            });
        }
    });
    port
}

/// Plain HTTP server: `handler(head, body) -> (status, body)`. Returns the port.
fn http_server(handler: fn(&str, &str) -> (u16, String)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp): Result<TcpStream, _> = tcp else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                if let Some((head, body)) = read_request(&mut tcp) {
                    let (status, out) = handler(&head, &body);
                    respond(&mut tcp, status, &out);
                }
            });
        }
    });
    port
}

/// CA "ca" with leaf "node" for localhost and 127.0.0.1, served with chain [node, ca].
fn standard() -> (Pki, String, u16) {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    pki.leaf("node", "ca", "DNS:localhost,IP:127.0.0.1");
    let port = tls_server(
        vec![der(&pki.read("node.crt")), der(&ca)],
        &pki.path("node.key"),
    );
    (pki, ca, port)
}

fn ca_trust(ca_pem: &str, pin: Option<String>) -> Trust {
    Trust::Ca {
        ca_pem: ca_pem.to_string(),
        pin_sha256: pin,
    }
}

fn tls_reason(e: &EsError) -> &str {
    // Shown with --nocapture, to read the operator-facing wording.
    eprintln!("{e}");
    match e {
        EsError::Tls { reason, .. } => reason,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn trusted_ca_works_for_dns_and_ip_names() {
    let (_pki, ca, port) = standard();
    for host in ["localhost", "127.0.0.1"] {
        let c = EsClient::new(&format!("https://{host}:{port}"), ca_trust(&ca, None)).unwrap();
        let h = c.health().unwrap();
        assert_eq!(h.status, "green");
        assert_eq!(h.number_of_nodes, 1);
    }
}

#[test]
fn pin_of_the_ca_is_accepted_from_config_or_chain() {
    let (pki, ca, port) = standard();
    let url = format!("https://localhost:{port}");
    // openssl's colon-separated upper-case form, with the CA file.
    let out = support::run::output(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(pki.path("ca.crt")),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let colon_pin = text.trim().split_once('=').unwrap().1.to_string();
    let c = EsClient::new(&url, ca_trust(&ca, Some(colon_pin))).unwrap();
    assert_eq!(c.health().unwrap().status, "green");
    // Only the fingerprint: the anchor comes from the chain the server presents.
    let pin = fingerprint(der(&ca).as_ref());
    let c = EsClient::new(&url, ca_trust("", Some(pin))).unwrap();
    assert_eq!(c.health().unwrap().status, "green");
}

#[test]
fn wrong_pin_is_refused() {
    let (pki, ca, port) = standard();
    let url = format!("https://localhost:{port}");
    let other = pki.ca("other");
    let other_pin = fingerprint(der(&other).as_ref());
    // Configured CA and pin disagree: refused before any connection.
    let e = EsClient::new(&url, ca_trust(&ca, Some(other_pin.clone()))).unwrap_err();
    assert!(
        e.to_string().contains("does not match the configured CA"),
        "{e}"
    );
    // Pin only: no presented certificate matches.
    let c = EsClient::new(&url, ca_trust("", Some(other_pin))).unwrap();
    let e = c.health().unwrap_err();
    let reason = tls_reason(&e);
    assert!(reason.contains("matches the pinned CA fingerprint"), "{e}");
    // Pinning the server's own certificate is explained.
    let leaf_pin = fingerprint(der(&pki.read("node.crt")).as_ref());
    let c = EsClient::new(&url, ca_trust("", Some(leaf_pin))).unwrap();
    let e = c.health().unwrap_err();
    assert!(tls_reason(&e).contains("server's own certificate"), "{e}");
}

#[test]
fn pinned_ca_still_checks_the_host_name() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    pki.leaf("node", "ca", "DNS:es-node-1.example");
    let port = tls_server(
        vec![der(&pki.read("node.crt")), der(&ca)],
        &pki.path("node.key"),
    );
    let pin = fingerprint(der(&ca).as_ref());
    let url = format!("https://127.0.0.1:{port}");
    for trust in [ca_trust(&ca, None), ca_trust("", Some(pin))] {
        let e = EsClient::new(&url, trust).unwrap().health().unwrap_err();
        let reason = tls_reason(&e);
        assert!(reason.starts_with("host name mismatch"), "{e}");
        assert!(reason.contains("es-node-1.example"), "{e}");
    }
}

#[test]
fn unknown_ca_is_refused() {
    let (pki, _ca, port) = standard();
    let other = pki.ca("other");
    let c = EsClient::new(&format!("https://localhost:{port}"), ca_trust(&other, None)).unwrap();
    let e = c.health().unwrap_err();
    assert!(tls_reason(&e).starts_with("unknown CA"), "{e}");
    // status_anonymous goes through the same TLS checks.
    assert!(matches!(c.status_anonymous(), Err(EsError::Tls { .. })));
}

#[test]
fn https_url_to_plain_http_server_says_so() {
    let (_pki, ca, _) = standard();
    let port = http_server(|_, _| (200, HEALTH.to_string()));
    let c = EsClient::new(&format!("https://localhost:{port}"), ca_trust(&ca, None)).unwrap();
    let e = c.health().unwrap_err();
    assert!(tls_reason(&e).contains("probably serves plain HTTP"), "{e}");
}

#[test]
fn https_url_to_server_answering_http_400_says_so() {
    // Like Netty's HTTP decoder: a plain-text 400 answer to the TLS ClientHello.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { continue };
            let mut buf = [0u8; 512];
            let _ = tcp.read(&mut buf);
            let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let (_pki, ca, _) = standard();
    let c = EsClient::new(&format!("https://localhost:{port}"), ca_trust(&ca, None)).unwrap();
    let e = c.health().unwrap_err();
    assert!(tls_reason(&e).contains("probably serves plain HTTP"), "{e}");
}

#[test]
fn http_url_to_tls_server_says_so() {
    let (_pki, _ca, port) = standard();
    let c = EsClient::new(&format!("http://127.0.0.1:{port}"), Trust::PlainHttp).unwrap();
    let e = c.health().unwrap_err();
    assert!(tls_reason(&e).contains("probably serves HTTPS"), "{e}");
}

#[test]
fn http_status_errors_carry_es_reason_and_no_password() {
    fn handler(head: &str, body: &str) -> (u16, String) {
        let auth = head.to_ascii_lowercase().contains("authorization: basic");
        if head.starts_with("GET /_cluster/health") && !auth {
            return (
                401,
                r#"{"error":{"type":"security_exception","reason":"missing authentication credentials for REST request [/_cluster/health]"},"status":401}"#.into(),
            );
        }
        if head.starts_with("GET /_security/_authenticate") {
            return (
                401,
                r#"{"error":{"type":"security_exception","reason":"unable to authenticate user [bob]"},"status":401}"#.into(),
            );
        }
        if head.starts_with("POST /_security/user/kibana_system/_password") {
            // Echo the request body back, as a careless parser error might.
            let reason = format!("failed to parse [{}]", body.replace('"', "'"));
            return (
                400,
                serde_json::json!({"error": {"type": "parse_exception", "reason": reason}})
                    .to_string(),
            );
        }
        if head.starts_with("GET /_ssl/certificates") {
            return (403, r#"{"error":{"type":"security_exception","reason":"action [cluster:monitor/xpack/ssl/certificates/get] is unauthorized"}}"#.into());
        }
        (200, HEALTH.into())
    }
    let port = http_server(handler);
    let c = EsClient::new(&format!("http://127.0.0.1:{port}"), Trust::PlainHttp).unwrap();
    assert_eq!(c.status_anonymous().unwrap(), 401);
    let e = c.health().unwrap_err();
    assert!(e.to_string().contains("no credentials were given"), "{e}");

    let bob = c.with_credentials(Credentials {
        username: "bob".into(),
        password: Zeroizing::new("Sup3r-Secret-pw".into()),
    });
    let e = bob.authenticate().unwrap_err();
    assert!(matches!(e, EsError::Unauthorized { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("user bob"), "{text}");
    assert!(text.contains("unable to authenticate user [bob]"), "{text}");

    let new_pw = Zeroizing::new("N3w-Password-value".to_string());
    let e = bob.change_password("kibana_system", &new_pw).unwrap_err();
    let (text, debug) = (e.to_string(), format!("{e:?}"));
    assert!(text.contains("HTTP 400"), "{text}");
    assert!(text.contains("failed to parse"), "{text}");
    for s in [&text, &debug] {
        assert!(!s.contains("N3w-Password-value"), "{s}");
        assert!(!s.contains("Sup3r-Secret-pw"), "{s}");
    }

    let e = bob.ssl_certificates().unwrap_err();
    assert!(matches!(e, EsError::Forbidden { .. }), "{e:?}");
    assert!(e.to_string().contains("superuser"), "{e}");
}

#[test]
fn wait_healthy_reports_progress_and_explains_red() {
    fn red(_: &str, _: &str) -> (u16, String) {
        (
            408,
            r#"{"cluster_name":"t","status":"red","number_of_nodes":1,"timed_out":true}"#.into(),
        )
    }
    let port = http_server(red);
    let c = EsClient::new(&format!("http://127.0.0.1:{port}"), Trust::PlainHttp).unwrap();
    let mut seen = Vec::new();
    let e = c
        .wait_healthy(Duration::from_secs(3), &mut |s| seen.push(s.to_string()))
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("the cluster is red"), "{text}");
    assert!(seen.iter().all(|s| s.contains("red (1 nodes)")), "{seen:?}");
}
