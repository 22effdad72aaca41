//! `status`'s look at the cluster's license: one read-only `GET _license`, with credentials
//! es-secure already has — none while security is off, else the `elastic` password from
//! `--answers` (`auth.method: elastic-password`) or from the passwords file an apply wrote.
//! It must not write anything, create a user or take the lock, and a node it cannot ask is
//! "unknown (why)", never an error. A password goes only to the node, never to the output.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::domain::answers::{Answers, AuthMethod};
use crate::domain::facts::Facts;
use crate::domain::posture::LicenseSeen;
use crate::domain::tier::Tier;
use crate::shell::es_client::{Credentials, EsClient, EsError};

/// A node that is up answers at once; `status` must not hang on one that is down.
const CONNECT: Duration = Duration::from_secs(2);
const REQUEST: Duration = Duration::from_secs(5);

/// The license of the cluster this host's node belongs to, as far as `status` can tell.
pub fn read(facts: &Facts, answers: Option<&Answers>) -> LicenseSeen {
    let url = crate::domain::planner::es_url_current(facts, answers);
    if crate::shell::sandbox::refuse_foreign_for(facts, &url).is_err() {
        return LicenseSeen::unknown("not asked: the sandbox talks only to its own node");
    }
    let ca_pem = facts.ca.as_ref().map(|c| c.cert_pem.as_str());
    if url.starts_with("https://") && ca_pem.is_none() {
        return LicenseSeen::unknown(
            "not asked: no es-secure CA on this host to check the node's certificate",
        );
    }
    let client = match crate::shell::verify::trust_for(&url, ca_pem)
        .and_then(|trust| EsClient::with_timeouts(&url, trust, CONNECT, REQUEST))
    {
        Ok(c) => c,
        Err(e) => return LicenseSeen::unknown(format!("not asked: {e:#}")),
    };
    let client = if facts.es.tier.tier == Tier::None {
        // Security is off: the license is readable without credentials.
        client
    } else {
        match elastic_password(facts, answers) {
            Some(password) => client.with_credentials(Credentials {
                username: "elastic".to_string(),
                password,
            }),
            None => {
                return LicenseSeen::unknown(
                    "no credentials: security is on, and neither `--answers` with `auth.method: elastic-password` nor a passwords file es-secure wrote gives the elastic password",
                );
            }
        }
    };
    match client.license() {
        Ok(l) => LicenseSeen::known(l.kind, l.status),
        Err(EsError::Unreachable { .. }) => LicenseSeen::unknown("node not reachable"),
        Err(EsError::Unauthorized { .. }) => {
            LicenseSeen::unknown("the elastic password es-secure has was not accepted (HTTP 401)")
        }
        Err(e) => LicenseSeen::unknown(e.short()),
    }
}

/// The `elastic` password: the answers' reference when they say to log in with it, else the
/// passwords file (the answers' `passwords.output_file`, or the state directory's).
fn elastic_password(facts: &Facts, answers: Option<&Answers>) -> Option<Zeroizing<String>> {
    if let Some(AuthMethod::ElasticPassword(r)) = answers.map(|a| &a.auth) {
        return crate::shell::secrets::resolve("auth.elastic_password", r).ok();
    }
    crate::shell::secrets::read_passwords_file(answers, &facts.state.state_dir)
        .into_iter()
        .find_map(|(user, pw)| (user == "elastic").then_some(pw))
}
