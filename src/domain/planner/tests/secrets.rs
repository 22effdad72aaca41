//! Planner tests: secrets are moved, never left or shown; plan notes; REST and cluster-shape
//! checks.

use super::*;

// ---- secrets are moved, never left; plan notes; REST and cluster-shape checks ----

const KIBANA_ALL_KEEP: &str = "kibana:\n  config_dir: /etc/kibana\npasswords:\n  elastic: keep\n  kibana_system: keep\n  logstash_system: keep\n  beats_system: keep\n  apm_system: keep\n  remote_monitoring_user: keep\n";

/// Review §3(h): `keep` with a plaintext kibana_system password moves it to the keystore,
/// deletes the line, and no diff, JSON or Debug output shows the value.
#[test]
fn kept_kibana_password_moves_into_the_keystore_and_is_never_shown() {
    let mut facts = facts_for(LOOPBACK_YML);
    let kyml = "elasticsearch.hosts: [\"http://localhost:9200\"]\nelasticsearch.username: kibana_system\nelasticsearch.password: \"s3cr3t-kibana\"\nxpack.security.encryptionKey: \"0123456789abcdef0123456789abcdef-old\"\n";
    facts.kibana = Some(kibana_facts(kyml, &[]));
    let answers = minimal_answers(KIBANA_ALL_KEEP);
    let plan = build_plan(&facts, &answers).unwrap();
    let sets = keystore_sets(&plan);
    for key in ["elasticsearch.password", "xpack.security.encryptionKey"] {
        assert!(
            sets.iter().any(|(p, e, v)| *p == Product::Kibana
                && e == key
                && *v
                    == SecretSource::PlaintextSetting {
                        path: "/etc/kibana/kibana.yml".into(),
                        key: key.to_string()
                    }),
            "{key}: {sets:?}"
        );
    }
    let after = edited(&plan, "kibana.yml");
    assert!(!after.contains("s3cr3t-kibana"), "{after}");
    assert!(!after.contains("-old"), "{after}");
    assert!(
        !after.contains("password"),
        "deleted, not commented out: {after}"
    );
    let text = crate::domain::render::plan_text(&plan);
    let json = serde_json::to_string(&plan).unwrap();
    let debug = format!("{plan:?} {facts:?}");
    for shown in [&text, &json, &debug] {
        assert!(!shown.contains("s3cr3t-kibana"), "{shown}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }
    assert!(text.contains("-elasticsearch.password: ***"), "{text}");
    assert!(
            plan.notes.iter().any(|n| n.text.contains("removes `elasticsearch.password`: a plaintext secret; its value moves into /etc/kibana/kibana.keystore")),
            "{:#?}",
            plan.notes
        );
}

const KIBANA_TOKEN: &str = "kibana:\n  config_dir: /etc/kibana\n  es_auth: service-token\npasswords:\n  elastic: keep\n  kibana_system: keep\n  logstash_system: keep\n  beats_system: keep\n  apm_system: keep\n  remote_monitoring_user: keep\n";

/// `kibana.es_auth: service-token`: no username or password for Kibana anywhere, the
/// enrollment's plaintext token moves into kibana.keystore, and the REST phase gets the
/// token step (after the file steps, before verification); the value is never shown.
#[test]
fn service_token_replaces_kibana_systems_password() {
    let mut facts = facts_for(LOOPBACK_YML);
    let kyml = "elasticsearch.hosts: [\"http://localhost:9200\"]\nelasticsearch.username: kibana_system\nelasticsearch.serviceAccountToken: \"AAEAAWVsYXN0aWMva2liYW5hL2Vucm9sbC1zZWNyZXQ\"\n";
    facts.kibana = Some(kibana_facts(kyml, &["elasticsearch.password"]));
    facts.host.hostname = Some("kb.example.org".to_string());
    let plan = build_plan(&facts, &minimal_answers(KIBANA_TOKEN)).unwrap();
    let after = edited(&plan, "kibana.yml");
    // A username is no secret: its line is commented out; the token's is deleted.
    assert!(
        !after
            .lines()
            .any(|l| l.starts_with("elasticsearch.username"))
            && !after.contains("serviceAccountToken"),
        "{after}"
    );
    assert!(plan.steps.iter().any(|s| matches!(s, Step::KeystoreRemove { product: Product::Kibana, entry, .. } if entry == "elasticsearch.password")));
    assert!(
        keystore_sets(&plan)
            .iter()
            .any(|(p, e, v)| *p == Product::Kibana
                && e == TOKEN_ENTRY
                && matches!(v, SecretSource::PlaintextSetting { .. }))
    );
    let token = plan
        .steps
        .iter()
        .position(
            |s| matches!(s, Step::ServiceToken { name, .. } if name == "es-secure-kb-example-org"),
        )
        .unwrap();
    let verify = plan
        .steps
        .iter()
        .position(|s| matches!(s, Step::Verify { .. }))
        .unwrap();
    assert!(token < verify);
    assert!(
        plan.steps[..token]
            .iter()
            .any(|s| matches!(s, Step::WaitHealthy { .. }))
    );
    assert!(!plan.steps[token + 1..].iter().any(Step::is_file_step));
    let text = crate::domain::render::plan_text(&plan);
    let json = serde_json::to_string(&plan).unwrap();
    for shown in [&text, &json, &format!("{plan:?}")] {
        assert!(!shown.contains("enroll-secret"), "{shown}");
        assert!(!shown.contains("AAEAAWVsYXN0aWMva2liYW5h"), "{shown}");
    }
    assert!(
        text.contains(
            "POST /_security/service/elastic/kibana/credential/token/es-secure-kb-example-org"
        ),
        "{text}"
    );
}

/// A token in kibana.keystore that authenticates: nothing to do (a re-run is empty);
/// one that does not, or was not checked: the token step again.
#[test]
fn service_token_that_authenticates_is_kept() {
    let mut facts = facts_for(LOOPBACK_YML);
    let mut k = kibana_facts(
        "elasticsearch.hosts: [\"http://127.0.0.1:9200\"]\n",
        &[TOKEN_ENTRY],
    );
    let answers = minimal_answers(KIBANA_TOKEN);
    for (check, planned) in [
        (crate::domain::facts::TokenCheck::Authenticates, false),
        (crate::domain::facts::TokenCheck::Rejected, true),
        (crate::domain::facts::TokenCheck::Unknown, true),
    ] {
        k.service_token = check;
        facts.kibana = Some(k.clone());
        let plan = build_plan(&facts, &answers).unwrap();
        assert_eq!(
            plan.steps
                .iter()
                .any(|s| matches!(s, Step::ServiceToken { .. })),
            planned,
            "{check:?}: {plan:#?}"
        );
    }
}

/// `es_auth: password` with a token in kibana.keystore: the token goes (Kibana refuses it
/// next to `elasticsearch.username`).
#[test]
fn password_mode_removes_a_keystore_token() {
    let mut facts = facts_for(LOOPBACK_YML);
    facts.kibana = Some(kibana_facts(
        "elasticsearch.hosts: [\"http://127.0.0.1:9200\"]\n",
        &[TOKEN_ENTRY],
    ));
    let plan = build_plan(&facts, &minimal_answers(KIBANA_ALL_KEEP)).unwrap();
    assert!(plan.steps.iter().any(|s| matches!(s, Step::KeystoreRemove { product: Product::Kibana, entry, .. } if entry == TOKEN_ENTRY)));
    assert!(edited(&plan, "kibana.yml").contains("username: kibana_system"));
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| matches!(s, Step::ServiceToken { .. }))
    );
}

#[test]
fn service_token_names_are_what_elasticsearch_accepts() {
    assert_eq!(service_token_name(Some("node-1")), "es-secure-node-1");
    assert_eq!(service_token_name(Some("a.b c_d")), "es-secure-a-b-c_d");
    assert_eq!(service_token_name(None), "es-secure-kibana");
    assert_eq!(service_token_name(Some("")), "es-secure-kibana");
    assert!(service_token_name(Some(&"x".repeat(300))).len() <= 256);
}

/// The password of another user (here the elastic superuser) is deleted, not kept.
#[test]
fn elastic_password_in_kibana_yml_is_deleted_not_moved() {
    let mut facts = facts_for(LOOPBACK_YML);
    let kyml = "elasticsearch:\n  hosts: [\"http://localhost:9200\"]\n  username: elastic\n  password: \"changeme\"\n";
    facts.kibana = Some(kibana_facts(kyml, &[]));
    let plan = build_plan(&facts, &minimal_answers(KIBANA_ALL_KEEP)).unwrap();
    assert!(
        !keystore_sets(&plan)
            .iter()
            .any(|(_, e, _)| e == "elasticsearch.password")
    );
    let after = edited(&plan, "kibana.yml");
    assert!(!after.contains("changeme"), "{after}");
    let notes: Vec<&str> = plan.notes.iter().map(|n| n.text.as_str()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("the plaintext password of `elastic` is deleted, not kept")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("cannot recover the current one")),
        "{notes:#?}"
    );
}

/// A plaintext TLS password outside the contexts es-secure takes over moves to its
/// `secure_` keystore form; inside them it goes with the keystore it unlocked.
#[test]
fn es_plaintext_tls_passwords_move_or_go() {
    let yml = format!(
        "{LOOPBACK_YML}xpack.security.http.ssl.keystore.path: http.p12\nxpack.security.http.ssl.keystore.password: \"hunter2\"\nxpack.monitoring.exporters.x.ssl.key_passphrase: pass-phrase\n"
    );
    let facts = facts_for(&yml);
    let plan = build_plan(&facts, &minimal_answers("")).unwrap();
    let entries: Vec<String> = keystore_sets(&plan)
        .into_iter()
        .filter(|(p, _, _)| *p == Product::Elasticsearch)
        .map(|(_, e, _)| e)
        .collect();
    assert_eq!(
        entries,
        vec![
            "xpack.monitoring.exporters.x.ssl.secure_key_passphrase".to_string(),
            "xpack.security.http.ssl.keystore.secure_password".to_string(),
        ]
    );
    let after = edited(&plan, "elasticsearch.yml");
    assert!(
        !after.contains("hunter2") && !after.contains("pass-phrase"),
        "{after}"
    );
    assert!(after.contains("keystore.path: http.p12"), "{after}");
}

#[test]
fn plain_rest_uses_loopback_when_es_listens_there() {
    for yml in [
        LOOPBACK_YML.to_string(),
        "node.name: node-1\ndiscovery.type: single-node\n".to_string(),
        "node.name: node-1\ndiscovery.type: single-node\nnetwork.host: 0.0.0.0\n".to_string(),
        "node.name: node-1\ndiscovery.type: single-node\nnetwork.host: [_local_, _site_]\n"
            .to_string(),
    ] {
        let facts = facts_for(&yml);
        assert_eq!(
            es_url(&facts, &minimal_answers("")),
            "http://127.0.0.1:9200",
            "{yml}"
        );
    }
}

#[test]
fn plain_rest_to_a_lan_address_needs_the_opt_in() {
    let text = "version: 1\ntier: basic\nnodes:\n  - {name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}\nthis_node: node-2\n";
    let answers = Answers::from_raw(&parse_raw(text).unwrap()).unwrap();
    let facts = facts_for(&yml("node-2"));
    let err = build_plan(&facts, &answers).unwrap_err();
    assert!(
        matches!(&err, PlanError::CleartextRest { url } if url == "http://10.0.0.12:9200"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("allow_cleartext_rest: true"),
        "{err}"
    );
    let opted = text.replace(
        "tier: basic\n",
        "tier: basic\nelasticsearch:\n  allow_cleartext_rest: true\n",
    );
    let answers = Answers::from_raw(&parse_raw(&opted).unwrap()).unwrap();
    let plan = build_plan(&facts, &answers).unwrap();
    assert!(
        plan.notes.iter().any(|n| n.text.contains("in clear")),
        "{:#?}",
        plan.notes
    );
}

#[test]
fn seed_hosts_missing_from_the_answers_refuse_the_plan() {
    let y = "node.name: node-1\nnetwork.host: 127.0.0.1\ndiscovery.seed_hosts: [\"10.0.0.11\", \"10.0.0.12\"]\ncluster.initial_master_nodes: [node-1, node-2]\n";
    let text = "version: 1\ntier: basic\nnodes:\n  - {name: node-1, ip: [10.0.0.11, 127.0.0.1]}\nthis_node: node-1\n";
    let answers = Answers::from_raw(&parse_raw(text).unwrap()).unwrap();
    let err = build_plan(&facts_for(y), &answers).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PlanError::ClusterShape { .. }), "{msg}");
    assert!(
        msg.contains("`10.0.0.12`") && msg.contains("`node-2`"),
        "{msg}"
    );
    let opted = text.replace(
        "tier: basic\n",
        "tier: basic\nelasticsearch:\n  allow_partial_cluster: true\n",
    );
    let answers = Answers::from_raw(&parse_raw(&opted).unwrap()).unwrap();
    let plan = build_plan(&facts_for(y), &answers).unwrap();
    assert!(
        plan.notes
            .iter()
            .any(|n| n.text.starts_with("warning: elasticsearch.yml names hosts")),
        "{:#?}",
        plan.notes
    );
}

#[test]
fn formed_cluster_loses_initial_master_nodes_with_a_note() {
    let y = format!("{LOOPBACK_YML}cluster.initial_master_nodes: [node-1]\n");
    let mut facts = facts_for(&y);
    let plan = build_plan(&facts, &minimal_answers("")).unwrap();
    assert!(edited(&plan, "elasticsearch.yml").contains("initial_master_nodes"));
    facts.es.cluster_formed = true;
    let plan = build_plan(&facts, &minimal_answers("")).unwrap();
    let after = edited(&plan, "elasticsearch.yml");
    let parsed = settings::parse("e.yml", after).unwrap();
    assert!(
        parsed
            .settings
            .get("cluster.initial_master_nodes")
            .is_none(),
        "{after}"
    );
    assert!(
        plan.notes.iter().any(|n| n
            .text
            .contains("removes `cluster.initial_master_nodes`: the cluster has already formed")),
        "{:#?}",
        plan.notes
    );
}

#[test]
fn autoconfig_takeover_removes_old_key_material_and_names_both_cas() {
    let y = "node.name: node-1\n#----------------------- BEGIN SECURITY AUTO CONFIGURATION -----------------------\nxpack.security.enabled: true\nxpack.security.enrollment.enabled: true\nxpack.security.http.ssl:\n  enabled: true\n  keystore.path: certs/http.p12\nxpack.security.transport.ssl:\n  enabled: true\n  verification_mode: certificate\n  keystore.path: certs/transport.p12\n  truststore.path: certs/transport.p12\ncluster.initial_master_nodes: [\"node-1\"]\nhttp.host: 0.0.0.0\n#----------------------- END SECURITY AUTO CONFIGURATION -------------------------\n";
    let mut facts = facts_for(y);
    facts.es.autoconfig_files = vec![
        "http.p12".to_string(),
        "transport.p12".to_string(),
        "http_ca.crt".to_string(),
    ];
    facts.es.autoconfig_ca_fingerprint = Some("AB:CD:EF".to_string());
    facts.es.cluster_formed = true;
    let text =
        "version: 1\ntier: https\nnodes:\n  - {name: node-1, dns: [localhost], ip: [127.0.0.1]}\n";
    let answers = Answers::from_raw(&parse_raw(text).unwrap()).unwrap();
    let plan = build_plan(&facts, &answers).unwrap();
    let removed: Vec<String> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::RemoveFile { path, .. } => Some(path.display().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        removed,
        vec![
            "/etc/elasticsearch/certs/http.p12",
            "/etc/elasticsearch/certs/transport.p12",
            "/etc/elasticsearch/certs/http_ca.crt"
        ]
    );
    // Files come before the restart.
    let restart = plan
        .steps
        .iter()
        .position(|s| matches!(s, Step::Restart { .. }))
        .unwrap();
    let last_remove = plan
        .steps
        .iter()
        .rposition(|s| matches!(s, Step::RemoveFile { .. }))
        .unwrap();
    assert!(last_remove < restart);
    let notes: Vec<&str> = plan.notes.iter().map(|n| n.text.as_str()).collect();
    assert!(
        notes.iter().any(|n| n.contains("The CA changes")
            && n.contains("AB:CD:EF")
            && n.contains("/var/lib/es-secure/ca/ca.crt")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("removes `xpack.security.enrollment.enabled`: enrollment")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("removes `cluster.initial_master_nodes`")),
        "{notes:#?}"
    );
    assert!(!edited(&plan, "elasticsearch.yml").contains("initial_master_nodes: [\"node-1\"]"));
}
