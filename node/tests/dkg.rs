//! The distributed key generation across real `shroud run` processes on 127.0.0.1: operators'
//! `keygen` outputs and a genesis file with no key form one key and then certify encrypted
//! traffic; a Byzantine dealer is excluded the same way on every validator; two absent
//! validators stall the DKG visibly until one returns; a validator killed mid-DKG ends with
//! the same key.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{get_json, runtime, Cluster};
use serde_json::Value;
use shroud_node::config::{free_loopback_ports, load_committee, NodeConfig};
use shroud_proofs::{Bundle, NamespaceId};

fn shroud(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_shroud"))
        .args(args)
        .output()
        .expect("run shroud");
    assert!(
        output.status.success(),
        "shroud {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn key_status(cluster: &Cluster, index: usize) -> Option<Value> {
    cluster.get(index, "/v1/status")?.get("key").cloned()
}

/// The key set every validator in `validators` serves at `/v1/encryption-key` (certified).
fn served_key_sets(cluster: &Cluster, validators: &[usize], within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let sets: Vec<Option<String>> = validators
            .iter()
            .map(|index| {
                cluster
                    .get(*index, "/v1/encryption-key")?
                    .get("key_set")?
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        if sets.iter().all(Option::is_some) {
            return sets.into_iter().flatten().collect();
        }
        assert!(
            Instant::now() < deadline,
            "no certified key at {validators:?}: {sets:?}\n{}",
            cluster.logs_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Submits `count` bundles through the SDK and waits until every validator in `validators`
/// decrypted and certified them.
fn certify_traffic(cluster: &mut Cluster, validators: &[usize], count: u64) {
    let runtime = runtime();
    runtime.block_on(async {
        cluster.learn_key(validators, Duration::from_secs(60)).await;
        let committee = common::sdk_committee(cluster);
        let mut client = common::connect_sdk(&committee, validators).await;
        client
            .wait_for_key(Duration::from_secs(30))
            .await
            .expect("certified key");
        for sequence in 0..count {
            let bundle = Bundle::single(NamespaceId(7), format!("order {sequence}").into_bytes());
            client.submit_bundle(&bundle).await.expect("accepted");
        }
        client.close();
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let decrypted: Vec<Option<u64>> = validators
            .iter()
            .map(|index| {
                let status = cluster.get(*index, "/v1/status")?;
                let decrypted = common::u64_of(status.get("outcomes")?.get("decrypted")?)?;
                let certified = common::u64_of(status.get("certified_height")?)?;
                let built = common::u64_of(status.get("output_height")?)?;
                (certified >= built).then_some(decrypted)
            })
            .collect();
        if decrypted.iter().all(|d| d.is_some_and(|d| d >= count)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "decrypted and certified {decrypted:?}, expected {count}\n{}",
            cluster.logs_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn excluded(cluster: &Cluster, index: usize) -> Vec<(u64, String)> {
    key_status(cluster, index)
        .and_then(|key| key.get("excluded").cloned())
        .and_then(|list| list.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|entry| {
            (
                entry["validator"].as_u64().expect("index"),
                entry["reason"].as_str().expect("reason").to_string(),
            )
        })
        .collect()
}

fn write_node_file(home: &Path, committee: &Path) -> std::path::PathBuf {
    let config = NodeConfig {
        index: None,
        committee_file: committee.to_path_buf(),
        data_dir: home.join("data"),
        bls_secret_key_file: home.join("bls.key"),
        tls_certificate_file: home.join("tls.cert.der"),
        tls_key_file: home.join("tls.key.der"),
        key_share_file: None,
        dkg_key_file: Some(home.join("dkg.key")),
        ordering_only: false,
        consensus: shroud_node::config::ConsensusSection {
            base_timeout_ms: 600,
            backoff_exponent_max: 3,
            ..Default::default()
        },
        mempool: shroud_node::config::MempoolSection::default(),
        storage: Default::default(),
        ingress: Default::default(),
        faults: Default::default(),
    };
    let path = home.join("node.toml");
    std::fs::write(&path, toml::to_string(&config).expect("toml")).expect("node file");
    path
}

#[test]
fn validators_from_keygen_and_a_genesis_file_form_one_key_and_certify_encrypted_traffic() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ports = free_loopback_ports(4).expect("ports");
    let mut members = Vec::new();
    for (index, ports) in ports.iter().enumerate() {
        let home = dir.path().join(format!("operator-{index}"));
        shroud(&[
            "keygen",
            "--dir",
            home.to_str().expect("path"),
            "--peer-address",
            &ports.peer.to_string(),
            "--client-address",
            &ports.client.to_string(),
            "--http-address",
            &ports.http.to_string(),
        ]);
        members.push(home.join("member.toml"));
    }
    // Keys are never replaced by a second keygen.
    let again = Command::new(env!("CARGO_BIN_EXE_shroud"))
        .args(["keygen", "--dir"])
        .arg(dir.path().join("operator-0"))
        .args(["--peer-address", "127.0.0.1:1"])
        .args(["--client-address", "127.0.0.1:2"])
        .args(["--http-address", "127.0.0.1:3"])
        .output()
        .expect("run shroud");
    assert!(!again.status.success());
    let committee_path = dir.path().join("genesis.toml");
    let mut genesis = vec!["genesis", "--chain-id", "77", "--dkg-window-heights", "30"];
    let member_args: Vec<String> = members
        .iter()
        .map(|path| path.to_str().expect("path").to_string())
        .collect();
    genesis.extend(member_args.iter().map(String::as_str));
    let out = committee_path.to_str().expect("path").to_string();
    genesis.extend(["--out", &out]);
    shroud(&genesis);
    let text = std::fs::read_to_string(&committee_path).expect("genesis");
    assert!(!text.contains("public_key_set"), "no key in a genesis file");
    let configs: Vec<_> = (0..4)
        .map(|index| {
            write_node_file(
                &dir.path().join(format!("operator-{index}")),
                &committee_path,
            )
        })
        .collect();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs");
    // The harness's committee file is where the SDK looks for it.
    std::fs::copy(&committee_path, dir.path().join("committee.toml")).expect("copy");
    let mut cluster = Cluster {
        committee: load_committee(&committee_path).expect("committee"),
        dir,
        configs,
        logs,
        children: (0..4).map(|_| None).collect(),
    };
    for index in 0..4 {
        cluster.launch(index);
    }
    let sets = served_key_sets(&cluster, &[0, 1, 2, 3], Duration::from_secs(60));
    assert!(sets.iter().all(|set| *set == sets[0]), "one key: {sets:?}");
    for index in 0..4 {
        let key = key_status(&cluster, index).expect("status");
        assert_eq!(key["state"], "ready", "validator {index}: {key}");
        assert!(key["share_problem"].is_null());
        assert_eq!(excluded(&cluster, index), Vec::new());
        // The share is kept private to its owner.
        use std::os::unix::fs::PermissionsExt;
        let share = cluster
            .dir
            .path()
            .join(format!("operator-{index}/data/key-share.hex"));
        let mode = std::fs::metadata(share)
            .expect("share file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    certify_traffic(&mut cluster, &[0, 1, 2, 3], 6);
}

#[test]
fn a_dealer_that_sends_a_bad_share_or_equivocates_is_excluded_alike_everywhere() {
    // A bad share alone, an equivocation alone, then both from one dealer (a bad share to
    // validator 1, then a second dealing with another commitment): whichever the transcript
    // shows first excludes it.
    for (fault, reason) in [
        ("dkg_wrong_share_to = 1", "its share to validator 1"),
        ("dkg_equivocate = true", "two different dealings"),
        (
            "dkg_wrong_share_to = 1\ndkg_equivocate = true",
            "two different dealings|its share to validator 1",
        ),
    ] {
        let mut cluster = Cluster::start_dkg(
            4,
            20,
            |_| true,
            |index, text| {
                if index == 3 {
                    common::set_fault(text, fault);
                }
            },
        );
        served_key_sets(&cluster, &[0, 1, 2], Duration::from_secs(60));
        for index in 0..3 {
            let list = excluded(&cluster, index);
            assert_eq!(list.len(), 1, "validator {index}: {list:?}");
            assert_eq!(list[0].0, 3);
            assert!(
                reason.split('|').any(|reason| list[0].1.contains(reason)),
                "{fault}: {list:?}"
            );
            assert_eq!(list, excluded(&cluster, 0), "the same reason everywhere");
        }
        assert!(
            common::metric(&cluster, 0, "shroud_dkg_excluded_total") >= 1.0,
            "{fault}: the exclusion is counted"
        );
        certify_traffic(&mut cluster, &[0, 1, 2], 4);
    }
}

#[test]
fn two_absent_validators_stall_the_dkg_visibly_until_one_returns() {
    let mut cluster = Cluster::start_dkg(4, 10, |index| index < 2, |_, _| {});
    // Two of four cannot commit a height: the DKG waits, and says for whom.
    std::thread::sleep(Duration::from_secs(4));
    let key = key_status(&cluster, 0).expect("status");
    assert_eq!(key["state"], "forming", "{key}");
    assert_eq!(key["phase"], "dealing");
    let waiting: Vec<u64> = key["waiting_for"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(waiting, vec![0, 1, 2, 3], "{key}");
    let stalled = key["stalled"].as_str().expect("a stalled DKG says why");
    assert!(stalled.contains("needs 3 validators online"), "{stalled}");
    let status = cluster.get(0, "/v1/status").expect("status");
    assert_eq!(status["committed_height"], "0", "no quorum, no height");
    assert!(get_json(cluster.http(0), "/v1/encryption-key")
        .is_some_and(|body| body["error"]["code"] == "not_certified"));
    let ready = get_json(cluster.http(0), "/readyz").expect("answers");
    assert_eq!(ready["error"]["code"], "not_ready", "{ready}");
    assert!(ready["error"]["message"]
        .as_str()
        .is_some_and(|message| message.contains("still forming")));
    // One returns: three of four form the key; the absent one is excluded for not dealing.
    cluster.launch(2);
    served_key_sets(&cluster, &[0, 1, 2], Duration::from_secs(90));
    for index in 0..3 {
        let list = excluded(&cluster, index);
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0].0, 3);
        assert!(list[0].1.contains("no dealing"), "{list:?}");
    }
    certify_traffic(&mut cluster, &[0, 1, 2], 3);
}

#[test]
fn a_validator_killed_during_the_dkg_ends_with_the_same_key() {
    // Validator 3 starts late, so the dealing phase waits out its window: a wide moment to
    // kill validator 1 in the middle of the DKG.
    let mut cluster = Cluster::start_dkg(4, 20, |index| index < 3, |_, _| {});
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let key = key_status(&cluster, 1);
        let dealt = key
            .as_ref()
            .and_then(|key| key["dealt"].as_array().map(Vec::len))
            .unwrap_or(0);
        if dealt >= 1 {
            let key = key.expect("status");
            assert_eq!(key["state"], "forming", "killed during the DKG: {key}");
            break;
        }
        assert!(Instant::now() < deadline, "{}", cluster.logs_tail());
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    cluster.kill(1);
    // Validator 3 arrives now, so that three of four keep committing while validator 1's
    // peers notice its old connection is gone.
    cluster.launch(3);
    cluster.launch(1);
    let sets = served_key_sets(&cluster, &[0, 1, 2, 3], Duration::from_secs(120));
    eprintln!(
        "key formed {:.1} s after the kill, at committed height {:?}",
        started.elapsed().as_secs_f64(),
        common::committed_height(cluster.http(0))
    );
    assert!(sets.iter().all(|set| *set == sets[0]), "one key: {sets:?}");
    let key = key_status(&cluster, 1).expect("status");
    assert_eq!(key["state"], "ready", "{key}");
    assert!(key["share_problem"].is_null(), "{key}");
    certify_traffic(&mut cluster, &[0, 1, 2, 3], 3);
}
