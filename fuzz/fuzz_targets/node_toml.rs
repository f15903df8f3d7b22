//! The validator's node file (TOML from disk): `toml::from_str::<NodeConfig>`, then
//! `NodeConfig::validate` (the rules a node file must follow on its own, including the
//! mempool's and the ingress stage's), and the mempool configuration derived from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_node::config::NodeConfig;

fuzz_target!(|data: &[u8]| {
    // The node reads the file with `read_to_string`: only UTF-8 gets here.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = toml::from_str::<NodeConfig>(text) else {
        return;
    };
    if config.validate().is_ok() {
        assert!(config.mempool.mempool().validate().is_ok());
        assert!(config.ingress.validate().is_ok());
    }
});
