//! `docs/config.md` against the code: every key of the node file and the committee file is in
//! the reference, in its section, with the default the code uses; and every key the reference
//! lists exists.

use std::collections::BTreeMap;

use shroud_node::config::NodeConfig;
use shroud_proofs::committee::{CommitteeFile, MemberEntry};

/// The reference's tables: section ("" for a file's top level, `node.` or `committee.`
/// prefixed) → key → default as written.
fn reference() -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.md"))
        .expect("docs/config.md");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut file = "";
    let mut section = String::new();
    for line in text.lines() {
        if line == "## Node file" {
            file = "node";
            section = "node.".into();
        } else if line == "## Committee file" {
            file = "committee";
            section = "committee.".into();
        } else if line.starts_with("## ") {
            file = "";
        } else if let Some(heading) = line.strip_prefix("### `[") {
            let name = heading.trim_end_matches("]`").trim_matches(['[', ']']);
            section = format!("{file}.{name}");
        } else if let Some(row) = line.strip_prefix("| `") {
            if file.is_empty() {
                continue;
            }
            let cells: Vec<&str> = row.split(" | ").collect();
            let key = cells[0].trim_end_matches('`').to_string();
            let default = cells.get(1).expect("a default cell").trim().to_string();
            out.entry(section.clone()).or_default().insert(key, default);
        }
    }
    out
}

/// How the reference writes a default value.
fn written(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => format!("`{text}`"),
        other => format!("`{other}`"),
    }
}

/// Checks a serialized table (with every optional key set) against one reference section;
/// `defaults` holds the keys whose value in `table` is the code's default.
fn check(
    reference: &BTreeMap<String, BTreeMap<String, String>>,
    section: &str,
    table: &toml::Table,
    defaults: &toml::Table,
) {
    let listed = reference
        .get(section)
        .unwrap_or_else(|| panic!("no section {section} in docs/config.md"));
    for (key, value) in table {
        if value.is_table() || (value.is_array() && key == "validators") {
            continue;
        }
        let doc = listed
            .get(key)
            .unwrap_or_else(|| panic!("{section}: `{key}` is not in docs/config.md"));
        if let Some(default) = defaults.get(key) {
            assert_eq!(
                doc,
                &written(default),
                "{section}: `{key}` defaults to {default} in the code"
            );
        }
    }
    for key in listed.keys() {
        assert!(
            table.contains_key(key),
            "{section}: docs/config.md lists `{key}`, which the code does not know"
        );
    }
}

#[test]
fn the_configuration_reference_matches_the_code() {
    let reference = reference();

    // The node file with every optional key set, and one with only the required keys.
    let full: NodeConfig = toml::from_str(
        r#"
        index = 0
        committee_file = "c.toml"
        data_dir = "d"
        bls_secret_key_file = "b"
        tls_certificate_file = "t"
        tls_key_file = "k"
        key_share_file = "s"
        dkg_key_file = "g"
        [mempool]
        ciphertext_bytes_max = 65536
        "#,
    )
    .expect("a full node file");
    let minimal: NodeConfig = toml::from_str(
        r#"
        committee_file = "c.toml"
        data_dir = "d"
        bls_secret_key_file = "b"
        tls_certificate_file = "t"
        tls_key_file = "k"
        "#,
    )
    .expect("a minimal node file");
    let full = toml::Table::try_from(&full).expect("serialize");
    let defaults = toml::Table::try_from(&minimal).expect("serialize");
    let only_defaults = |table: &toml::Table| -> toml::Table {
        // Top level: the keys a minimal file does not set.
        table
            .iter()
            .filter(|(key, value)| !value.is_table() && key.as_str() == "ordering_only")
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    };
    check(&reference, "node.", &full, &only_defaults(&defaults));
    for section in ["consensus", "mempool", "storage", "ingress"] {
        let table = full[section].as_table().expect("a section");
        let default = defaults[section].as_table().expect("a section");
        check(&reference, &format!("node.{section}"), table, default);
    }

    // The committee file: chain parameters with serde defaults, and a member.
    let member = MemberEntry {
        bls_public_key: String::new(),
        proof_of_possession: String::new(),
        tls_pin: String::new(),
        peer_address: "127.0.0.1:1".parse().expect("address"),
        client_address: "127.0.0.1:2".parse().expect("address"),
        http_address: "127.0.0.1:3".parse().expect("address"),
        dkg_public_key: Some(String::new()),
    };
    let committee = CommitteeFile {
        chain_id: 1,
        epoch: 0,
        validity_heights: shroud_proofs::validity::default_validity_heights(),
        public_key_set: Some(String::new()),
        dkg_window_heights: shroud_proofs::committee::default_dkg_window_heights(),
        ciphertext_bytes_max: shroud_proofs::committee::default_ciphertext_bytes_max(),
        validators: vec![member],
    };
    let table = toml::Table::try_from(&committee).expect("serialize");
    let defaults: toml::Table = [
        "validity_heights",
        "dkg_window_heights",
        "ciphertext_bytes_max",
    ]
    .iter()
    .map(|key| (key.to_string(), table[*key].clone()))
    .collect();
    check(&reference, "committee.", &table, &defaults);
    let member = table["validators"].as_array().expect("members")[0]
        .as_table()
        .expect("a member")
        .clone();
    check(
        &reference,
        "committee.validators",
        &member,
        &toml::Table::new(),
    );
}
