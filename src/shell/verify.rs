//! Live verification of a node, shared by `apply` (at the end) and `es-secure verify`: the
//! HTTPS handshake against our CA with hostname checking, an anonymous request refused with
//! 401, each user authenticating, cluster health, the certificates the node reports and (with
//! `kibana.es_auth: service-token`) Kibana's token from kibana.keystore.
//! Read-only towards Elasticsearch except for the temporary superuser `verify` may create.

use anyhow::Context;
use zeroize::Zeroizing;

use crate::domain::answers::{Answers, AuthMethod, KibanaEsAuth, SecretRef};
use crate::domain::facts::Facts;
use crate::domain::planner::{self, files};
use crate::domain::tier::Tier;
use crate::shell::es_client::{Credentials, EsClient, Trust};
use crate::shell::signals::Interrupts;
use crate::shell::temp_admin::TempAdmin;
use crate::shell::txn::StateDir;

/// `verify` was interrupted; the temporary superuser (if any) was removed, nothing else
/// had changed.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted; the checks were stopped and the temporary superuser removed (nothing else was changed)"
)]
pub struct Interrupted;

/// One row: check name, passed, detail.
pub type Row = (String, bool, String);

/// Run the checks against `url`. `admin` authenticates health and certificate queries;
/// `users` are checked each with their password. After the anonymous request (which also
/// proves the handshake), the users' authentications and the admin queries are independent
/// and run concurrently (each first authentication after a password change is a bcrypt check
/// on the node); the rows keep their order.
pub fn checks(
    url: &str,
    trust: &Trust,
    admin: Option<Credentials>,
    users: &[(String, Zeroizing<String>)],
    tier: Tier,
) -> Vec<Row> {
    match EsClient::new(url, trust.clone()) {
        Ok(client) => checks_with(&client, admin, users, tier),
        Err(e) => vec![("client".to_string(), false, format!("{e:#}"))],
    }
}

/// [`checks`] with an existing client (its credentials are not used): `apply` passes the
/// client of its REST phase, whose connections are open already.
pub fn checks_with(
    client: &EsClient,
    admin: Option<Credentials>,
    users: &[(String, Zeroizing<String>)],
    tier: Tier,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let url = client.base_url().trim_end_matches('/').to_string();
    match client.status_anonymous() {
        Ok(status) => {
            if url.starts_with("https://") {
                rows.push((
                    "HTTPS handshake (our CA, hostname checked)".to_string(),
                    true,
                    url.clone(),
                ));
            }
            rows.push((
                "anonymous request refused".to_string(),
                status == 401,
                format!("HTTP {status}"),
            ));
        }
        Err(e) => {
            rows.push(("connect".to_string(), false, e.to_string()));
            return rows;
        }
    }
    let (user_rows, admin_rows) = std::thread::scope(|scope| {
        let user_handles: Vec<_> = users
            .iter()
            .map(|(user, pw)| {
                let handle = scope.spawn(move || user_row(client, user, pw));
                (user, handle)
            })
            .collect();
        let admin_handle = admin.map(|admin| scope.spawn(move || admin_rows(client, admin, tier)));
        let user_rows: Vec<Row> = user_handles
            .into_iter()
            .map(|(user, h)| {
                h.join().unwrap_or_else(|_| {
                    (
                        format!("{user} authenticates"),
                        false,
                        "the check's thread panicked".to_string(),
                    )
                })
            })
            .collect();
        let admin_rows = admin_handle.map_or_else(Vec::new, |h| {
            h.join().unwrap_or_else(|_| {
                vec![(
                    "cluster health".to_string(),
                    false,
                    "the check's thread panicked".to_string(),
                )]
            })
        });
        (user_rows, admin_rows)
    });
    rows.extend(user_rows);
    rows.extend(admin_rows);
    rows
}

/// `user` authenticates with `pw`.
fn user_row(client: &EsClient, user: &str, pw: &Zeroizing<String>) -> Row {
    let result = client
        .with_credentials(Credentials {
            username: user.to_string(),
            password: pw.clone(),
        })
        .authenticate();
    match result {
        Ok(info) => (
            format!("{user} authenticates"),
            true,
            format!("as {}", info.username),
        ),
        Err(e) => (format!("{user} authenticates"), false, e.to_string()),
    }
}

/// Cluster health and (transport tier and up) the certificates the node uses, as `admin`.
fn admin_rows(client: &EsClient, admin: Credentials, tier: Tier) -> Vec<Row> {
    let mut rows = Vec::new();
    let c = client.with_credentials(admin);
    match c.health() {
        Ok(h) => rows.push((
            "cluster health".to_string(),
            h.status != "red",
            format!("{} ({} nodes)", h.status, h.number_of_nodes),
        )),
        Err(e) => rows.push(("cluster health".to_string(), false, e.to_string())),
    }
    if tier >= Tier::Basic {
        match c.ssl_certificates() {
            Ok(certs) => {
                let ours = certs.iter().any(|c| {
                    c.path.ends_with(files::TRANSPORT_CERT) || c.path.ends_with(files::HTTP_CERT)
                });
                rows.push((
                    "node uses es-secure certificates".to_string(),
                    ours,
                    format!(
                        "{} certificates reported by /_ssl/certificates",
                        certs.len()
                    ),
                ));
            }
            Err(e) => rows.push((
                "node uses es-secure certificates".to_string(),
                false,
                e.to_string(),
            )),
        }
    }
    rows
}

/// With `kibana.es_auth: service-token`, one row: whether the token kibana.keystore holds
/// authenticates as `elastic/kibana` on the node `client` talks to — what Kibana itself will
/// send. `None` when the answers do not use a token (or configure no Kibana). The token is
/// read, sent once in an `Authorization` header and dropped; never shown.
pub fn kibana_token_row(facts: &Facts, answers: &Answers, client: &EsClient) -> Option<Row> {
    let kibana = answers.kibana.as_ref()?;
    if kibana.es_auth != KibanaEsAuth::ServiceToken {
        return None;
    }
    let name = format!(
        "Kibana's service token authenticates as {}",
        crate::shell::service_token::PRINCIPAL
    );
    let keystore = facts.kibana.as_ref().map_or_else(
        || kibana.config_dir.join("kibana.keystore"),
        |k| k.keystore.path.clone(),
    );
    let token = match crate::shell::service_token::keystore_token(&keystore) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Some((
                name,
                false,
                format!(
                    "{} has no elasticsearch.serviceAccountToken",
                    keystore.display()
                ),
            ));
        }
        Err(e) => return Some((name, false, format!("{e:#}"))),
    };
    let result =
        crate::shell::service_token::authenticates(client, &token).map_err(|e| e.to_string());
    Some(match result {
        Ok(true) => (name, true, format!("token in {}", keystore.display())),
        Ok(false) => (
            name,
            false,
            format!(
                "Elasticsearch refused the token in {} (deleted, or another account's): re-run `es-secure apply` to create a new one",
                keystore.display()
            ),
        ),
        Err(e) => (name, false, e),
    })
}

/// Trust for a URL: our CA for https, plain HTTP otherwise.
pub fn trust_for(url: &str, ca_pem: Option<&str>) -> anyhow::Result<Trust> {
    if url.starts_with("https://") {
        let ca = ca_pem.context(
            "the URL is https but es-secure has no CA for it (no CA in the state directory)",
        )?;
        Ok(Trust::Ca {
            ca_pem: ca.to_string(),
            pin_sha256: None,
        })
    } else {
        Ok(Trust::PlainHttp)
    }
}

/// `es-secure verify`: check the node as the answers describe it. Users whose passwords the
/// answers reference (env:/file:) are authenticated; generated ones are read from the
/// password file when it exists. Admin checks use a temporary superuser (or elastic's
/// password with `auth.method: elastic-password`).
///
/// The caller holds the state lock (a [`Session`](crate::shell::recovery::Session)); an
/// interrupt stops the wait for the temporary superuser and the checks, removes the user and
/// returns [`Interrupted`].
pub fn verify(
    facts: &Facts,
    answers: &Answers,
    state: &StateDir,
    interrupts: &Interrupts,
) -> anyhow::Result<Vec<Row>> {
    let url = planner::es_url(facts, answers);
    let trust = trust_for(&url, facts.ca.as_ref().map(|c| c.cert_pem.as_str()))?;
    let generated =
        crate::shell::secrets::read_passwords_file(Some(answers), &facts.state.state_dir);
    let mut users = Vec::new();
    for (user, secret) in &answers.passwords.users {
        let pw = match secret {
            SecretRef::Env(_) | SecretRef::File(_) => {
                crate::shell::secrets::resolve(&format!("passwords.{user}"), secret).ok()
            }
            SecretRef::Generate => generated
                .iter()
                .find(|(u, _)| u == user)
                .map(|(_, p)| p.clone()),
            SecretRef::Keep => None,
        };
        if let Some(pw) = pw {
            users.push((user.clone(), pw));
        }
    }
    let mut temp = None;
    let admin = match &answers.auth {
        AuthMethod::ElasticPassword(r) => Some(Credentials {
            username: "elastic".to_string(),
            password: crate::shell::secrets::resolve("auth.elastic_password", r)?,
        }),
        _ => match users.iter().find(|(u, _)| u == "elastic") {
            Some((_, pw)) => Some(Credentials {
                username: "elastic".to_string(),
                password: pw.clone(),
            }),
            None => {
                // Journaled before its first byte, so even a SIGKILL here is undone by the
                // next run; removed at the end.
                let t =
                    TempAdmin::create(state, &facts.es.config_dir, "verify: temporary superuser")?;
                let c = t.credentials();
                temp = Some(t);
                // The file realm reloads every 5 s: wait until the new user authenticates
                // (or give up; the checks below then report the 401 in words).
                if let Ok(client) = EsClient::new(&url, trust.clone()) {
                    let _ = client
                        .with_credentials(c.clone())
                        .with_interrupts(interrupts.clone())
                        .authenticate_retrying(std::time::Duration::from_secs(30));
                }
                Some(c)
            }
        },
    };
    let rows = if interrupts.requested() {
        Vec::new()
    } else {
        let mut rows = checks(&url, &trust, admin, &users, answers.tier);
        if let Ok(client) = EsClient::new(&url, trust.clone()) {
            rows.extend(kibana_token_row(facts, answers, &client));
        }
        rows
    };
    if let Some(t) = temp {
        t.remove()?;
    }
    if interrupts.requested() {
        return Err(Interrupted.into());
    }
    Ok(rows)
}
