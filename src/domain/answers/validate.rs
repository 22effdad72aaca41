//! Raw answers to typed [`Answers`]: defaults applied, every value checked that can be
//! checked without looking at the machine, every problem reported with its key and line. It
//! must not read the environment or files (a secret reference is resolved by the shell).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_saphyr::Spanned;

use crate::domain::tier::Tier;

use super::raw::KNOWN_AUDIT_EVENTS;
use super::{
    AnswerError, Answers, AuditAnswers, AuthMethod, AuthMethodKind, CaKeyword, CaSource,
    CertAnswers, DEFAULT_AUDIT_EVENTS, DEFAULT_KIBANA_IDLE_TIMEOUT, DEFAULT_KIBANA_LIFESPAN,
    EsAnswers, Hardening, IpFilterAnswers, KibanaAnswers, KibanaEsAuth, KibanaSession, Node,
    NodeCerts, PasswordAnswers, RawAnswers, RawCaSource, RawHardening, RawPasswords, Restart,
    RestartMode, SecretRef,
};

fn err(key: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> AnswerError {
    AnswerError {
        key: key.into(),
        line,
        message: message.into(),
    }
}

fn line_of<T>(s: &Spanned<T>) -> Option<usize> {
    let line = s.referenced.line();
    (line > 0).then_some(line as usize)
}

/// Whether `name` is a valid DNS name for a certificate SAN (RFC 1123 labels; a leading `*.`
/// wildcard label is refused because Elasticsearch's `verification_mode: full` does not need
/// it and it widens what a stolen key can impersonate).
pub fn valid_dns_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// Whether `name` is a valid node name (what `node.name` and file names will use).
pub fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
}

fn parse_url(key: &str, url: &str) -> Result<String, AnswerError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Err(err(
            key,
            None,
            format!("`{url}` is not an http:// or https:// URL"),
        ));
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains('@') {
        return Err(err(
            key,
            None,
            "the URL needs a host and must not carry credentials (use the passwords section)",
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

impl Answers {
    /// Turn raw answers into typed ones, checking everything that can be checked without
    /// looking at the machine. Returns every problem found, not just the first.
    pub fn from_raw(raw: &RawAnswers) -> Result<Self, Vec<AnswerError>> {
        let mut errors = Vec::new();
        if raw.version != 1 {
            errors.push(err(
                "version",
                None,
                format!(
                    "unsupported answers version {}; this es-secure reads version 1",
                    raw.version
                ),
            ));
        }
        if raw.tier == Tier::None {
            errors.push(err(
                "tier",
                None,
                "`none` is not a target; choose minimal, basic or https (es-secure never turns security off)",
            ));
        }

        let nodes = parse_nodes(raw, &mut errors);
        let this_node = match &raw.this_node {
            Some(name) => match nodes.iter().position(|n| &n.name == name) {
                Some(i) => Some(i),
                None => {
                    let known: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
                    errors.push(err(
                        "this_node",
                        None,
                        format!(
                            "`{name}` is not one of the nodes ({}); add it to `nodes` or fix the name",
                            known.join(", ")
                        ),
                    ));
                    None
                }
            },
            None if nodes.len() == 1 => Some(0),
            None if nodes.is_empty() => None,
            None => {
                errors.push(err(
                    "this_node",
                    None,
                    "several nodes are listed: say which one is on this host",
                ));
                None
            }
        };
        if raw.tier >= Tier::Basic && nodes.is_empty() {
            errors.push(err(
                "nodes",
                None,
                "the basic and https tiers issue a certificate per node: list every node with its DNS names and IPs",
            ));
        }

        let ca = match &raw.certificates.ca {
            RawCaSource::Keyword(CaKeyword::Generate) => CaSource::Generate,
            RawCaSource::Keyword(CaKeyword::Existing) => CaSource::Existing,
            RawCaSource::Files { cert, key } => {
                for (k, p) in [("certificates.ca.cert", cert), ("certificates.ca.key", key)] {
                    if !p.is_absolute() {
                        errors.push(err(k, None, "needs an absolute path"));
                    }
                }
                CaSource::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                }
            }
        };
        let validity_days = raw.certificates.validity_days;
        if !(1..=3650).contains(&validity_days) {
            errors.push(err(
                "certificates.validity_days",
                None,
                format!("{validity_days} is out of range; use 1 to 3650 days"),
            ));
        }
        let node_certs = raw.certificates.node_certs.as_ref().map(|nc| {
            // The chain check needs the CA certificate, and the CA must be the one that
            // signed them: only the operator's own CA files can be.
            if !matches!(ca, CaSource::Files { .. }) {
                errors.push(err(
                    "certificates.node_certs",
                    None,
                    "own node certificates need the CA that signed them: set `certificates.ca: {cert: /abs/ca.crt, key: /abs/ca.key}`",
                ));
            }
            if raw.tier < Tier::Basic {
                errors.push(err(
                    "certificates.node_certs",
                    None,
                    "the minimal tier uses no certificates; choose tier basic or https",
                ));
            }
            if nc.http.is_some() && raw.tier != Tier::Https {
                errors.push(err(
                    "certificates.node_certs.http",
                    None,
                    "only the https tier uses an HTTP certificate; remove it or choose tier https",
                ));
            }
            let mut pairs = vec![("transport", &nc.transport)];
            pairs.extend(nc.http.as_ref().map(|h| ("http", h)));
            for (name, pair) in pairs {
                for (field, path) in [("cert", &pair.cert), ("key", &pair.key)] {
                    if !path.is_absolute() {
                        errors.push(err(
                            format!("certificates.node_certs.{name}.{field}"),
                            None,
                            "needs an absolute path",
                        ));
                    }
                }
            }
            NodeCerts {
                transport: nc.transport.clone(),
                http: nc.http.clone(),
            }
        });

        let url = match &raw.elasticsearch.url {
            Some(u) => match parse_url("elasticsearch.url", u) {
                Ok(u) => {
                    if raw.tier == Tier::Https && u.starts_with("http://") {
                        errors.push(err(
                            "elasticsearch.url",
                            None,
                            "the https tier serves HTTPS: use an https:// URL",
                        ));
                    }
                    if raw.tier < Tier::Https && u.starts_with("https://") {
                        errors.push(err(
                            "elasticsearch.url",
                            None,
                            "only the https tier turns on HTTPS: use an http:// URL or choose tier https",
                        ));
                    }
                    Some(u)
                }
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            None => None,
        };
        let restart = match (
            raw.elasticsearch.restart,
            &raw.elasticsearch.restart_command,
        ) {
            (Some(RestartMode::Command), Some(cmd)) if !cmd.trim().is_empty() => {
                Restart::Command(cmd.clone())
            }
            (Some(RestartMode::Command), _) => {
                errors.push(err(
                    "elasticsearch.restart_command",
                    None,
                    "`restart: command` needs the command that restarts this node",
                ));
                Restart::Manual
            }
            (_, Some(_)) => {
                errors.push(err(
                    "elasticsearch.restart_command",
                    None,
                    "only used with `restart: command`",
                ));
                Restart::Manual
            }
            (Some(RestartMode::Systemd), None) => Restart::Systemd,
            (Some(RestartMode::Manual) | None, None) => Restart::Manual,
        };
        if let Some(user) = &raw.elasticsearch.service_user
            && (user == "root" || user.is_empty())
        {
            errors.push(err(
                "elasticsearch.service_user",
                None,
                "Elasticsearch must run as a dedicated unprivileged user, never root",
            ));
        }

        let kibana = raw.kibana.as_ref().map(|k| {
            let public_url = k.public_url.as_ref().and_then(|u| {
                parse_url("kibana.public_url", u)
                    .map_err(|e| errors.push(e))
                    .ok()
            });
            let server_https = raw.tier == Tier::Https
                && public_url
                    .as_deref()
                    .is_none_or(|u| u.starts_with("https://"));
            for d in &k.dns {
                if !valid_dns_name(d) {
                    errors.push(err(
                        "kibana.dns",
                        None,
                        format!("`{d}` is not a valid DNS name"),
                    ));
                }
            }
            let mut dns = k.dns.clone();
            if dns.is_empty()
                && let Some(host) = public_url.as_deref().and_then(url_host)
                && host.parse::<IpAddr>().is_err()
            {
                dns.push(host);
            }
            // Browsers check the URL's host against the certificate's SANs: an IP address in
            // the public URL must be an IP SAN (a DNS SAN does not match it).
            let mut ip = k.ip.clone();
            if let Some(addr) = public_url
                .as_deref()
                .and_then(url_host)
                .and_then(|h| h.parse::<IpAddr>().ok())
                && !ip.contains(&addr)
            {
                ip.push(addr);
            }
            let es_auth = match k.es_auth.as_ref().map(|s| (s.value.trim(), s)) {
                None | Some(("password", _)) => KibanaEsAuth::Password,
                Some(("service-token", s)) => {
                    if raw.tier == Tier::None {
                        errors.push(err(
                            "kibana.es_auth",
                            line_of(s),
                            "`service-token` needs Elasticsearch's security (tier minimal or above): service accounts do not exist at tier none",
                        ));
                    }
                    KibanaEsAuth::ServiceToken
                }
                Some((other, s)) => {
                    errors.push(err(
                        "kibana.es_auth",
                        line_of(s),
                        format!("`{other}` is not a way for Kibana to log in: use `password` (kibana_system's password in kibana.keystore) or `service-token` (a token of the service account elastic/kibana in kibana.keystore)"),
                    ));
                    KibanaEsAuth::Password
                }
            };
            KibanaAnswers {
                config_dir: k.config_dir.clone(),
                public_url,
                server_https,
                dns,
                ip,
                es_auth,
            }
        });

        let passwords = parse_passwords(&raw.passwords, &mut errors);
        let auth = match raw.auth.method {
            AuthMethodKind::TemporarySuperuser => AuthMethod::TemporarySuperuser,
            AuthMethodKind::BootstrapPassword => AuthMethod::BootstrapPassword,
            AuthMethodKind::ElasticPassword => match &raw.auth.elastic_password {
                Some(s) => match SecretRef::parse("auth.elastic_password", &s.value) {
                    Ok(r @ (SecretRef::Env(_) | SecretRef::File(_))) => {
                        AuthMethod::ElasticPassword(r)
                    }
                    Ok(_) => {
                        errors.push(err(
                            "auth.elastic_password",
                            line_of(s),
                            "must be env:NAME or file:/PATH holding the current elastic password",
                        ));
                        AuthMethod::TemporarySuperuser
                    }
                    Err(m) => {
                        errors.push(err("auth.elastic_password", line_of(s), m));
                        AuthMethod::TemporarySuperuser
                    }
                },
                None => {
                    errors.push(err(
                        "auth.elastic_password",
                        None,
                        "`method: elastic-password` needs `elastic_password: env:NAME` or `file:/PATH`",
                    ));
                    AuthMethod::TemporarySuperuser
                }
            },
        };
        if raw.auth.method != AuthMethodKind::ElasticPassword && raw.auth.elastic_password.is_some()
        {
            errors.push(err(
                "auth.elastic_password",
                raw.auth.elastic_password.as_ref().and_then(line_of),
                "only used with `method: elastic-password`",
            ));
        }

        // bootstrap.password is written on the first run and used on the next; with a manual
        // restart those are two runs, and a generated password exists only in the first one's
        // memory: the second run would generate another and fail to authenticate.
        if auth == AuthMethod::BootstrapPassword
            && restart == Restart::Manual
            && passwords
                .users
                .iter()
                .any(|(u, s)| u == "elastic" && *s == SecretRef::Generate)
        {
            errors.push(err(
                "passwords.elastic",
                raw.passwords.elastic.as_ref().and_then(line_of),
                "`auth.method: bootstrap-password` with `elasticsearch.restart: manual` (the default) cannot use a generated elastic password: the restart happens between two runs, and the second run cannot know the password the first one put in bootstrap.password\nhelp: set `passwords.elastic: env:NAME` or `file:/PATH` (the same value on both runs), or `elasticsearch.restart: systemd` or `command`",
            ));
        }

        let hardening = raw
            .hardening
            .as_ref()
            .map(|h| parse_hardening(h, &mut errors))
            .unwrap_or_default();

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            tier: raw.tier,
            es: EsAnswers {
                config_dir: raw.elasticsearch.config_dir.clone(),
                home: raw.elasticsearch.home.clone(),
                url,
                service_user: raw.elasticsearch.service_user.clone(),
                restart,
                verification: raw.elasticsearch.transport_verification.unwrap_or_default(),
                health_timeout_secs: raw.elasticsearch.health_timeout_secs.unwrap_or(180),
                allow_cleartext_rest: raw.elasticsearch.allow_cleartext_rest,
                allow_partial_cluster: raw.elasticsearch.allow_partial_cluster,
                restart_timeout_secs: raw.elasticsearch.restart_timeout_secs.unwrap_or(300),
            },
            nodes,
            this_node,
            certs: CertAnswers {
                ca,
                key_type: raw.certificates.key_type,
                validity_days,
                node_certs,
            },
            kibana,
            passwords,
            auth,
            hardening,
        })
    }
}

fn parse_hardening(raw: &RawHardening, errors: &mut Vec<AnswerError>) -> Hardening {
    let audit = raw.audit.as_ref().map(|a| {
        let events = match &a.events {
            None => DEFAULT_AUDIT_EVENTS.iter().map(|e| e.to_string()).collect(),
            Some(list) => {
                if list.is_empty() {
                    errors.push(err(
                        "hardening.audit.events",
                        None,
                        "an empty event list records nothing; leave the key out for the default selection",
                    ));
                }
                for e in list {
                    if !KNOWN_AUDIT_EVENTS.contains(&e.as_str()) {
                        errors.push(err(
                            "hardening.audit.events",
                            None,
                            format!(
                                "`{e}` is not an audit event type; use one of {}",
                                KNOWN_AUDIT_EVENTS.join(", ")
                            ),
                        ));
                    }
                }
                list.clone()
            }
        };
        AuditAnswers {
            enabled: a.enabled,
            events,
        }
    });
    let tls_protocols = raw.tls_protocols.clone().unwrap_or_default();
    if raw.tls_protocols.as_ref().is_some_and(Vec::is_empty) {
        errors.push(err(
            "hardening.tls_protocols",
            None,
            "an empty list would turn TLS off; use [TLSv1.3, TLSv1.2] or leave the key out",
        ));
    }
    for p in &tls_protocols {
        match p.as_str() {
            "TLSv1.3" | "TLSv1.2" => {}
            "SSLv2Hello" | "SSLv3" | "TLSv1" | "TLSv1.1" => errors.push(err(
                "hardening.tls_protocols",
                None,
                format!(
                    "`{p}` is obsolete (broken, and disabled in the JDK Elasticsearch bundles, which silently ignores it); use TLSv1.3 and TLSv1.2"
                ),
            )),
            _ => errors.push(err(
                "hardening.tls_protocols",
                None,
                format!("`{p}` is not a TLS version; use TLSv1.3 and/or TLSv1.2"),
            )),
        }
    }
    let tls_cipher_suites = raw.tls_cipher_suites.clone().unwrap_or_default();
    if let Some(message) = cipher_suites_problem(raw.tls_cipher_suites.as_deref(), &tls_protocols) {
        errors.push(err("hardening.tls_cipher_suites", None, message));
    }
    let kibana_session = raw.kibana_session.as_ref().map(|k| {
        let mut one = |key: &str, value: &Option<String>, default: &str| {
            let v = value.clone().unwrap_or_else(|| default.to_string());
            if !valid_kibana_duration(&v) {
                errors.push(err(
                    format!("hardening.kibana_session.{key}"),
                    None,
                    format!("`{v}` is not a Kibana duration: a count and a unit (ms, s, m, h, d, w, M, Y), e.g. 1h, or 0 for never"),
                ));
            }
            v
        };
        KibanaSession {
            idle_timeout: one("idle_timeout", &k.idle_timeout, DEFAULT_KIBANA_IDLE_TIMEOUT),
            lifespan: one("lifespan", &k.lifespan, DEFAULT_KIBANA_LIFESPAN),
        }
    });
    let ip_filter = raw.ip_filter.as_ref().map(|f| {
        let lists = [
            ("transport_allow", f.transport_allow.as_deref().unwrap_or_default()),
            ("http_allow", &f.http_allow[..]),
            ("http_deny", &f.http_deny[..]),
        ];
        for (key, list) in lists {
            for entry in list {
                if !valid_filter_entry(entry) {
                    errors.push(err(
                        format!("hardening.ip_filter.{key}"),
                        None,
                        format!("`{entry}` is not an IP address, CIDR range (10.0.0.0/8), host name or `_all`"),
                    ));
                }
            }
        }
        if f.transport_allow.as_ref().is_some_and(Vec::is_empty) {
            errors.push(err(
                "hardening.ip_filter.transport_allow",
                None,
                "an empty list would cut the nodes off from each other; leave the key out to allow every node in `nodes`",
            ));
        }
        let http_deny = if f.http_deny.is_empty() && !f.http_allow.is_empty() {
            vec!["_all".to_string()]
        } else {
            f.http_deny.clone()
        };
        IpFilterAnswers {
            transport_allow: f.transport_allow.clone(),
            http_allow: f.http_allow.clone(),
            http_deny,
        }
    });
    Hardening {
        audit,
        tls_protocols,
        tls_cipher_suites,
        kibana_session,
        ip_filter,
    }
}

/// What is wrong with `hardening.tls_cipher_suites` (`None`: nothing, or not given), given
/// the TLS versions asked for (empty: Elasticsearch's effective default, 1.3 and 1.2).
/// Names are JSSE's (IANA's), which Elasticsearch passes to the JDK; a suite the JDK does not
/// know is dropped with only a log line, and a list with no suite for any enabled version
/// leaves a node that accepts no TLS at all — so both are refused here.
fn cipher_suites_problem(suites: Option<&[String]>, protocols: &[String]) -> Option<String> {
    let suites = suites?;
    if suites.is_empty() {
        return Some(
            "an empty list would leave no cipher suite; list the suites to allow or leave the key out".to_string(),
        );
    }
    // Broken, not merely old: CBC suites stay allowed (the JDK's own default list has them).
    const WEAK: [&str; 7] = [
        "_NULL_", "_anon_", "_EXPORT", "_RC4_", "_DES_", "_3DES_", "_MD5",
    ];
    for s in suites {
        let well_formed = s.starts_with("TLS_")
            && s.len() > 4
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            return Some(format!(
                "`{s}` is not a cipher suite name in Java's (IANA) form, e.g. TLS_AES_256_GCM_SHA384 or TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 (OpenSSL names such as ECDHE-ECDSA-AES256-GCM-SHA384 are Kibana's form, not Elasticsearch's)"
            ));
        }
        if let Some(w) = WEAK.iter().find(|w| s.contains(*w)) {
            return Some(format!(
                "`{s}` is a weak suite ({}); hardening must not add it — use ECDHE suites with AES-GCM or ChaCha20",
                w.trim_matches('_')
            ));
        }
    }
    let tls13 = |s: &String| s.starts_with("TLS_AES_") || s.starts_with("TLS_CHACHA20_");
    let wants = |v: &str| protocols.is_empty() || protocols.iter().any(|p| p == v);
    let usable = (wants("TLSv1.3") && suites.iter().any(tls13))
        || (wants("TLSv1.2") && suites.iter().any(|s| !tls13(s)));
    (!usable).then(|| {
        "no suite in the list works with the TLS versions asked for (TLS 1.3 suites are TLS_AES_* and TLS_CHACHA20_*; the others are TLS 1.2 suites): the nodes would accept no connection".to_string()
    })
}

/// Kibana's duration form: `0`, or digits followed by one of its units.
fn valid_kibana_duration(text: &str) -> bool {
    if text == "0" {
        return true;
    }
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && ["ms", "s", "m", "h", "d", "w", "M", "Y"].contains(&&text[digits..])
}

/// An IP filter entry Elasticsearch accepts: `_all`, an address, a CIDR range, or a host name
/// (optionally with a leading `*.` wildcard).
pub fn valid_filter_entry(entry: &str) -> bool {
    if entry == "_all" || entry.parse::<IpAddr>().is_ok() || parse_cidr(entry).is_some() {
        return true;
    }
    let name = entry.strip_prefix("*.").unwrap_or(entry);
    valid_dns_name(name) && name.parse::<IpAddr>().is_err()
}

/// `addr/prefix`, with the prefix in range for the address family.
pub fn parse_cidr(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = entry.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}

/// Whether an IP filter entry certainly matches `ip` (`_all`, the address, a range holding
/// it). Host names never count: which addresses they resolve to is not known here.
pub fn filter_entry_matches(entry: &str, ip: IpAddr) -> bool {
    if entry == "_all" {
        return true;
    }
    if let Ok(a) = entry.parse::<IpAddr>() {
        return a == ip;
    }
    match (parse_cidr(entry), ip) {
        (Some((IpAddr::V4(net), p)), IpAddr::V4(ip)) => {
            let mask = if p == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(p))
            };
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (Some((IpAddr::V6(net), p)), IpAddr::V6(ip)) => {
            let mask = if p == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(p))
            };
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// The host part of an http(s) URL (without port or brackets).
pub fn url_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split('/').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().map(str::to_string);
    }
    authority.split(':').next().map(str::to_string)
}

fn parse_nodes(raw: &RawAnswers, errors: &mut Vec<AnswerError>) -> Vec<Node> {
    let mut seen = BTreeSet::new();
    let mut nodes = Vec::new();
    for (i, n) in raw.nodes.iter().enumerate() {
        let key = format!("nodes[{i}]");
        let name = n.name.value.trim().to_string();
        if !valid_node_name(&name) {
            errors.push(err(
                format!("{key}.name"),
                line_of(&n.name),
                format!("`{name}` is not a valid node name (letters, digits, `-`, `_`, `.`)"),
            ));
        } else if !seen.insert(name.clone()) {
            errors.push(err(
                format!("{key}.name"),
                line_of(&n.name),
                format!("node `{name}` is listed twice; node names must be unique"),
            ));
        }
        let mut dns = Vec::new();
        for d in &n.dns {
            if valid_dns_name(&d.value) {
                dns.push(d.value.to_ascii_lowercase());
            } else {
                errors.push(err(
                    format!("{key}.dns"),
                    line_of(d),
                    format!("`{}` is not a valid DNS name", d.value),
                ));
            }
        }
        if raw.tier >= Tier::Basic && n.dns.is_empty() && n.ip.is_empty() {
            errors.push(err(
                key.clone(),
                line_of(&n.name),
                format!("node `{name}` needs at least one DNS name or IP for its certificate"),
            ));
        }
        nodes.push(Node {
            name,
            dns,
            ip: n.ip.clone(),
        });
    }
    nodes
}

fn parse_passwords(raw: &RawPasswords, errors: &mut Vec<AnswerError>) -> PasswordAnswers {
    let fields: [(&str, &Option<Spanned<String>>); 6] = [
        ("kibana_system", &raw.kibana_system),
        ("logstash_system", &raw.logstash_system),
        ("beats_system", &raw.beats_system),
        ("apm_system", &raw.apm_system),
        ("remote_monitoring_user", &raw.remote_monitoring_user),
        ("elastic", &raw.elastic),
    ];
    let mut users = Vec::new();
    for (user, value) in fields {
        let key = format!("passwords.{user}");
        let secret = match value {
            None => SecretRef::Generate,
            Some(s) => match SecretRef::parse(&key, &s.value) {
                Ok(r) => r,
                Err(m) => {
                    errors.push(err(key, line_of(s), m));
                    continue;
                }
            },
        };
        users.push((user.to_string(), secret));
    }
    if let Some(p) = &raw.output_file
        && !p.is_absolute()
    {
        errors.push(err("passwords.output_file", None, "needs an absolute path"));
    }
    PasswordAnswers {
        users,
        output_file: raw.output_file.clone(),
        show: raw.show,
        rotate: raw.rotate,
    }
}

#[cfg(test)]
mod tests;
