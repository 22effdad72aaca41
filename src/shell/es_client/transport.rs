//! One request to the node and the classification of its failure: the URL built from path
//! segments (so a user name cannot change the path), basic authentication, the body, and
//! every transport, TLS and HTTP failure turned into an [`EsError`]. It must not retry or
//! wait (the wait loops do), and never puts a password or a request body into an error.

use std::time::Instant;

use reqwest::blocking::RequestBuilder;
use reqwest::{Method, StatusCode, Url};
use rustls::CertificateError;

use super::error::error_reason;
use super::tls::PinError;
use super::{CONNECT_TIMEOUT, EsClient, EsError, REQUEST_TIMEOUT};
use crate::shell::trace;

impl EsClient {
    pub(super) fn endpoint(
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

    pub(super) fn call(
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
    pub(super) fn call_with_status(
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
        // Path and query only (user and token names at most, never a secret).
        let (method_name, target) = (method.to_string(), target_of(&url));
        let mut request: RequestBuilder = self.http.request(method, url);
        if auth && let Some(token) = &self.bearer {
            request = request.bearer_auth(token.as_str());
        } else if auth && let Some(c) = &self.creds {
            request = request.basic_auth(&c.username, Some(c.password.as_str()));
        }
        if let Some(body) = json_body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let started = Instant::now();
        let response = request.send().map_err(|e| {
            self.trace(&method_name, &target, auth, "failed", started);
            self.transport_error(&e)
        })?;
        let status = response.status();
        let text = response.text().map_err(|e| EsError::Decode {
            what: what.to_string(),
            reason: format!("reading the body failed: {}", chain_text(&e)),
        })?;
        self.trace(&method_name, &target, auth, status.as_str(), started);
        if status.is_success() || also_ok.contains(&status) {
            return Ok(text);
        }
        let reason = error_reason(&text);
        let user = self
            .creds
            .as_ref()
            .filter(|_| auth)
            .map(|c| c.username.clone())
            .or_else(|| {
                (auth && self.bearer.is_some()).then(|| "a service-account token".to_string())
            });
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

    /// One `shell::trace` line for a request this client sent (`outcome`: the status).
    pub(super) fn trace(
        &self,
        method: &str,
        target: &str,
        auth: bool,
        outcome: &str,
        started: Instant,
    ) {
        if trace::enabled() {
            let user = match (auth, &self.bearer, &self.creds) {
                (false, _, _) | (true, None, None) => " (anonymous)".to_string(),
                (true, Some(_), _) => " with a bearer token".to_string(),
                (true, None, Some(c)) => format!(" as {}", c.username),
            };
            trace::line(&format!(
                "http client #{} {method} {target}{user} -> {outcome} in {}",
                self.id,
                trace::ms(started.elapsed())
            ));
        }
    }

    /// Classify a failure before any HTTP status arrived.
    pub(super) fn transport_error(&self, err: &reqwest::Error) -> EsError {
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

/// The path and query of `url`, for trace lines.
pub(super) fn target_of(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// The error and all its sources, joined like anyhow's `{:#}`.
pub(super) fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::shell::es_client::Trust;

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
}
