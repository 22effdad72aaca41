//! Blocking REST client for the few Elasticsearch endpoints es-secure needs: cluster health,
//! authenticate, change a password, list the node's TLS certificates.
//!
//! Its job is to reach the node *safely* and to turn every failure into an error an operator
//! can act on ([`EsError`]). Over HTTPS it trusts only the CA it is given (never the system
//! roots), optionally narrowed to one CA by a SHA-256 pin, and always checks the host name.
//! Plain HTTP is used only when the caller says so with [`Trust::PlainHttp`].
//!
//! It must not: turn off certificate or host-name checks (there is deliberately no option),
//! follow redirects or use proxies (both could carry credentials elsewhere), or put a password
//! or a request body into an error, a `Debug` string or a log line.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::{Method, StatusCode, Url};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::shell::signals::Interrupts;

/// Connecting must be quick: a node that does not accept within 5 s is down or filtered.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request limit. Health waits server-side for at most 5 s, so 30 s is generous.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one `wait_for_status` health request may wait inside Elasticsearch.
const HEALTH_WAIT: Duration = Duration::from_secs(5);
/// Pause between attempts that failed fast (refused connection, 401, 503).
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// With an interrupt request attached, a health request waits at most this long inside
/// Elasticsearch, so an interrupt is seen within about a second.
const INTERRUPTIBLE_HEALTH_WAIT: Duration = Duration::from_secs(1);
/// Longest slice of an error body quoted when Elasticsearch sends no `error.reason`.
const MAX_QUOTED_BODY: usize = 300;

const UNREACHABLE_HINT: &str = "is Elasticsearch running? Check `systemctl status elasticsearch` \
     and the Elasticsearch log (for example /var/log/elasticsearch/<cluster>.log)";

/// How to trust the server.
#[derive(Clone, Debug)]
pub enum Trust {
    /// `http://` only, no TLS at all. Credentials travel in clear text, so callers use this only
    /// for nodes whose HTTP layer has no TLS (the "basic" tier).
    PlainHttp,
    /// `https://` trusting only `ca_pem` (one or more PEM certificates; no system roots).
    ///
    /// With `pin_sha256` (hex SHA-256 of the CA certificate's DER, colons and case ignored) the
    /// trust anchor is exactly the certificate with that fingerprint: taken from `ca_pem` when
    /// it is there, otherwise from the chain the server presents (then `ca_pem` may be empty,
    /// as with Elasticsearch's enrollment fingerprints). A pin that matches none of a
    /// non-empty `ca_pem` is refused by [`EsClient::new`], because it means the CA file and
    /// the fingerprint the operator has are for different CAs.
    Ca {
        ca_pem: String,
        pin_sha256: Option<String>,
    },
}

/// A user and password for HTTP basic authentication. `Debug` never shows the password.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: Zeroizing<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Failures, phrased for the operator. None of them carries a password or a request body.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("cannot reach Elasticsearch at {url}: {reason}; {UNREACHABLE_HINT}")]
    Unreachable { url: String, reason: String },

    #[error("TLS problem talking to {url}: {reason}")]
    Tls { url: String, reason: String },

    #[error("{}", unauthorized_text(user.as_deref(), reason))]
    Unauthorized {
        url: String,
        user: Option<String>,
        reason: String,
    },

    #[error(
        "Elasticsearch refused {what} to user {user} (HTTP 403): {reason}; \
         the user needs the superuser role (or the privileges this call requires)"
    )]
    Forbidden {
        what: String,
        user: String,
        reason: String,
    },

    #[error("{what} failed with HTTP {code}: {reason}")]
    Status {
        what: String,
        code: u16,
        reason: String,
    },

    #[error("unexpected answer from Elasticsearch for {what}: {reason}")]
    Decode { what: String, reason: String },

    #[error("bad Elasticsearch request for {what}: {reason}")]
    Request { what: String, reason: String },

    #[error("interrupted while {what}")]
    Interrupted { what: String },

    #[error(
        "Elasticsearch at {url} was not healthy after {waited_secs} s ({attempts} attempts); \
         last outcome: {last}; {hint}"
    )]
    NotHealthy {
        url: String,
        waited_secs: u64,
        attempts: u32,
        last: String,
        hint: String,
    },
}

fn unauthorized_text(user: Option<&str>, reason: &str) -> String {
    match user {
        Some(u) => format!(
            "Elasticsearch rejected the credentials of user {u} (HTTP 401): {reason}; check the \
             password (a user just added to the file realm needs a few seconds until \
             Elasticsearch reloads the users file)"
        ),
        None => format!(
            "Elasticsearch requires authentication (HTTP 401) and no credentials were given: \
             {reason}"
        ),
    }
}

impl EsError {
    /// Worth another attempt while a node starts or reloads its realms.
    fn is_transient(&self) -> bool {
        match self {
            EsError::Unreachable { .. } | EsError::Unauthorized { .. } => true,
            // 408: health wait timed out; 429: busy; 5xx: master not discovered, security
            // index not recovered yet.
            EsError::Status { code, .. } => *code == 408 || *code == 429 || *code >= 500,
            _ => false,
        }
    }

    /// Few words for progress lines.
    fn short(&self) -> String {
        match self {
            EsError::Unreachable { reason, .. } => format!("unreachable ({reason})"),
            EsError::Tls { reason, .. } => format!("TLS error ({reason})"),
            EsError::Unauthorized { user, .. } => match user {
                Some(u) => format!("HTTP 401 for {u}"),
                None => "HTTP 401 (no credentials)".to_string(),
            },
            EsError::Forbidden { user, .. } => format!("HTTP 403 for {user}"),
            EsError::Status { code, reason, .. } => format!("HTTP {code}: {reason}"),
            other => other.to_string(),
        }
    }
}

/// `GET /_license`'s `license` object (the parts es-secure decides on).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq)]
pub struct License {
    /// `basic`, `standard`, `gold`, `platinum`, `enterprise` or `trial`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `active`, `expired` or `invalid`.
    pub status: String,
}

impl License {
    /// Whether Gold features (audit logging, IP filtering) work under this license.
    pub fn gold_or_better(&self) -> bool {
        self.status == "active"
            && matches!(
                self.kind.as_str(),
                "gold" | "platinum" | "enterprise" | "trial"
            )
    }
}

/// `GET /_cluster/health`.
#[derive(Clone, Debug, Deserialize)]
pub struct Health {
    #[serde(default)]
    pub cluster_name: String,
    /// "green", "yellow" or "red".
    pub status: String,
    pub number_of_nodes: u32,
    #[serde(default)]
    pub timed_out: bool,
    #[serde(default)]
    pub unassigned_shards: u32,
}

/// `GET /_security/_authenticate`.
#[derive(Clone, Debug)]
pub struct AuthInfo {
    pub username: String,
    pub roles: Vec<String>,
    /// Name of the realm that authenticated the user ("file", "reserved", "default_native").
    pub realm: String,
}

/// One entry of `GET /_ssl/certificates`.
#[derive(Clone, Debug, Deserialize)]
pub struct SslCertificate {
    pub path: String,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub subject_dn: String,
    #[serde(default)]
    pub serial_number: String,
    #[serde(default)]
    pub has_private_key: bool,
    /// ISO-8601 timestamp as Elasticsearch prints it.
    #[serde(default)]
    pub expiry: String,
}

/// Progress of [`EsClient::wait_healthy`].
#[derive(Clone, Debug)]
pub struct WaitStatus {
    pub elapsed: Duration,
    pub attempt: u32,
    /// Short description of the last outcome ("unreachable (connection refused)", "red").
    pub last: String,
}

impl fmt::Display for WaitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attempt {} after {} s: {}",
            self.attempt,
            self.elapsed.as_secs(),
            self.last
        )
    }
}

/// Client for one node (base URL). Cheap to clone.
#[derive(Clone)]
pub struct EsClient {
    base: Url,
    http: Client,
    https: bool,
    creds: Option<Credentials>,
    /// Checked by the wait loops at least once a second (see `shell::signals`).
    interrupts: Option<Interrupts>,
}

impl fmt::Debug for EsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsClient")
            .field("base", &self.base.as_str())
            .field("user", &self.creds.as_ref().map(|c| c.username.as_str()))
            .finish_non_exhaustive()
    }
}

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

impl EsClient {
    /// A client for `base_url` (e.g. `https://localhost:9200`). Fails on a URL whose scheme
    /// does not fit `trust`, a URL with credentials in it, an unusable CA or pin.
    pub fn new(base_url: &str, trust: Trust) -> anyhow::Result<Self> {
        let base = Url::parse(base_url.trim())
            .map_err(|e| anyhow::anyhow!("invalid Elasticsearch URL {base_url:?}: {e}"))?;
        if !base.username().is_empty() || base.password().is_some() {
            // The URL would end up in error messages; credentials go in `Credentials`.
            anyhow::bail!("the Elasticsearch URL must not contain a user or password");
        }
        let builder = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("es-secure/", env!("CARGO_PKG_VERSION")))
            // A redirect could send the Authorization header to another host.
            .redirect(reqwest::redirect::Policy::none())
            // An HTTP(S)_PROXY meant for the internet must not see our cluster credentials.
            .no_proxy();
        let (builder, https) = match (base.scheme(), trust) {
            ("http", Trust::PlainHttp) => (builder.https_only(false), false),
            ("https", Trust::Ca { ca_pem, pin_sha256 }) => {
                let config = tls_config(&ca_pem, pin_sha256.as_deref())?;
                (
                    builder.tls_backend_preconfigured(config).https_only(true),
                    true,
                )
            }
            ("https", Trust::PlainHttp) => anyhow::bail!(
                "{base_url} is an https URL but no CA was given to trust; es-secure never \
                 connects over HTTPS without checking the certificate"
            ),
            ("http", Trust::Ca { .. }) => anyhow::bail!(
                "{base_url} is a plain http URL but a CA was given; use https:// so the CA is \
                 actually checked"
            ),
            (other, _) => anyhow::bail!(
                "unsupported URL scheme {other:?} in {base_url}; use http:// or https://"
            ),
        };
        let http = builder
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {}", chain_text(&e)))?;
        Ok(Self {
            base,
            http,
            https,
            creds: None,
            interrupts: None,
        })
    }

    /// The same client, whose wait loops stop (with [`EsError::Interrupted`]) within about a
    /// second of an interrupt request.
    pub fn with_interrupts(&self, interrupts: Interrupts) -> Self {
        Self {
            interrupts: Some(interrupts),
            ..self.clone()
        }
    }

    fn interrupted(&self, what: &str) -> Result<(), EsError> {
        match &self.interrupts {
            Some(i) if i.requested() => Err(EsError::Interrupted {
                what: what.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Sleep between attempts; an interrupt request ends the pause (and the wait) early.
    fn pause(&self, d: Duration, what: &str) -> Result<(), EsError> {
        match &self.interrupts {
            Some(i) => {
                i.sleep(d);
                self.interrupted(what)
            }
            None => {
                std::thread::sleep(d);
                Ok(())
            }
        }
    }

    /// The same client, authenticating as `creds`.
    pub fn with_credentials(&self, creds: Credentials) -> Self {
        Self {
            creds: Some(creds),
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// `GET /_cluster/health`.
    pub fn health(&self) -> Result<Health, EsError> {
        let what = "cluster health (GET /_cluster/health)";
        let body = self.call(what, Method::GET, &["_cluster", "health"], &[], None, true)?;
        decode(what, &body)
    }

    /// `GET /_license`: the cluster's license type and status (readable without credentials
    /// while security is off).
    pub fn license(&self) -> Result<License, EsError> {
        #[derive(Deserialize)]
        struct Raw {
            license: License,
        }
        let what = "the license (GET /_license)";
        let body = self.call(what, Method::GET, &["_license"], &[], None, true)?;
        let raw: Raw = decode(what, &body)?;
        Ok(raw.license)
    }

    /// `GET /_security/_authenticate`: who the credentials belong to.
    pub fn authenticate(&self) -> Result<AuthInfo, EsError> {
        #[derive(Deserialize)]
        struct Realm {
            #[serde(default)]
            name: String,
        }
        #[derive(Deserialize)]
        struct Raw {
            username: String,
            #[serde(default)]
            roles: Vec<String>,
            authentication_realm: Option<Realm>,
        }
        let what = "authenticate (GET /_security/_authenticate)";
        let body = self.call(
            what,
            Method::GET,
            &["_security", "_authenticate"],
            &[],
            None,
            true,
        )?;
        let raw: Raw = decode(what, &body)?;
        Ok(AuthInfo {
            username: raw.username,
            roles: raw.roles,
            realm: raw.authentication_realm.map(|r| r.name).unwrap_or_default(),
        })
    }

    /// [`authenticate`](Self::authenticate), retrying 401 answers and refused connections
    /// for up to `timeout`. A user just written to the file realm is unknown until
    /// Elasticsearch's resource watcher reloads the file (every 5 s by default).
    pub fn authenticate_retrying(&self, timeout: Duration) -> Result<AuthInfo, EsError> {
        let started = Instant::now();
        let what = "waiting for Elasticsearch to accept the credentials";
        loop {
            self.interrupted(what)?;
            match self.authenticate() {
                Ok(info) => return Ok(info),
                Err(e @ (EsError::Unauthorized { .. } | EsError::Unreachable { .. }))
                    if started.elapsed() + RETRY_PAUSE < timeout =>
                {
                    drop(e);
                    self.pause(RETRY_PAUSE, what)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `POST /_security/user/<user>/_password` with `{"password": …}`.
    pub fn change_password(&self, user: &str, password: &Zeroizing<String>) -> Result<(), EsError> {
        let what = format!("changing the password of {user}");
        // Zeroizing for our copy; reqwest keeps its own copy of the body, which we cannot wipe.
        let body = Zeroizing::new(
            serde_json::to_vec(&serde_json::json!({ "password": password.as_str() })).map_err(
                |e| EsError::Request {
                    what: what.clone(),
                    reason: e.to_string(),
                },
            )?,
        );
        let result = self.call(
            &what,
            Method::POST,
            &["_security", "user", user, "_password"],
            &[],
            Some(body.to_vec()),
            true,
        );
        // Elasticsearch may quote part of a body it could not parse; never pass that on.
        result
            .map(drop)
            .map_err(|e| redact_error(e, password.as_str()))
    }

    /// `GET /_ssl/certificates`: the certificates the node has loaded.
    pub fn ssl_certificates(&self) -> Result<Vec<SslCertificate>, EsError> {
        let what = "listing certificates (GET /_ssl/certificates)";
        let body = self.call(
            what,
            Method::GET,
            &["_ssl", "certificates"],
            &[],
            None,
            true,
        )?;
        decode(what, &body)
    }

    /// `GET /_nodes`: the `node.name` of every node in the cluster (for bundle pruning).
    pub fn node_names(&self) -> Result<Vec<String>, EsError> {
        #[derive(Deserialize)]
        struct Node {
            name: String,
        }
        #[derive(Deserialize)]
        struct Nodes {
            #[serde(default)]
            nodes: std::collections::BTreeMap<String, Node>,
        }
        let what = "listing the cluster's nodes (GET /_nodes)";
        let body = self.call(
            what,
            Method::GET,
            &["_nodes"],
            &[("filter_path", "nodes.*.name")],
            None,
            true,
        )?;
        let nodes: Nodes = decode(what, &body)?;
        Ok(nodes.nodes.into_values().map(|n| n.name).collect())
    }

    /// Status code of an unauthenticated `GET /_cluster/health`: 401 on a secured node,
    /// 200 on an open one. Only transport and TLS problems are errors.
    pub fn status_anonymous(&self) -> Result<u16, EsError> {
        let url = self.endpoint("anonymous request", &["_cluster", "health"], &[])?;
        let response = self
            .http
            .get(url)
            .send()
            .map_err(|e| self.transport_error(&e))?;
        Ok(response.status().as_u16())
    }

    /// Poll cluster health until it is yellow or green, or `timeout` passes. Refused
    /// connections, 401 (a file-realm user not loaded yet), 5xx and red are retried; TLS
    /// problems, 403 and garbage answers end the wait at once because waiting cannot fix them.
    pub fn wait_healthy(
        &self,
        timeout: Duration,
        progress: &mut dyn FnMut(&WaitStatus),
    ) -> Result<Health, EsError> {
        let what = "cluster health (GET /_cluster/health?wait_for_status=yellow)";
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let longest = if self.interrupts.is_some() {
            INTERRUPTIBLE_HEALTH_WAIT
        } else {
            HEALTH_WAIT
        };
        loop {
            self.interrupted("waiting for Elasticsearch to become healthy")?;
            attempt += 1;
            let attempt_started = Instant::now();
            let remaining = timeout.saturating_sub(started.elapsed());
            let wait = longest.min(remaining).max(Duration::from_secs(1));
            let wait_param = format!("{}s", wait.as_secs());
            let outcome = self
                .call_with_status(
                    what,
                    Method::GET,
                    &["_cluster", "health"],
                    &[("wait_for_status", "yellow"), ("timeout", &wait_param)],
                    None,
                    true,
                    // 408 means "not yellow within the wait"; its body is still a health.
                    &[StatusCode::REQUEST_TIMEOUT],
                )
                .and_then(|body| decode::<Health>(what, &body));
            let (last, err) = match outcome {
                Ok(h) if h.status == "green" || h.status == "yellow" => return Ok(h),
                Ok(h) => (format!("{} ({} nodes)", h.status, h.number_of_nodes), None),
                Err(e) => (e.short(), Some(e)),
            };
            let elapsed = started.elapsed();
            progress(&WaitStatus {
                elapsed,
                attempt,
                last: last.clone(),
            });
            match err {
                // TLS problems, 403, garbage: waiting cannot fix them, and the error says why.
                Some(e) if !e.is_transient() => return Err(e),
                err if elapsed + RETRY_PAUSE >= timeout => {
                    return Err(self.not_healthy(elapsed, attempt, err.as_ref(), last));
                }
                _ => {}
            }
            // Fast failures (refused, 401) would spin; a 5 s server-side wait needs no pause.
            self.pause(
                RETRY_PAUSE.saturating_sub(attempt_started.elapsed()),
                "waiting for Elasticsearch to become healthy",
            )?;
        }
    }

    fn not_healthy(
        &self,
        elapsed: Duration,
        attempts: u32,
        err: Option<&EsError>,
        last: String,
    ) -> EsError {
        let hint = match err {
            None => "the cluster is red: some primary shards are not assigned. Check \
                     `GET _cluster/allocation/explain` and the Elasticsearch log (disk full, \
                     missing nodes, corrupted shards)"
                .to_string(),
            Some(EsError::Unreachable { .. }) => UNREACHABLE_HINT.to_string(),
            Some(e @ EsError::Unauthorized { .. }) => format!(
                "{e}. If es-secure just created a temporary file-realm user, check that the \
                 file realm is enabled and that Elasticsearch can read config/users and \
                 config/users_roles"
            ),
            Some(e) => format!(
                "{e}. Elasticsearch may still be starting (master not elected, security index \
                 not recovered); see its log"
            ),
        };
        EsError::NotHealthy {
            url: self.base.to_string(),
            waited_secs: elapsed.as_secs(),
            attempts,
            last,
            hint,
        }
    }

    fn endpoint(
        &self,
        what: &str,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Url, EsError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| EsError::Request {
                what: what.to_string(),
                reason: format!("{} cannot take a path", self.base),
            })?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    fn call(
        &self,
        what: &str,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        json_body: Option<Vec<u8>>,
        auth: bool,
    ) -> Result<String, EsError> {
        self.call_with_status(what, method, segments, query, json_body, auth, &[])
    }

    /// Send one request; 2xx (and `also_ok`) bodies come back as text, everything else as an
    /// [`EsError`].
    #[allow(clippy::too_many_arguments)]
    fn call_with_status(
        &self,
        what: &str,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        json_body: Option<Vec<u8>>,
        auth: bool,
        also_ok: &[StatusCode],
    ) -> Result<String, EsError> {
        let url = self.endpoint(what, segments, query)?;
        let mut request: RequestBuilder = self.http.request(method, url);
        if auth && let Some(c) = &self.creds {
            request = request.basic_auth(&c.username, Some(c.password.as_str()));
        }
        if let Some(body) = json_body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let text = response.text().map_err(|e| EsError::Decode {
            what: what.to_string(),
            reason: format!("reading the body failed: {}", chain_text(&e)),
        })?;
        if status.is_success() || also_ok.contains(&status) {
            return Ok(text);
        }
        let reason = error_reason(&text);
        let user = self
            .creds
            .as_ref()
            .filter(|_| auth)
            .map(|c| c.username.clone());
        Err(match status {
            StatusCode::UNAUTHORIZED => EsError::Unauthorized {
                url: self.base.to_string(),
                user,
                reason,
            },
            StatusCode::FORBIDDEN => EsError::Forbidden {
                what: what.to_string(),
                user: user.unwrap_or_else(|| "(anonymous)".to_string()),
                reason,
            },
            _ => EsError::Status {
                what: what.to_string(),
                code: status.as_u16(),
                reason,
            },
        })
    }

    /// Classify a failure before any HTTP status arrived.
    fn transport_error(&self, err: &reqwest::Error) -> EsError {
        let url = self.base.to_string();
        let text = chain_text(err);
        if let Some(tls) = find_rustls_error(err) {
            return EsError::Tls {
                url,
                reason: tls_reason(tls),
            };
        }
        if err.is_timeout() {
            return EsError::Unreachable {
                url,
                reason: format!(
                    "no answer in time (connect {} s, request {} s): {text}",
                    CONNECT_TIMEOUT.as_secs(),
                    REQUEST_TIMEOUT.as_secs()
                ),
            };
        }
        if self.https && text.contains("tls handshake eof") {
            return EsError::Tls {
                url,
                reason: format!(
                    "the server hung up during the TLS handshake ({text}); it probably serves \
                     plain HTTP (xpack.security.http.ssl is off). Use an http:// URL, or enable \
                     TLS on the node"
                ),
            };
        }
        if !self.https && looks_like_tls_only_server(&text) {
            return EsError::Tls {
                url,
                reason: format!(
                    "the server did not answer plain HTTP ({text}); it probably serves HTTPS \
                     (xpack.security.http.ssl.enabled: true). Use an https:// URL and its CA"
                ),
            };
        }
        if err.is_builder() {
            return EsError::Request {
                what: "request".to_string(),
                reason: text,
            };
        }
        EsError::Unreachable { url, reason: text }
    }
}

/// Error text for a TLS failure, with the cause in operator terms first.
fn tls_reason(err: &rustls::Error) -> String {
    use rustls::Error as E;
    let detail = err.to_string();
    match err {
        E::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "unknown CA: the server's certificate is not signed by the CA es-secure trusts \
             ({detail}). Check that the CA file belongs to this node's HTTP certificate"
        ),
        // Same issuer name, different key: typically another CA with the same default
        // name, such as a different node's auto-configured "HTTP CA".
        E::InvalidCertificate(CertificateError::BadSignature) => format!(
            "unknown CA: the server's certificate names the trusted CA as its issuer but was \
             signed by a different key ({detail}); another CA with the same name signed it. \
             Check that the CA file belongs to this node's HTTP certificate"
        ),
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "host name mismatch: {detail}. Use a URL host that is in the certificate's subject \
             alternative names, or re-issue the certificate with this name"
        ),
        E::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => format!("the server's certificate has expired ({detail})"),
        E::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => format!("the server's certificate is not valid yet; check the clocks ({detail})"),
        E::InvalidCertificate(CertificateError::Other(other)) => {
            match other.0.downcast_ref::<PinError>() {
                Some(pin) => pin.to_string(),
                None => detail,
            }
        }
        E::InvalidMessage(_) => format!(
            "the server did not answer with TLS; it probably serves plain HTTP \
             (xpack.security.http.ssl is off). Use an http:// URL, or enable TLS on the node \
             ({detail})"
        ),
        _ => detail,
    }
}

/// What a plain-HTTP request to a TLS-only port looks like: the server hangs up, or answers
/// with a TLS alert that is not HTTP.
fn looks_like_tls_only_server(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "connection closed before message completed",
        "invalid http version",
        "received http/0.9",
        "connection reset",
        "invalid status line",
        "invalid response",
    ]
    .iter()
    .any(|needle| t.contains(needle))
}

/// The error and all its sources, joined like anyhow's `{:#}`.
fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// The rustls error somewhere in the chain. `io::Error::source` skips the wrapped error, so
/// look inside io errors explicitly.
fn find_rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                return Some(r);
            }
            if let Some(r) = find_rustls_error(inner) {
                return Some(r);
            }
        }
        current = e.source();
    }
    None
}

/// `error.reason` (with `error.type`) from an Elasticsearch error body, else a short quote.
fn error_reason(body: &str) -> String {
    #[derive(Deserialize)]
    struct Inner {
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Structured(Inner),
        Text(String),
    }
    #[derive(Deserialize)]
    struct Body {
        error: ErrorField,
    }
    match serde_json::from_str::<Body>(body) {
        Ok(Body {
            error: ErrorField::Structured(Inner { kind, reason }),
        }) => match (reason, kind) {
            (Some(r), Some(k)) => format!("{r} [{k}]"),
            (Some(r), None) => r,
            (None, Some(k)) => k,
            (None, None) => quote_body(body),
        },
        Ok(Body {
            error: ErrorField::Text(t),
        }) => t,
        Err(_) => quote_body(body),
    }
}

fn quote_body(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "(empty body)".to_string();
    }
    let mut end = trimmed.len().min(MAX_QUOTED_BODY);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    if end < trimmed.len() {
        format!("{}…", &trimmed[..end])
    } else {
        trimmed.to_string()
    }
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, body: &str) -> Result<T, EsError> {
    serde_json::from_str(body).map_err(|e| EsError::Decode {
        what: what.to_string(),
        reason: format!("{e} in {}", quote_body(body)),
    })
}

/// Replace every occurrence of `secret` in the error's free text.
fn redact_error(err: EsError, secret: &str) -> EsError {
    if secret.is_empty() {
        return err;
    }
    let clean = |s: String| s.replace(secret, "<redacted>");
    match err {
        EsError::Status { what, code, reason } => EsError::Status {
            what,
            code,
            reason: clean(reason),
        },
        EsError::Decode { what, reason } => EsError::Decode {
            what,
            reason: clean(reason),
        },
        EsError::Request { what, reason } => EsError::Request {
            what,
            reason: clean(reason),
        },
        EsError::Forbidden { what, user, reason } => EsError::Forbidden {
            what,
            user,
            reason: clean(reason),
        },
        EsError::Unauthorized { url, user, reason } => EsError::Unauthorized {
            url,
            user,
            reason: clean(reason),
        },
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// TLS

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// rustls configuration trusting only `ca_pem`, or exactly the pinned CA.
fn tls_config(ca_pem: &str, pin: Option<&str>) -> anyhow::Result<rustls::ClientConfig> {
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
enum PinError {
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
    fn credentials_debug_redacts_password() {
        let c = Credentials {
            username: "elastic".into(),
            password: Zeroizing::new("hunter2-very-secret".into()),
        };
        let s = format!("{c:?}");
        assert!(s.contains("elastic"));
        assert!(!s.contains("hunter2"), "{s}");
        let client = EsClient::new("http://127.0.0.1:9", Trust::PlainHttp)
            .unwrap()
            .with_credentials(c);
        let s = format!("{client:?}");
        assert!(!s.contains("hunter2"), "{s}");
    }

    #[test]
    fn error_reason_from_es_body() {
        let body = r#"{"error":{"root_cause":[{"type":"x","reason":"y"}],"type":"illegal_argument_exception","reason":"Unknown filter type [pattern_capture]"},"status":400}"#;
        assert_eq!(
            error_reason(body),
            "Unknown filter type [pattern_capture] [illegal_argument_exception]"
        );
        assert_eq!(error_reason(r#"{"error":"plain"}"#), "plain");
        assert_eq!(error_reason(""), "(empty body)");
        assert!(error_reason(&"x".repeat(1000)).ends_with('…'));
    }

    #[test]
    fn redaction_removes_password_from_error_text() {
        let e = EsError::Status {
            what: "w".into(),
            code: 400,
            reason: "could not parse [s3cr3t-pass]".into(),
        };
        let e = redact_error(e, "s3cr3t-pass");
        assert!(!e.to_string().contains("s3cr3t"));
        assert!(!format!("{e:?}").contains("s3cr3t"));
    }

    #[test]
    fn pins_parse_with_or_without_colons() {
        let hex64 = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(parse_pin(&hex64).unwrap(), [0xab; 32]);
        assert_eq!(parse_pin(&colons).unwrap(), [0xab; 32]);
        assert!(parse_pin("abcd").is_err());
        assert!(parse_pin(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn scheme_must_match_trust() {
        let ca = Trust::Ca {
            ca_pem: String::new(),
            pin_sha256: None,
        };
        assert!(EsClient::new("http://localhost:9200", ca).is_err());
        let e = EsClient::new("https://localhost:9200", Trust::PlainHttp).unwrap_err();
        assert!(e.to_string().contains("no CA"), "{e}");
        assert!(EsClient::new("https://u:p@localhost:9200", Trust::PlainHttp).is_err());
        assert!(EsClient::new("ftp://localhost", Trust::PlainHttp).is_err());
    }

    #[test]
    fn endpoint_keeps_base_path_and_encodes_user() {
        let c = EsClient::new("http://h:9200/es/", Trust::PlainHttp).unwrap();
        let u = c
            .endpoint("x", &["_security", "user", "a b/c", "_password"], &[])
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://h:9200/es/_security/user/a%20b%2Fc/_password"
        );
        let u = c
            .endpoint("x", &["_cluster", "health"], &[("timeout", "5s")])
            .unwrap();
        assert_eq!(u.as_str(), "http://h:9200/es/_cluster/health?timeout=5s");
    }

    #[test]
    fn unreachable_port_is_reported_as_unreachable() {
        // Port 9 (discard) is closed on test machines; the connection is refused at once.
        let c = EsClient::new("http://127.0.0.1:9", Trust::PlainHttp).unwrap();
        let e = c.health().unwrap_err();
        assert!(matches!(e, EsError::Unreachable { .. }), "{e:?}");
        assert!(
            e.to_string().contains("systemctl status elasticsearch"),
            "{e}"
        );
    }

    #[test]
    fn wait_healthy_times_out_with_hint() {
        let c = EsClient::new("http://127.0.0.1:9", Trust::PlainHttp).unwrap();
        let mut seen = Vec::new();
        let e = c
            .wait_healthy(Duration::from_secs(2), &mut |s| seen.push(s.to_string()))
            .unwrap_err();
        assert!(matches!(e, EsError::NotHealthy { .. }), "{e:?}");
        assert!(e.to_string().contains("is Elasticsearch running"), "{e}");
        assert!(!seen.is_empty());
        assert!(seen[0].starts_with("attempt 1"), "{seen:?}");
    }
}
