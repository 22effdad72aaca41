//! `templates/answers.example.yml` is the documented contract of the answers file: it must
//! load, and it must mention every key the parser accepts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use es_secure::domain::answers::{Answers, parse_raw};

fn template() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/answers.example.yml"
    ))
    .unwrap()
}

#[test]
fn the_template_parses_into_typed_answers() {
    let raw = parse_raw(&template()).unwrap();
    let answers = Answers::from_raw(&raw).unwrap();
    assert_eq!(answers.nodes.len(), 2);
    assert_eq!(answers.local_node().unwrap().name, "node-1");
    assert!(answers.kibana.is_some());
}

#[test]
fn the_template_documents_every_key() {
    let text = template();
    for key in [
        "version:",
        "tier:",
        "elasticsearch:",
        "config_dir:",
        "home:",
        "url:",
        "service_user:",
        "restart:",
        "restart_command:",
        "transport_verification:",
        "health_timeout_secs:",
        "allow_cleartext_rest:",
        "allow_partial_cluster:",
        "nodes:",
        "name:",
        "dns:",
        "ip:",
        "this_node:",
        "certificates:",
        "ca:",
        "key_type:",
        "validity_days:",
        "node_certs:",
        "transport:",
        "kibana:",
        "public_url:",
        "passwords:",
        "elastic:",
        "kibana_system:",
        "logstash_system:",
        "beats_system:",
        "apm_system:",
        "remote_monitoring_user:",
        "output_file:",
        "show:",
        "rotate:",
        "auth:",
        "method:",
        "elastic_password:",
    ] {
        assert!(text.contains(key), "template lacks {key}");
    }
}
