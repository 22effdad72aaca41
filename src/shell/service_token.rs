//! Kibana's service account token (`kibana.es_auth: service-token`): the account it belongs
//! to, reading the token kibana.keystore holds, and asking Elasticsearch whether it
//! authenticates (`GET /_security/_authenticate` with `Authorization: Bearer <token>`).
//!
//! It must not print, log or write a token value (the executor stores it, journaled, in
//! kibana.keystore only), and it never changes anything itself.

use std::path::Path;

use zeroize::Zeroizing;

use crate::domain::facts::TokenCheck;
use crate::domain::planner::TOKEN_ENTRY;
use crate::shell::es_client::{EsClient, EsError};
use crate::shell::keystore::kibana::KibanaKeystore;

/// The service account Kibana uses: `elastic/kibana`.
pub const NAMESPACE: &str = "elastic";
pub const SERVICE: &str = "kibana";
/// `GET /_security/_authenticate`'s `username` for a token of that account.
pub const PRINCIPAL: &str = "elastic/kibana";

/// The token in kibana.keystore at `path` (`None`: no keystore, or no such entry). A
/// keystore es-secure cannot decrypt is an error.
pub fn keystore_token(path: &Path) -> anyhow::Result<Option<Zeroizing<String>>> {
    let text = match crate::shell::safe_fs::read_file_text(path, crate::shell::safe_fs::CONFIG_CAP)
    {
        Ok(t) => Zeroizing::new(t),
        Err(e) if crate::shell::safe_fs::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let ks =
        KibanaKeystore::parse(&text, "").map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(ks
        .get(TOKEN_ENTRY)
        .filter(|t| !t.is_empty())
        .map(|t| Zeroizing::new(t.to_string())))
}

/// Whether `token` authenticates as `elastic/kibana` on the node `client` talks to (its own
/// credentials are not used). `Ok(false)` when Elasticsearch refuses it or it belongs to
/// another account; an error when there was no answer.
pub fn authenticates(client: &EsClient, token: &Zeroizing<String>) -> Result<bool, EsError> {
    match client.with_bearer(token.clone()).authenticate() {
        Ok(info) => Ok(info.username == PRINCIPAL),
        Err(EsError::Unauthorized { .. } | EsError::Forbidden { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Detection's look at the token in the kibana.keystore at `keystore`, on the node at `url`
/// (trusting `ca_pem` for https).
pub fn check_keystore(keystore: &Path, url: &str, ca_pem: Option<&str>) -> TokenCheck {
    let token = match keystore_token(keystore) {
        Ok(Some(t)) => t,
        Ok(None) => return TokenCheck::Absent,
        Err(_) => return TokenCheck::Unknown,
    };
    let Ok(client) =
        crate::shell::verify::trust_for(url, ca_pem).and_then(|trust| EsClient::new(url, trust))
    else {
        return TokenCheck::Unknown;
    };
    match authenticates(&client, &token) {
        Ok(true) => TokenCheck::Authenticates,
        Ok(false) => TokenCheck::Rejected,
        Err(_) => TokenCheck::Unknown,
    }
}
