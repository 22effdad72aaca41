//! Unit tests of `validate.rs`: defaults, unknown keys and bad values reported with their line,
//! nodes, DNS names, Kibana's authentication and URL hosts. Test code only; it must not be
//! compiled into the binary.

use super::*;
use crate::domain::answers::parse_raw;

fn parse(text: &str) -> Result<Answers, String> {
    let raw = parse_raw(text)?;
    Answers::from_raw(&raw).map_err(|errs| {
        errs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[test]
fn minimal_defaults() {
    let a = parse("version: 1\ntier: minimal\n").unwrap();
    assert_eq!(a.tier, Tier::Minimal);
    assert_eq!(a.passwords.users.len(), 6);
    assert_eq!(a.passwords.users[5].0, "elastic");
    assert!(
        a.passwords
            .users
            .iter()
            .all(|(_, s)| *s == SecretRef::Generate)
    );
    assert_eq!(a.es.restart, Restart::Manual);
    assert_eq!(a.this_node, None);
}

#[test]
fn unknown_key_has_line_and_column() {
    let e = parse("version: 1\ntier: minimal\npaswords: {}\n").unwrap_err();
    assert!(e.contains("line 3"), "{e}");
    assert!(e.contains("paswords"), "{e}");
}

#[test]
fn inline_password_refused_without_echo() {
    let e =
        parse("version: 1\ntier: minimal\npasswords:\n  elastic: hunter2hunter2\n").unwrap_err();
    assert!(e.contains("line 4"), "{e}");
    assert!(e.contains("inline passwords are not allowed"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn this_node_must_exist() {
    let e = parse(
            "version: 1\ntier: basic\nnodes:\n  - {name: a, ip: [127.0.0.1]}\n  - {name: b, ip: [127.0.0.2]}\nthis_node: c\n",
        )
        .unwrap_err();
    assert!(e.contains("`c` is not one of the nodes (a, b)"), "{e}");
}

#[test]
fn duplicate_node_and_bad_dns() {
    let e = parse(
            "version: 1\ntier: basic\nnodes:\n  - {name: a, dns: [ok.example]}\n  - {name: a, dns: [bad_name]}\nthis_node: a\n",
        )
        .unwrap_err();
    assert!(e.contains("listed twice"), "{e}");
    assert!(e.contains("line 5"), "{e}");
    assert!(e.contains("`bad_name` is not a valid DNS name"), "{e}");
}

#[test]
fn bad_ip_is_a_parse_error_with_line() {
    let e =
        parse("version: 1\ntier: basic\nnodes:\n  - name: a\n    ip: [10.0.0.300]\n").unwrap_err();
    assert!(e.contains("line 5"), "{e}");
}

#[test]
fn kibana_es_auth_is_password_or_service_token() {
    let base = "version: 1\ntier: minimal\nkibana:\n  config_dir: /etc/kibana\n";
    let parse = |extra: &str| Answers::from_raw(&parse_raw(&format!("{base}{extra}")).unwrap());
    assert_eq!(
        parse("").unwrap().kibana.unwrap().es_auth,
        KibanaEsAuth::Password
    );
    assert_eq!(
        parse("  es_auth: service-token\n")
            .unwrap()
            .kibana
            .unwrap()
            .es_auth,
        KibanaEsAuth::ServiceToken
    );
    let e = parse("  es_auth: token\n").unwrap_err();
    let text = format!("{e:?}");
    assert!(
        text.contains("kibana.es_auth") && text.contains("`token` is not a way"),
        "{text}"
    );
    let none =
        "version: 1\ntier: none\nkibana:\n  config_dir: /etc/kibana\n  es_auth: service-token\n";
    let e = Answers::from_raw(&parse_raw(none).unwrap()).unwrap_err();
    assert!(format!("{e:?}").contains("kibana.es_auth"), "{e:?}");
}

#[test]
fn kibana_public_url_ip_becomes_an_ip_san() {
    let base = "version: 1\ntier: https\nnodes:\n  - {name: n1, ip: [10.0.0.1]}\nthis_node: n1\n";
    let kibana = |k: &str| {
        let raw = parse_raw(&format!("{base}kibana: {k}\n")).unwrap();
        Answers::from_raw(&raw).unwrap().kibana.unwrap()
    };
    let k = kibana("{config_dir: /etc/kibana, public_url: \"https://192.0.2.7:5601\"}");
    assert_eq!(k.ip, vec!["192.0.2.7".parse::<IpAddr>().unwrap()]);
    assert!(k.dns.is_empty(), "{:?}", k.dns);
    let k = kibana(
        "{config_dir: /etc/kibana, public_url: \"https://[2001:db8::5]:5601\", ip: [192.0.2.8]}",
    );
    assert_eq!(
        k.ip,
        vec![
            "192.0.2.8".parse::<IpAddr>().unwrap(),
            "2001:db8::5".parse::<IpAddr>().unwrap()
        ]
    );
    // Already listed: not twice. A DNS name stays a DNS SAN only.
    let k = kibana("{config_dir: /etc/kibana, public_url: \"https://192.0.2.7\", ip: [192.0.2.7]}");
    assert_eq!(k.ip.len(), 1);
    let k = kibana("{config_dir: /etc/kibana, public_url: \"https://k.example:5601\"}");
    assert!(k.ip.is_empty());
    assert_eq!(k.dns, vec!["k.example".to_string()]);
}

#[test]
fn dns_names() {
    assert!(valid_dns_name("node-1.example.internal"));
    assert!(valid_dns_name("localhost"));
    assert!(!valid_dns_name("-bad.example"));
    assert!(!valid_dns_name("*.example"));
    assert!(!valid_dns_name("a..b"));
}

#[test]
fn url_host_forms() {
    assert_eq!(
        url_host("https://k.example:5601/x").as_deref(),
        Some("k.example")
    );
    assert_eq!(url_host("https://[::1]:9200").as_deref(), Some("::1"));
}
