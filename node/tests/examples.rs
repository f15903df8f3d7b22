//! The SDK's examples against a local 4-validator network: the wallet submits a cross-rollup
//! bundle and follows its receipt to `certified`; two rollup followers (one per namespace)
//! find its items at the same height, every output verified on the way.
//!
//! The example binaries come from `cargo test --workspace` (which builds every package's
//! examples); run `cargo build -p shroud-sdk --examples` first when testing this package alone.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Cluster;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p shroud-sdk --examples` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

fn run(name: &str, args: &[&str]) -> String {
    let started = std::time::Instant::now();
    let output = Command::new(example(name))
        .args(args)
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    eprintln!("{name} ran {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        output.status.success(),
        "{name} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn field<'a>(text: &'a str, prefix: &str, key: &str) -> &'a str {
    let line = text
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} line in:\n{text}"));
    line.split_whitespace()
        .find_map(|part| part.strip_prefix(&format!("{key}=")))
        .expect("field")
}

#[test]
fn the_wallet_and_two_rollup_followers_see_one_bundle_at_one_height() {
    let cluster = Cluster::start(4);
    let committee = cluster.dir.path().join("committee.toml");
    let committee = committee.to_str().expect("utf-8 path");

    let wallet = run("wallet", &[committee, "1", "2"]);
    for step in [
        "accepted",
        "batched",
        "ordered at height",
        "decrypted",
        "certified at height",
    ] {
        assert!(wallet.contains(step), "the receipt lacks {step}:\n{wallet}");
    }
    assert!(wallet.contains("epoch key for chain"), "{wallet}");
    let tx = field(&wallet, "CERTIFIED", "tx");
    let height = field(&wallet, "CERTIFIED", "height");

    for namespace in ["1", "2"] {
        let follower = run(
            "rollup_follower",
            &[committee, namespace, "1", "--until-tx", tx],
        );
        assert_eq!(field(&follower, "FOUND", "height"), height, "{follower}");
        assert_eq!(field(&follower, "FOUND", "tx"), tx);
        assert!(follower.contains("siblings proved"), "{follower}");
    }
}
