//! The committee file (TOML from disk, shared by validators, wallets and rollup nodes):
//! `toml::from_str::<CommitteeFile>`, then the node's `config::check_committee` (which runs
//! `CommitteeFile::check`: keys, proofs of possession, key set, DKG keys, limits; then the TLS
//! pins) and the SDK's `Committee::from_file`. A file the node accepts the SDK must accept too
//! (the node checks a superset). The same text is also parsed as one member's entry
//! (`MemberEntry`, what `shroud genesis` reads from each member's file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_proofs::{CommitteeFile, MemberEntry};

fuzz_target!(|data: &[u8]| {
    // The node reads the file with `read_to_string`: only UTF-8 gets here.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = toml::from_str::<MemberEntry>(text);
    let Ok(file) = toml::from_str::<CommitteeFile>(text) else {
        return;
    };
    let node = shroud_node::config::check_committee(file.clone());
    let sdk = shroud_sdk::Committee::from_file(file.clone());
    if let Ok(loaded) = &node {
        assert!(
            sdk.is_ok(),
            "the node accepts a committee file the SDK refuses"
        );
        assert_eq!(loaded.pins.len(), file.validators.len());
        assert_eq!(loaded.committee.size(), file.validators.len());
        let _ = file.dkg_session();
    }
});
