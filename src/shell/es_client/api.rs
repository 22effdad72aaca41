//! The few Elasticsearch endpoints es-secure calls: cluster health, authenticate, change a
//! password, the node's TLS certificates, the cluster's node names, shard allocation and
//! flush around a full-cluster restart, Kibana's service-account tokens (create, delete, list),
//! and an anonymous probe.
//! Each is one request; it must not retry (see `wait`), and a password it sends never comes
//! back in an error.

use reqwest::Method;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::error::{decode, redact_error};
use super::transport::target_of;
use super::{AuthInfo, EsClient, EsError, Health, License, SslCertificate};

impl EsClient {
    /// `GET /_cluster/health`.
    pub fn health(&self) -> Result<Health, EsError> {
        let what = "cluster health (GET /_cluster/health)";
        self.get_json(what, &["_cluster", "health"], &[])
    }

    /// `GET /_license`: the cluster's license type and status (readable without credentials
    /// while security is off).
    pub fn license(&self) -> Result<License, EsError> {
        #[derive(Deserialize)]
        struct Raw {
            license: License,
        }
        let what = "the license (GET /_license)";
        let raw: Raw = self.get_json(what, &["_license"], &[])?;
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
        let raw: Raw = self.get_json(what, &["_security", "_authenticate"], &[])?;
        Ok(AuthInfo {
            username: raw.username,
            roles: raw.roles,
            realm: raw.authentication_realm.map(|r| r.name).unwrap_or_default(),
        })
    }

    /// `POST /_security/user/<user>/_password` with `{"password": …}`.
    pub fn change_password(&self, user: &str, password: &Zeroizing<String>) -> Result<(), EsError> {
        self.set_password(user, password, None)
    }

    /// [`change_password`](Self::change_password) sending `hash`, the caller's bcrypt hash
    /// of `password` (`$2a$10$…`, the node's default algorithm), as `password_hash`: the node
    /// stores it as it is instead of hashing the password itself (bcrypt, the slowest part
    /// of the call), and the password does not cross the wire. Only for nodes whose
    /// `xpack.security.authc.password_hashing.algorithm` is bcrypt (cost 10).
    pub fn change_password_to_hash(
        &self,
        user: &str,
        password: &Zeroizing<String>,
        hash: &str,
    ) -> Result<(), EsError> {
        self.set_password(user, password, Some(hash))
    }

    fn set_password(
        &self,
        user: &str,
        password: &Zeroizing<String>,
        hash: Option<&str>,
    ) -> Result<(), EsError> {
        let what = format!("changing the password of {user}");
        let body = match hash {
            Some(h) => serde_json::json!({ "password_hash": h }),
            None => serde_json::json!({ "password": password.as_str() }),
        };
        // Zeroizing for our copy; reqwest keeps its own copy of the body, which we cannot wipe.
        let body = Zeroizing::new(serde_json::to_vec(&body).map_err(|e| EsError::Request {
            what: what.clone(),
            reason: e.to_string(),
        })?);
        // `refresh=false`: the default (`true`) refreshes the security index after every
        // change so that searches see it; authentication reads the user's document by id,
        // which sees the change at once, and es-secure searches no users.
        let result = self.call(
            &what,
            Method::POST,
            &["_security", "user", user, "_password"],
            &[("refresh", "false")],
            Some(body.to_vec()),
            true,
        );
        // Elasticsearch may quote part of a body it could not parse; never pass that on.
        result
            .map(drop)
            .map_err(|e| redact_error(e, password.as_str()))
            .map_err(|e| redact_error(e, hash.unwrap_or_default()))
    }

    /// `GET /_ssl/certificates`: the certificates the node has loaded.
    pub fn ssl_certificates(&self) -> Result<Vec<SslCertificate>, EsError> {
        let what = "listing certificates (GET /_ssl/certificates)";
        self.get_json(what, &["_ssl", "certificates"], &[])
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
        let nodes: Nodes = self.get_json(what, &["_nodes"], &[("filter_path", "nodes.*.name")])?;
        Ok(nodes.nodes.into_values().map(|n| n.name).collect())
    }

    /// `PUT /_cluster/settings` with the persistent `cluster.routing.allocation.enable`:
    /// `Some("primaries")` before a full-cluster restart, `None` (the default) after it.
    pub fn set_allocation(&self, value: Option<&str>) -> Result<(), EsError> {
        let what = format!(
            "setting cluster.routing.allocation.enable to {} (PUT /_cluster/settings)",
            value.unwrap_or("null")
        );
        let body = serde_json::json!({
            "persistent": { "cluster.routing.allocation.enable": value }
        });
        self.call(
            &what,
            Method::PUT,
            &["_cluster", "settings"],
            &[],
            Some(body.to_string().into_bytes()),
            true,
        )
        .map(drop)
    }

    /// `POST /_flush`: every index's translog into its segments, so shards recover fast after
    /// a restart.
    pub fn flush(&self) -> Result<(), EsError> {
        self.call(
            "flushing (POST /_flush)",
            Method::POST,
            &["_flush"],
            &[],
            None,
            true,
        )
        .map(drop)
    }

    /// `POST /_security/service/<namespace>/<service>/credential/token/<name>`: a new token
    /// of that service account. Its value comes back only as the result: an answer that does
    /// not decode is reported without its body (it may hold the value).
    pub fn create_service_token(
        &self,
        namespace: &str,
        service: &str,
        name: &str,
    ) -> Result<Zeroizing<String>, EsError> {
        #[derive(Deserialize)]
        struct Token {
            value: String,
        }
        #[derive(Deserialize)]
        struct Raw {
            token: Token,
        }
        let what = format!(
            "creating the token {name} of the service account {namespace}/{service} (POST /_security/service/{namespace}/{service}/credential/token/{name})"
        );
        let body = Zeroizing::new(self.call(
            &what,
            Method::POST,
            &[
                "_security",
                "service",
                namespace,
                service,
                "credential",
                "token",
                name,
            ],
            &[],
            None,
            true,
        )?);
        let raw: Raw = serde_json::from_str(&body).map_err(|_| EsError::Decode {
            what: what.clone(),
            reason: "the answer has no token.value (body not shown: it may hold the token)"
                .to_string(),
        })?;
        Ok(Zeroizing::new(raw.token.value))
    }

    /// `DELETE /_security/service/<namespace>/<service>/credential/token/<name>`: `true` when
    /// the token existed and is deleted, `false` when there was none.
    pub fn delete_service_token(
        &self,
        namespace: &str,
        service: &str,
        name: &str,
    ) -> Result<bool, EsError> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            found: bool,
        }
        let what = format!(
            "deleting the token {name} of the service account {namespace}/{service} (DELETE /_security/service/{namespace}/{service}/credential/token/{name})"
        );
        let body = self.call_with_status(
            &what,
            Method::DELETE,
            &[
                "_security",
                "service",
                namespace,
                service,
                "credential",
                "token",
                name,
            ],
            &[],
            None,
            true,
            &[reqwest::StatusCode::NOT_FOUND],
        )?;
        let raw: Raw = decode(&what, &body)?;
        Ok(raw.found)
    }

    /// `GET /_security/service/<namespace>/<service>/credential`: the names of the service
    /// account's tokens in the security index (not the file tokens of each node).
    pub fn service_token_names(
        &self,
        namespace: &str,
        service: &str,
    ) -> Result<Vec<String>, EsError> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            tokens: std::collections::BTreeMap<String, serde_json::Value>,
        }
        let what = format!(
            "listing the tokens of the service account {namespace}/{service} (GET /_security/service/{namespace}/{service}/credential)"
        );
        let raw: Raw = self.get_json(
            &what,
            &["_security", "service", namespace, service, "credential"],
            &[],
        )?;
        Ok(raw.tokens.into_keys().collect())
    }

    /// An authenticated `GET` whose JSON answer is decoded into `T`.
    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, EsError> {
        let body = self.call(what, Method::GET, segments, query, None, true)?;
        decode(what, &body)
    }

    /// Whether Elasticsearch itself answers an unauthenticated `GET /_cluster/health`: its
    /// `X-elastic-product: Elasticsearch` header, or the 401 of its security layer
    /// (`WWW-Authenticate: Basic realm="security"`) — which a proxy or another server in its
    /// place does not send.
    pub fn is_elasticsearch(&self) -> Result<bool, EsError> {
        let url = self.endpoint("probe", &["_cluster", "health"], &[])?;
        let (target, started) = (target_of(&url), std::time::Instant::now());
        let response = self.http.get(url).send().map_err(|e| {
            self.trace("GET", &target, false, "failed", started);
            self.transport_error(&e)
        })?;
        self.trace("GET", &target, false, response.status().as_str(), started);
        let headers = response.headers();
        let product = headers
            .get("x-elastic-product")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"elasticsearch"));
        let realm = headers
            .get_all("www-authenticate")
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.contains("realm=\"security\"")));
        Ok(product || realm)
    }

    /// Status code of an unauthenticated `GET /_cluster/health`: 401 on a secured node,
    /// 200 on an open one. Only transport and TLS problems are errors.
    pub fn status_anonymous(&self) -> Result<u16, EsError> {
        let url = self.endpoint("anonymous request", &["_cluster", "health"], &[])?;
        let (target, started) = (target_of(&url), std::time::Instant::now());
        let response = self.http.get(url).send().map_err(|e| {
            self.trace("GET", &target, false, "failed", started);
            self.transport_error(&e)
        })?;
        self.trace("GET", &target, false, response.status().as_str(), started);
        Ok(response.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::shell::es_client::Trust;

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
}
