//! The ES client and the temporary file-realm superuser against REAL Elasticsearch 8 nodes
//! from the integ-test zip, started by the shared harness (tests/support/es.rs): security on,
//! on 127.0.0.1, over plain HTTP and over HTTPS with certificates made by the openssl CLI.
//!
//! Needs `eval "$(scripts/test-env.sh)"` (as root); without it the live tests print SKIPPED
//! and pass (`ES_SECURE_TEST_REQUIRE=1` makes that a failure).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use es_secure::shell::es_client::{Credentials, EsClient, EsError, Trust, fingerprint};
use es_secure::shell::file_realm::TempSuperuser;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use support::es::{self, EsVersion, Node, Security, say};
use zeroize::Zeroizing;

/// A started, secured single node; the shim decides whether `.security` can be created.
fn secured_node(test: &str, shim: bool) -> Option<Node> {
    if !es::available(EsVersion::V8) {
        return None;
    }
    let mut b = Node::builder(EsVersion::V8, test).security(Security::Enabled);
    if !shim {
        b = b.without_shim();
    }
    Some(b.started())
}

fn snapshot(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        fs::read(dir.join("users")).unwrap(),
        fs::read(dir.join("users_roles")).unwrap(),
    )
}

/// Temp superuser on `node`, authenticated once the file realm has reloaded.
fn temp_admin(node: &Node, anon: &EsClient) -> (TempSuperuser, EsClient) {
    let temp = TempSuperuser::create(&node.config_dir()).unwrap();
    let admin = anon.with_credentials(temp.credentials());
    let started = Instant::now();
    let who = admin
        .authenticate_retrying(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", node.log_tail(40)));
    say(&format!(
        "temp superuser {} authenticated after {:?} via realm {} with roles {:?}",
        who.username,
        started.elapsed(),
        who.realm,
        who.roles
    ));
    assert_eq!(who.username, temp.username());
    assert!(who.roles.iter().any(|r| r == "superuser"), "{who:?}");
    (temp, admin)
}

#[test]
fn unreachable_port_is_explained() {
    // A port that was free a moment ago: connection refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = EsClient::new(&format!("http://127.0.0.1:{port}"), Trust::PlainHttp).unwrap();
    let e = c.health().unwrap_err();
    assert!(matches!(e, EsError::Unreachable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("is Elasticsearch running"), "{text}");
    assert!(text.contains("systemctl status elasticsearch"), "{text}");
    let e = c
        .wait_healthy(Duration::from_secs(2), &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("not healthy after"), "{e}");
}

#[test]
fn live_http_health_auth_password_and_file_realm() {
    let Some(node) = secured_node("client_live_http", true) else {
        return;
    };
    let config = node.config_dir();
    let anon = EsClient::new(&node.http_url(), Trust::PlainHttp).unwrap();

    // Anonymous: a secured node answers 401; an authenticated call without credentials says so.
    assert_eq!(anon.status_anonymous().unwrap(), 401);
    let e = anon.health().unwrap_err();
    assert!(
        matches!(e, EsError::Unauthorized { user: None, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("no credentials"), "{e}");

    // Existing file-realm lines must survive byte for byte.
    fs::write(config.join("users_roles"), "viewer:someone\n").unwrap();
    let before = snapshot(&config);
    let (temp, admin) = temp_admin(&node, &anon);

    let mut progress = Vec::new();
    let health = admin
        .wait_healthy(Duration::from_secs(60), &mut |s| {
            progress.push(s.to_string())
        })
        .unwrap_or_else(|e| panic!("{e}\nprogress: {progress:?}"));
    assert!(
        health.status == "green" || health.status == "yellow",
        "{health:?}"
    );
    assert_eq!(admin.health().unwrap().number_of_nodes, 1);
    // HTTP TLS is off here; the call must still work and parse.
    admin.ssl_certificates().unwrap();

    // Wrong password: 401 naming the user, never echoing the password.
    let wrong = anon.with_credentials(Credentials {
        username: temp.username().to_string(),
        password: Zeroizing::new("definitely-not-the-password".into()),
    });
    let e = wrong.authenticate().unwrap_err();
    assert!(matches!(e, EsError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains(temp.username()), "{e}");
    assert!(!e.to_string().contains("definitely-not"), "{e}");

    // With the shim the .security index can be created: the password really changes.
    let new_pw = Zeroizing::new("Kibana-System-Pass-123".to_string());
    admin
        .change_password("kibana_system", &new_pw)
        .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", node.log_tail(40)));
    let kibana = anon.with_credentials(Credentials {
        username: "kibana_system".into(),
        password: new_pw,
    });
    assert_eq!(kibana.authenticate().unwrap().username, "kibana_system");

    // An https URL against this plain-HTTP node (real Netty) is explained.
    let ca_only = Trust::Ca {
        ca_pem: String::new(),
        pin_sha256: Some("00".repeat(32)),
    };
    let https_url = node.http_url().replacen("http://", "https://", 1);
    let e = EsClient::new(&https_url, ca_only)
        .unwrap()
        .health()
        .unwrap_err();
    say(&format!("https URL against HTTP node: {e}"));
    assert!(e.to_string().contains("probably serves plain HTTP"), "{e}");

    // Removal restores both files exactly; after the next reload the user is gone.
    temp.remove().unwrap();
    assert_eq!(snapshot(&config), before);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match admin.authenticate() {
            Err(EsError::Unauthorized { .. }) => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "removed user still works: {other:?}"
                );
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

#[test]
fn live_without_shim_change_password_error_is_clear() {
    // The bare integ-test zip lacks analysis-common, so the .security index cannot be
    // created; the error must carry Elasticsearch's reason.
    let Some(node) = secured_node("client_live_noshim", false) else {
        return;
    };
    let anon = EsClient::new(&node.http_url(), Trust::PlainHttp).unwrap();
    let (temp, admin) = temp_admin(&node, &anon);
    let e = admin
        .change_password(
            "kibana_system",
            &Zeroizing::new("Kibana-System-Pass-123".into()),
        )
        .unwrap_err();
    let text = e.to_string();
    say(&format!("change_password without the shim: {text}"));
    assert!(matches!(e, EsError::Status { code: 400, .. }), "{e:?}");
    assert!(
        text.contains("Unknown filter type [pattern_capture]"),
        "{text}"
    );
    assert!(text.contains("kibana_system"), "{text}");
    assert!(!text.contains("Kibana-System-Pass"), "{text}");
    temp.remove().unwrap();
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = support::run::output(Command::new("openssl").args(args).current_dir(dir));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CA + HTTP certificate for DNS:localhost only, written into `<config>/certs`.
/// `http.crt` holds the chain [node, CA] so the CA can be pinned from the handshake.
fn make_http_certs(certs: &Path) -> String {
    fs::create_dir_all(certs).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=client-live CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(certs, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "http.key",
        "-out",
        "http.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(certs, &csr);
    fs::write(
        certs.join("http.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        certs,
        &[
            "x509",
            "-req",
            "-in",
            "http.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "0x5eed",
            "-days",
            "2",
            "-out",
            "node.crt",
            "-extfile",
            "http.ext",
        ],
    );
    let ca_pem = fs::read_to_string(certs.join("ca.crt")).unwrap();
    let node_pem = fs::read_to_string(certs.join("node.crt")).unwrap();
    fs::write(certs.join("http.crt"), format!("{node_pem}{ca_pem}")).unwrap();
    ca_pem
}

#[test]
fn live_https_trust_pin_and_host_name() {
    if !es::available(EsVersion::V8) {
        return;
    }
    let mut node = Node::builder(EsVersion::V8, "client_live_https")
        .security(Security::Enabled)
        .build()
        .unwrap();
    let certs = node.config_dir().join("certs");
    let ca_pem = make_http_certs(&certs);
    node.chown_to_test_user(&certs).unwrap();
    node.append_config(
        "xpack.security.http.ssl.enabled: true\n\
         xpack.security.http.ssl.key: certs/http.key\n\
         xpack.security.http.ssl.certificate: certs/http.crt\n",
    )
    .unwrap();
    node.start_and_wait(es::ready_timeout()).unwrap();
    let port = node.http_port();
    let url = format!("https://localhost:{port}");

    // Our CA: the handshake works and a secured node refuses anonymous requests.
    let ca = Trust::Ca {
        ca_pem: ca_pem.clone(),
        pin_sha256: None,
    };
    let client = EsClient::new(&url, ca.clone()).unwrap();
    assert_eq!(client.status_anonymous().unwrap(), 401);

    // Only the CA fingerprint: ES presents the CA in its chain, so the pin finds it.
    let pin = fingerprint(
        CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .unwrap()
            .as_ref(),
    );
    let pinned = Trust::Ca {
        ca_pem: String::new(),
        pin_sha256: Some(pin),
    };
    let (temp, admin) = temp_admin(&node, &EsClient::new(&url, pinned).unwrap());
    let certs_seen = admin.ssl_certificates().unwrap();
    say(&format!("ssl certificates: {certs_seen:?}"));
    assert!(
        certs_seen.iter().any(|c| c.path.ends_with("http.crt")),
        "{certs_seen:?}"
    );
    assert!(admin.health().is_ok());
    temp.remove().unwrap();

    // The certificate names only localhost: 127.0.0.1 is refused, naming the problem.
    let by_ip = EsClient::new(&format!("https://127.0.0.1:{port}"), ca).unwrap();
    let e = by_ip.status_anonymous().unwrap_err();
    say(&format!("by IP: {e}"));
    assert!(e.to_string().contains("host name mismatch"), "{e}");

    // A plain http URL against the HTTPS port.
    let plain = EsClient::new(&format!("http://127.0.0.1:{port}"), Trust::PlainHttp).unwrap();
    let e = plain.health().unwrap_err();
    say(&format!("http URL against HTTPS node: {e}"));
    assert!(matches!(e, EsError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("probably serves HTTPS"), "{e}");

    // Some other CA with the same name (like two auto-configured "HTTP CA"s): unknown CA.
    let other = tempfile::tempdir().unwrap();
    let other_ca = make_http_certs(other.path());
    let e = EsClient::new(
        &url,
        Trust::Ca {
            ca_pem: other_ca,
            pin_sha256: None,
        },
    )
    .unwrap()
    .status_anonymous()
    .unwrap_err();
    say(&format!("CA with the same name, other key: {e}"));
    assert!(e.to_string().contains("unknown CA"), "{e}");
}
