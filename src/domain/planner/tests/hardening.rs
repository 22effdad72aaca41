//! Planner tests: the seed's hardening layers (audit, IP filtering, TLS protocols and ciphers,
//! Kibana sessions) and their restart notes.

use super::*;

const HARDENED: &str = "nodes:\n  - {name: node-1, dns: [localhost], ip: [127.0.0.1]}\nthis_node: node-1\nhardening:\n  audit: {}\n  tls_protocols: [TLSv1.3, TLSv1.2]\n  ip_filter:\n    http_allow: [127.0.0.1]\n";

fn https_answers(extra: &str) -> Answers {
    let text = format!("version: 1\ntier: https\n{extra}");
    Answers::from_raw(&parse_raw(&text).unwrap()).unwrap()
}

fn es_after(plan: &Plan) -> Option<String> {
    plan.steps.iter().find_map(|s| match s {
        Step::EditSettings {
            product: Product::Elasticsearch,
            after,
            ..
        } => Some(after.to_string()),
        _ => None,
    })
}

#[test]
fn hardening_writes_audit_filter_and_protocols_with_restart_notes() {
    let facts = facts_for(LOOPBACK_YML);
    let plan = build_plan(&facts, &https_answers(HARDENED)).unwrap();
    let after = es_after(&plan).unwrap();
    let parsed = settings::parse("e.yml", &after).unwrap().settings;
    let v = |k: &str| parsed.value(k).map(SettingValue::as_plain);
    let list = |k: &str| match parsed.value(k) {
        Some(SettingValue::List(items)) => {
            items.iter().map(SettingValue::as_plain).collect::<Vec<_>>()
        }
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!(v("xpack.security.audit.enabled").as_deref(), Some("true"));
    assert_eq!(
        list("xpack.security.audit.logfile.events.include"),
        crate::domain::answers::DEFAULT_AUDIT_EVENTS.to_vec()
    );
    assert_eq!(
        list("xpack.security.transport.filter.allow"),
        ["127.0.0.1", "localhost"]
    );
    assert_eq!(list("xpack.security.transport.filter.deny"), ["_all"]);
    assert_eq!(list("xpack.security.http.filter.allow"), ["127.0.0.1"]);
    assert_eq!(list("xpack.security.http.filter.deny"), ["_all"]);
    for layer in ["transport", "http"] {
        assert_eq!(
            list(&format!("xpack.security.{layer}.ssl.supported_protocols")),
            ["TLSv1.3", "TLSv1.2"]
        );
    }
    let notes: Vec<&str> = plan.notes.iter().map(|n| n.text.as_str()).collect();
    let audit = notes
        .iter()
        .find(|n| n.starts_with("Audit logging"))
        .unwrap();
    assert!(audit.contains("static on 8.19.3"), "{audit}");
    assert!(audit.contains("elasticsearch_audit.json"), "{audit}");
    assert!(audit.contains("Gold-license"), "{audit}");
    assert!(
        notes.iter().any(|n| n.starts_with("IP filtering:")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("TLS versions for transport and HTTP"))
    );
    assert!(plan.steps.iter().any(|s| matches!(s, Step::Restart { .. })));
}

#[test]
fn audit_is_dynamic_from_9_5_but_still_waits_for_the_restart() {
    let mut facts = facts_for(LOOPBACK_YML);
    facts.es.version = Some(Version {
        major: 9,
        minor: 5,
        patch: 4,
    });
    let plan = build_plan(&facts, &https_answers(HARDENED)).unwrap();
    assert!(
        plan.notes
            .iter()
            .any(|n| n.text.contains("is dynamic on 9.5.4")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn hardening_is_idempotent() {
    let mut facts = facts_for(LOOPBACK_YML);
    let answers = https_answers(HARDENED);
    let after = es_after(&build_plan(&facts, &answers).unwrap()).unwrap();
    facts.es.parsed = settings::parse("/etc/elasticsearch/elasticsearch.yml", &after).unwrap();
    facts.es.yml_text = after;
    let again = build_plan(&facts, &answers).unwrap();
    assert_eq!(es_after(&again), None);
    assert!(!again.notes.iter().any(|n| n.text.starts_with("Audit")));
}

#[test]
fn an_http_allow_list_that_shuts_out_this_host_is_refused() {
    let facts = facts_for(LOOPBACK_YML);
    let extra = HARDENED.replace("http_allow: [127.0.0.1]", "http_allow: [10.0.0.0/8]");
    let e = build_plan(&facts, &https_answers(&extra)).unwrap_err();
    assert!(matches!(e, PlanError::IpFilterLockout { .. }), "{e}");
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
    // A deny list that catches loopback is refused the same way (HTTP then inherits the
    // transport allow list, as Elasticsearch does).
    let extra = HARDENED.replace(
        "http_allow: [127.0.0.1]",
        "transport_allow: [10.0.0.11]\n    http_deny: [127.0.0.0/8]",
    );
    assert!(matches!(
        build_plan(&facts, &https_answers(&extra)),
        Err(PlanError::IpFilterLockout { .. })
    ));
    // The node's own non-loopback address, when es-secure reaches it there.
    let facts = facts_for(&yml("node-2"));
    let extra = "nodes:\n  - {name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}\nthis_node: node-2\nhardening:\n  ip_filter: {http_allow: [10.0.0.11]}\n";
    let e = build_plan(&facts, &https_answers(extra)).unwrap_err();
    assert!(e.to_string().contains("10.0.0.12"), "{e}");
}

#[test]
fn without_http_lists_the_http_layer_is_not_filtered() {
    let facts = facts_for(LOOPBACK_YML);
    let extra = "hardening:\n  ip_filter: {transport_allow: [127.0.0.1]}\n";
    let after = es_after(&build_plan(&facts, &minimal_answers(extra)).unwrap()).unwrap();
    assert!(
        after.contains("xpack.security.http.filter.enabled: false"),
        "{after}"
    );
    assert!(!after.contains("http.filter.allow"), "{after}");
}

#[test]
fn cipher_suites_go_to_transport_and_http_and_not_to_kibana() {
    let facts = facts_for(LOOPBACK_YML);
    let suites = "hardening:\n  tls_cipher_suites: [TLS_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n";
    let plan = build_plan(&facts, &https_answers(&format!("nodes:\n  - {{name: node-1, dns: [localhost], ip: [127.0.0.1]}}\nthis_node: node-1\n{suites}"))).unwrap();
    let after = es_after(&plan).unwrap();
    for key in [
        "xpack.security.transport.ssl.cipher_suites",
        "xpack.security.http.ssl.cipher_suites",
    ] {
        assert!(after.contains(key), "{key} missing:\n{after}");
    }
    assert!(
        after.contains("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
        "{after}"
    );
    assert!(
        plan.notes
            .iter()
            .any(|n| n.text.contains("Cipher suites") && n.text.contains("OpenSSL names")),
        "{:#?}",
        plan.notes
    );
    let plan = build_plan(&facts, &minimal_answers(suites)).unwrap();
    assert!(!es_after(&plan).unwrap().contains("cipher_suites"));
    assert!(
        plan.notes
            .iter()
            .any(|n| n.text.contains("no cipher suites are written"))
    );
}

#[test]
fn minimal_tier_writes_no_protocols_and_says_so() {
    let facts = facts_for(LOOPBACK_YML);
    let plan = build_plan(
        &facts,
        &minimal_answers("hardening:\n  tls_protocols: [TLSv1.3]\n"),
    )
    .unwrap();
    assert!(!es_after(&plan).unwrap().contains("supported_protocols"));
    assert!(plan.notes.iter().any(|n| n.text.contains("no TLS")));
}

#[test]
fn hardening_answers_are_checked() {
    let bad = |extra: &str| {
        let text = format!("version: 1\ntier: minimal\nhardening:\n{extra}");
        Answers::from_raw(&parse_raw(&text).unwrap())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(bad("  tls_protocols: [TLSv1.1]\n").contains("obsolete"));
    assert!(bad("  tls_protocols: []\n").contains("empty list"));
    assert!(bad("  tls_cipher_suites: []\n").contains("empty list"));
    assert!(
        bad("  tls_cipher_suites: [ECDHE-ECDSA-AES256-GCM-SHA384]\n")
            .contains("Java's (IANA) form")
    );
    assert!(bad("  tls_cipher_suites: [TLS_RSA_WITH_3DES_EDE_CBC_SHA]\n").contains("weak suite"));
    // TLS 1.3 only, with TLS 1.2 suites only: no handshake could succeed.
    assert!(
            bad("  tls_protocols: [TLSv1.3]\n  tls_cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n")
                .contains("no suite in the list works")
        );
    assert!(bad("  audit: {events: [login_failed]}\n").contains("not an audit event"));
    assert!(bad("  kibana_session: {idle_timeout: 1 hour}\n").contains("not a Kibana duration"));
    assert!(
        bad("  ip_filter: {http_allow: [10.0.0.0/33]}\n")
            .contains("hardening.ip_filter.http_allow")
    );
    assert!(bad("  ip_filter: {transport_allow: []}\n").contains("cut the nodes off"));
    let ok = minimal_answers(
        "hardening:\n  kibana_session: {}\n  ip_filter: {http_allow: [127.0.0.1]}\n",
    );
    let s = ok.hardening.kibana_session.unwrap();
    assert_eq!((s.idle_timeout.as_str(), s.lifespan.as_str()), ("1h", "8h"));
    assert_eq!(ok.hardening.ip_filter.unwrap().http_deny, ["_all"]);
}

#[test]
fn kibana_gets_session_timeouts_and_protocols() {
    let mut facts = facts_for(LOOPBACK_YML);
    facts.kibana = Some(kibana_facts("server.port: 5601\n", &[]));
    let extra = format!(
        "{HARDENED}kibana: {{config_dir: /etc/kibana, public_url: \"https://localhost:5601\"}}\n"
    )
    .replace(
        "hardening:\n",
        "hardening:\n  kibana_session: {idle_timeout: 30m}\n",
    );
    let plan = build_plan(&facts, &https_answers(&extra)).unwrap();
    let after = plan
        .steps
        .iter()
        .find_map(|s| match s {
            Step::EditSettings {
                product: Product::Kibana,
                after,
                ..
            } => Some(after.to_string()),
            _ => None,
        })
        .unwrap();
    assert!(
        after.contains("xpack.security.session.idleTimeout: \"30m\""),
        "{after}"
    );
    assert!(
        after.contains("xpack.security.session.lifespan: \"8h\""),
        "{after}"
    );
    assert!(after.contains("server.ssl.supportedProtocols"), "{after}");
}

#[test]
fn kibana_gets_an_audit_appender_next_to_its_own_log() {
    let mut facts = facts_for(LOOPBACK_YML);
    facts.kibana = Some(kibana_facts(
        "server.port: 5601\nlogging:\n  appenders:\n    file:\n      type: file\n      fileName: /var/log/kibana/kibana.log\n",
        &[],
    ));
    let extra = format!("{HARDENED}kibana: {{config_dir: /etc/kibana}}\n");
    let plan = build_plan(&facts, &https_answers(&extra)).unwrap();
    let after = plan
        .steps
        .iter()
        .find_map(|s| match s {
            Step::EditSettings {
                product: Product::Kibana,
                after,
                ..
            } => Some(after.to_string()),
            _ => None,
        })
        .unwrap();
    let managed = after
        .lines()
        .filter(|l| l.starts_with("xpack.security.audit"))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(managed, @r#"
        xpack.security.audit.enabled: true
        xpack.security.audit.appender.type: rolling-file
        xpack.security.audit.appender.fileName: /var/log/kibana/audit.log
        xpack.security.audit.appender.layout.type: json
        xpack.security.audit.appender.policy.type: time-interval
        xpack.security.audit.appender.policy.interval: "24h"
        xpack.security.audit.appender.strategy.type: numeric
        xpack.security.audit.appender.strategy.max: 7
        "#);
    assert!(
        plan.notes
            .iter()
            .any(|n| n.text.starts_with("Kibana audit logging: ")
                && n.text.contains("/var/log/kibana/audit.log")),
        "{:?}",
        plan.notes
    );
    // Turned off in the answers: off in both files, no appender written.
    let off = extra.replace("audit: {}", "audit: {enabled: false}");
    let plan = build_plan(&facts, &https_answers(&off)).unwrap();
    let after = plan
        .steps
        .iter()
        .find_map(|s| match s {
            Step::EditSettings {
                product: Product::Kibana,
                after,
                ..
            } => Some(after.to_string()),
            _ => None,
        })
        .unwrap();
    assert!(
        after.contains("xpack.security.audit.enabled: false"),
        "{after}"
    );
    assert!(!after.contains("audit.appender"), "{after}");
}
