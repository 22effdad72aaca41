//! Blocking REST client for the few Elasticsearch endpoints es-secure needs: cluster health,
//! authenticate, change a password, list the node's TLS certificates, Kibana's
//! service-account token.
//!
//! Its job is to reach the node *safely* and to turn every failure into an error an operator
//! can act on ([`EsError`]). Over HTTPS it trusts only the CA it is given (never the system
//! roots), optionally narrowed to one CA by a SHA-256 pin, and always checks the host name.
//! Plain HTTP is used only when the caller says so with [`Trust::PlainHttp`].
//!
//! It must not: turn off certificate or host-name checks (there is deliberately no option),
//! follow redirects or use proxies (both could carry credentials elsewhere), or put a password
//! or a request body into an error, a `Debug` string or a log line.

mod api;
mod error;
mod tls;
mod transport;
mod wait;

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::Client;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::shell::signals::Interrupts;
use crate::shell::trace;

pub use self::error::EsError;
pub use self::tls::{fingerprint, parse_pin, presented_leaf};
pub use self::wait::WaitStatus;

use self::tls::tls_config;
use self::transport::chain_text;

/// Connecting must be quick: a node that does not accept within 5 s is down or filtered.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request limit. Health waits server-side for at most 5 s, so 30 s is generous.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
        crate::domain::posture::license_is_gold(&self.kind, &self.status)
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

/// Client for one node (base URL). Cheap to clone.
#[derive(Clone)]
pub struct EsClient {
    base: Url,
    http: Client,
    https: bool,
    creds: Option<Credentials>,
    /// A bearer token (a service-account token) sent instead of `creds`.
    bearer: Option<Zeroizing<String>>,
    /// Checked by the wait loops at least once a second (see `shell::signals`).
    interrupts: Option<Interrupts>,
    /// Which HTTP client (connection pool) this is, for `shell::trace` lines; clones made by
    /// `with_credentials` and the like share it.
    id: u64,
}

impl fmt::Debug for EsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsClient")
            .field("base", &self.base.as_str())
            .field("user", &self.creds.as_ref().map(|c| c.username.as_str()))
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl EsClient {
    /// A client for `base_url` (e.g. `https://localhost:9200`). Fails on a URL whose scheme
    /// does not fit `trust`, a URL with credentials in it, an unusable CA or pin.
    pub fn new(base_url: &str, trust: Trust) -> anyhow::Result<Self> {
        Self::with_timeouts(base_url, trust, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// [`EsClient::new`] with other timeouts: a quick look (`status`) must not keep the
    /// operator waiting on a node that is down.
    pub fn with_timeouts(
        base_url: &str,
        trust: Trust,
        connect: Duration,
        request: Duration,
    ) -> anyhow::Result<Self> {
        let started = std::time::Instant::now();
        let base = Url::parse(base_url.trim())
            .map_err(|e| anyhow::anyhow!("invalid Elasticsearch URL {base_url:?}: {e}"))?;
        if !base.username().is_empty() || base.password().is_some() {
            // The URL would end up in error messages; credentials go in `Credentials`.
            anyhow::bail!("the Elasticsearch URL must not contain a user or password");
        }
        let builder = Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .user_agent(concat!("es-secure/", env!("CARGO_PKG_VERSION")))
            // A redirect could send the Authorization header to another host.
            .redirect(reqwest::redirect::Policy::none())
            // An HTTP(S)_PROXY meant for the internet must not see our cluster credentials.
            .no_proxy();
        let (builder, https) = match (base.scheme(), trust) {
            // No trust store at all: reqwest would otherwise load the system's roots for a
            // client that never speaks TLS, and fail on hosts without any (a minimal Debian
            // has no ca-certificates).
            ("http", Trust::PlainHttp) => (
                builder
                    .https_only(false)
                    .tls_certs_only(Vec::<reqwest::Certificate>::new()),
                false,
            ),
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
        let id = trace::next_client_id();
        trace::line(&format!(
            "http client #{id} for {base} built in {}",
            trace::ms(started.elapsed())
        ));
        Ok(Self {
            base,
            http,
            https,
            creds: None,
            bearer: None,
            interrupts: None,
            id,
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

    /// The same client, authenticating as `creds`.
    pub fn with_credentials(&self, creds: Credentials) -> Self {
        Self {
            creds: Some(creds),
            bearer: None,
            ..self.clone()
        }
    }

    /// The same client, authenticating with `Authorization: Bearer <token>` (a
    /// service-account token) instead of a user and password.
    pub fn with_bearer(&self, token: Zeroizing<String>) -> Self {
        Self {
            creds: None,
            bearer: Some(token),
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
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
        let bearer = client.with_bearer(Zeroizing::new("AAEAAWVsYXN0aWMtoken-secret".into()));
        let s = format!("{bearer:?}");
        assert!(
            !s.contains("token-secret") && s.contains("<redacted>"),
            "{s}"
        );
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
}
