//! The Prometheus rendering's escaping and layout, without a server.

use super::metrics::{escape_label, render};
use crate::AddressStats;
use crate::inspector::{AddressSnapshot, Snapshot};

#[test]
fn label_values_escape_backslash_quote_and_line_feed() {
    assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
    assert_eq!(escape_label("one\ntwo"), r"one\ntwo");
    assert_eq!(escape_label("plain/path"), "plain/path");
}

#[test]
fn every_family_has_help_and_type_before_its_samples() {
    let snapshot = Snapshot {
        bus: vec![AddressSnapshot {
            address: "odd\"address".to_owned(),
            message_type: "u32".to_owned(),
            counters: AddressStats {
                consumers: 2,
                sent: 5,
                requested: 1,
                replied: 1,
                ..AddressStats::default()
            },
        }],
        ..Snapshot::default()
    };
    let text = render(&snapshot);
    assert!(text.contains("reactree_bus_sent_total{address=\"odd\\\"address\"} 5\n"));
    let mut typed = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.push(rest.split(' ').next().unwrap().to_owned());
        } else if !line.starts_with('#') {
            let name = line.split('{').next().unwrap();
            assert_eq!(typed.last().map(String::as_str), Some(name), "{line}");
        }
    }
}
