//! Unit tests of `settings.rs`: flat, nested and mixed keys, a key given twice, scalar kinds,
//! malformed YAML with line and column, aliases and alias bombs, the marked blocks. Test code
//! only; it must not be compiled into the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn settings(text: &str) -> Settings {
    parse("es.yml", text).unwrap().settings
}

#[test]
fn flat_nested_and_mixed_forms_give_the_same_keys() {
    let flat = settings("xpack.security.enabled: true\nhttp.port: 9200\n");
    let nested = settings("xpack:\n  security:\n    enabled: true\nhttp:\n  port: 9200\n");
    let mixed = settings("xpack.security:\n  enabled: true\nhttp: {port: 9200}\n");
    for s in [&flat, &nested, &mixed] {
        assert_eq!(s.len(), 2);
        assert!(s.value("xpack.security.enabled").unwrap().is_true());
        assert_eq!(s.value("http.port").unwrap().as_plain(), "9200");
    }
    assert_eq!(nested.get("xpack.security.enabled").unwrap().line, 3);
    assert_eq!(
        flat.get("xpack.security.enabled").unwrap().form,
        KeyForm::Flat
    );
    assert_eq!(nested.get("http.port").unwrap().form, KeyForm::Nested);
}

#[test]
fn flat_and_nested_twice_is_an_error_naming_both_lines() {
    let err = parse(
        "es.yml",
        "# c\nxpack.security.enabled: true\nxpack:\n  security:\n    enabled: false\n",
    )
    .unwrap_err();
    assert_eq!(
        err,
        SettingsError::Duplicate {
            file: "es.yml".into(),
            key: "xpack.security.enabled".into(),
            first_line: 2,
            second_line: 5,
        }
    );
    let err = parse("es.yml", "a: 1\nb: 2\na: 3\n").unwrap_err();
    assert!(matches!(
        err,
        SettingsError::Duplicate {
            first_line: 1,
            second_line: 3,
            ..
        }
    ));
    // The same parent mapping twice is refused by Elasticsearch's YAML reader too.
    let err = parse("es.yml", "xpack:\n  a: 1\nxpack:\n  b: 2\n").unwrap_err();
    assert!(matches!(err, SettingsError::Duplicate { ref key, .. } if key == "xpack"));
}

#[test]
fn sequences_are_values() {
    let s = settings("discovery.seed_hosts: [a, \"b\"]\nnode.roles:\n  - master\n  - data\n");
    assert_eq!(
        s.value("discovery.seed_hosts").unwrap(),
        &SettingValue::list(["a", "b"])
    );
    assert_eq!(
        s.value("node.roles").unwrap(),
        &SettingValue::list(["master", "data"])
    );
}

#[test]
fn scalars_keep_their_kind_and_text() {
    let s = settings("a: 9200\nb: '9200'\nc: ~\nd:\ne: yes\nf: 1.5\ng: ${HOSTNAME}\n");
    assert_eq!(s.value("a"), Some(&SettingValue::Number("9200".into())));
    assert_eq!(s.value("b"), Some(&SettingValue::str("9200")));
    assert_eq!(s.value("c"), Some(&SettingValue::Null));
    assert_eq!(s.value("d"), Some(&SettingValue::Null));
    // YAML 1.2: `yes` is a string; it is the editor's job never to write it unquoted.
    assert_eq!(s.value("e"), Some(&SettingValue::str("yes")));
    assert_eq!(s.value("f"), Some(&SettingValue::Number("1.5".into())));
    assert_eq!(s.value("g"), Some(&SettingValue::str("${HOSTNAME}")));
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let err = parse("es.yml", "a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
    let SettingsError::Syntax { line, column, .. } = err else {
        panic!("{err:?}")
    };
    assert!(line >= 2, "{line}:{column}");
    let err = parse("es.yml", "a: 1\n  b: 2\n").unwrap_err();
    assert!(
        matches!(err, SettingsError::Syntax { line: 2, .. }),
        "{err:?}"
    );
    let err = parse("es.yml", "a: 1\rb: 2\n").unwrap_err();
    assert!(
        matches!(
            err,
            SettingsError::Syntax {
                line: 1,
                column: 5,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn bom_crlf_no_final_newline_empty_and_comments_only() {
    let s = settings("\u{feff}a: 1\r\nb:\r\n  c: x\r\nd: 2");
    assert_eq!(s.len(), 3);
    assert_eq!(s.get("b.c").unwrap().line, 3);
    assert!(settings("").is_empty());
    assert!(settings("# only\n#comments\n\n").is_empty());
    assert!(settings("---\n").is_empty());
}

#[test]
fn top_level_must_be_a_mapping() {
    assert!(matches!(
        parse("k.yml", "- a\n- b\n"),
        Err(SettingsError::NotAMapping { .. })
    ));
    assert!(matches!(
        parse("k.yml", "hello\n"),
        Err(SettingsError::NotAMapping { .. })
    ));
    assert!(matches!(
        parse("k.yml", "a: 1\n---\nb: 2\n"),
        Err(SettingsError::Syntax { line: 2, .. })
    ));
}

#[test]
fn aliases_are_expanded_and_bombs_refused() {
    let s = settings("a: &x [1, 2]\nb: *x\n");
    assert_eq!(s.value("b"), s.value("a"));
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..8 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("l{}", i - 1)
        };
        bomb.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
    }
    assert!(matches!(
        parse("b.yml", &bomb),
        Err(SettingsError::Syntax { .. })
    ));
}

#[test]
fn blocks_are_found_with_their_keys() {
    let text = format!(
        "cluster.name: c\n{AUTOCONFIG_BEGIN}\nxpack.security.enabled: true\nxpack.security.http.ssl:\n  enabled: true\nhttp.host: 0.0.0.0\n{AUTOCONFIG_END}\n{MANAGED_BEGIN}\nnode.name: n\n{MANAGED_END}\n"
    );
    let p = parse("es.yml", &text).unwrap();
    let auto = p.autoconfig.unwrap();
    assert_eq!((auto.start_line, auto.end_line), (2, 7));
    assert_eq!(
        auto.keys,
        [
            "http.host",
            "xpack.security.enabled",
            "xpack.security.http.ssl.enabled"
        ]
    );
    let managed = p.managed.unwrap();
    assert_eq!((managed.start_line, managed.end_line), (8, 10));
    assert_eq!(managed.keys, ["node.name"]);
    let old = parse(
            "es.yml",
            "#----- Security auto configuration start -----#\na: 1\n#----- Security auto configuration end -----#\n",
        )
        .unwrap();
    assert_eq!(old.autoconfig.unwrap().keys, ["a"]);
}

#[test]
fn core_numbers() {
    for n in [
        "1", "-1", "+1", "1.5", ".5", "1.", "1e3", "1E-3", "0x1F", "0o17", ".inf", "-.Inf", ".nan",
    ] {
        assert!(is_core_number(n), "{n}");
    }
    for n in [
        "", ".", "e3", "1e", "0x", "1.2.3", "0.0.0.0", "1_000", "12:30", "-",
    ] {
        assert!(!is_core_number(n), "{n}");
    }
}
