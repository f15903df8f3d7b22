//! Retention on a running 4-validator network with `[storage] retain_heights = 256` and a
//! validity window of 128 heights: heights far below the certified head are pruned at every
//! validator, with the ordering entries they made; a reader asking for them is told so (HTTP
//! 410 `pruned`, `SdkError::Pruned`), a transaction of a pruned height is unknown again, while
//! the kept heights still serve verified outputs; and a validator restarted after pruning (its
//! consensus store pruned too) resumes and keeps certifying.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use serde_json::Value;
use shroud_sdk::{NamespaceId, SdkError};

const RETAIN: u64 = 256;
const VALIDITY: u64 = 128;

fn status(cluster: &Cluster, index: usize) -> Value {
    cluster.get(index, "/status").expect("status")
}

fn field(value: &Value, name: &str) -> u64 {
    common::u64_of(&value[name]).unwrap_or_else(|| panic!("{name} in {value}"))
}

/// Waits until `check` holds for the validator's status.
fn wait_status(cluster: &Cluster, index: usize, within: Duration, check: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = cluster.get(index, "/status") {
            if check(&value) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "validator {index} never got there: {:?}; logs in {}",
            cluster.get(index, "/status"),
            cluster.logs.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn pruned_heights_are_refused_explicitly_and_a_restarted_validator_resumes() {
    let mut cluster = Cluster::start_with_validity(4, Some(VALIDITY), |_, text| {
        *text = text.replace(
            "retain_heights = 1000000",
            &format!("retain_heights = {RETAIN}"),
        );
        assert!(
            text.contains(&format!("retain_heights = {RETAIN}")),
            "{text}"
        );
    });
    let runtime = common::runtime();
    wait_status(&cluster, 0, Duration::from_secs(60), |value| {
        common::u64_of(&value["certified_height"]).is_some()
    });
    let through = field(&status(&cluster, 0), "certified_height") + VALIDITY / 2;
    let early = runtime.block_on(common::submit_valid_through(
        &cluster.committee,
        &[0, 1, 2, 3],
        8,
        1,
        through,
    ));
    cluster.wait_ordered(&[0, 1, 2, 3], 8, Duration::from_secs(60));
    let tx = &early[0];
    let ordered_at = common::u64_of(
        &cluster.get(0, &format!("/v1/tx/0x{tx}")).expect("status")["ordered"]["height"],
    )
    .expect("ordered height");

    // Every validator prunes once it is RETAIN heights past the transaction's height.
    for index in 0..4 {
        wait_status(&cluster, index, Duration::from_secs(120), |value| {
            field(value, "kept_from_height") > ordered_at
        });
        let kept_from = field(&status(&cluster, index), "kept_from_height");
        let certified = field(&status(&cluster, index), "certified_height");
        assert!(
            certified.saturating_sub(kept_from) >= RETAIN - 1,
            "validator {index} pruned too far: kept from {kept_from}, certified {certified}"
        );
        let receipt = cluster
            .get(index, &format!("/v1/tx/0x{tx}"))
            .expect("receipt");
        // Its entry went with its height (ADR 0008): the validator no longer knows it.
        assert_eq!(receipt["error"]["code"], "unknown_tx", "{receipt}");
        let refused = cluster
            .get(index, &format!("/v1/outputs/{ordered_at}"))
            .expect("answer");
        assert_eq!(refused["error"]["code"], "pruned", "{refused}");
        let refused = cluster
            .get(index, &format!("/v1/namespaces/1/outputs/{ordered_at}"))
            .expect("answer");
        assert_eq!(refused["error"]["code"], "pruned", "{refused}");
        let refused = cluster.get(index, "/order?from=0").expect("answer");
        assert_eq!(refused["error"]["code"], "pruned", "{refused}");
        let kept = cluster
            .get(index, &format!("/v1/outputs/{}", kept_from + 1))
            .expect("kept output");
        assert!(kept["header"].is_object(), "{kept}");
        assert!(common::metric(&cluster, index, "shroud_storage_pruned_heights_total") > 0.0);
    }

    // The SDK says the history is pruned everywhere, and reads the kept heights verified.
    let committee = common::sdk_committee(&cluster);
    runtime.block_on(async {
        let client = common::connect_sdk(&committee, &[0, 1, 2, 3]).await;
        let mut old = client.subscribe(NamespaceId(1), 1);
        match old.next(Duration::from_millis(100)).await {
            Err(SdkError::Pruned { height, kept_from }) => {
                assert_eq!(height, 1);
                assert!(kept_from.is_some_and(|kept| kept > ordered_at));
            }
            other => panic!("expected a pruned answer, got {other:?}"),
        }
        let forgotten = client
            .status(shroud_sdk::TxId(hex_id(tx)))
            .await
            .expect("status");
        assert!(!forgotten.known, "{forgotten:?}");
        let kept_from = (0..4)
            .map(|index| field(&status(&cluster, index), "kept_from_height"))
            .max()
            .expect("four validators");
        let mut recent = client.subscribe(NamespaceId(1), kept_from + RETAIN / 2);
        let outputs = recent
            .next(Duration::from_secs(5))
            .await
            .expect("kept heights verify");
        assert!(!outputs.is_empty());
        client.close();
    });

    // A node store that lost its history (wiped here) next to a pruned consensus store cannot
    // process the pruned heights again: refused at start, naming both stores.
    cluster.kill(2);
    let data = cluster.dir.path().join("validator-2/data");
    let kept = cluster.dir.path().join("kept-node-store");
    std::fs::rename(data.join("node"), &kept).expect("move the node store aside");
    cluster.launch(2);
    let exit = cluster.wait_exit(2);
    assert!(!exit.success());
    let log = std::fs::read_to_string(cluster.logs.join("validator-2.log")).expect("log");
    assert!(
        log.contains("stores disagree")
            && log.contains("keeps committed blocks only from height")
            && log.contains(&data.join("node").display().to_string()),
        "{log}"
    );
    std::fs::remove_dir_all(data.join("node")).expect("remove the new node store");
    std::fs::rename(&kept, data.join("node")).expect("put the node store back");

    // A validator restarted after pruning recovers from its pruned stores and catches up.
    let before = field(&status(&cluster, 0), "certified_height");
    cluster.launch(2);
    wait_status(&cluster, 2, Duration::from_secs(120), |value| {
        field(value, "certified_height") >= before + RETAIN
    });
    let through = field(&status(&cluster, 2), "certified_height") + VALIDITY / 2;
    let late = runtime.block_on(common::submit_valid_through(
        &cluster.committee,
        &[2],
        4,
        2,
        through,
    ));
    assert_eq!(late.len(), 4);
    cluster.wait_ordered(&[0, 1, 2, 3], 12, Duration::from_secs(60));
    let order = cluster
        .get(2, &format!("/v1/tx/0x{}", late[0]))
        .expect("receipt");
    assert_ne!(order["status"], "accepted", "{order}");
}

fn hex_id(text: &str) -> [u8; 32] {
    let bytes = hex::decode(text).expect("hex");
    bytes.try_into().expect("32 bytes")
}
