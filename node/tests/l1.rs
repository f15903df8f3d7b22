//! The L1 light-client contract on certificates from a running network: four `shroud run`
//! validators order, decrypt and certify; a rollup follower reads its namespace through the
//! SDK from height 1; every certificate it received goes to the contract (in revm, Prague
//! precompiles) in height order, and every namespace proof, inclusion or absence, verifies
//! there too. Tampered copies of real certificates are refused.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{connect_sdk as connect, runtime, sdk_committee, Cluster};
use shroud_l1::calldata::{self, Anchor};
use shroud_l1::evm::LightClient;
use shroud_proofs::{items_root, Bundle, Item, NamespaceId, NamespaceOutput, TxId};

const ROLLUP: NamespaceId = NamespaceId(1);
const OTHER: NamespaceId = NamespaceId(2);

#[test]
fn certificates_from_a_running_network_verify_on_l1() {
    let cluster = Cluster::start(4);
    let committee = sdk_committee(&cluster);
    let runtime = runtime();

    let outputs: Vec<NamespaceOutput> = runtime.block_on(async {
        let client = connect(&committee, &[0, 1]).await;
        let mut wanted = HashSet::new();
        for i in 0..24 {
            let mut items = vec![Item {
                namespace: if i % 3 == 0 { OTHER } else { ROLLUP },
                data: format!("l1 test {i}").into_bytes(),
            }];
            if i % 4 == 0 {
                items.push(Item {
                    namespace: ROLLUP,
                    data: format!("l1 test {i} leg").into_bytes(),
                });
            }
            let touches = items.iter().any(|item| item.namespace == ROLLUP);
            let submitted = client
                .submit_bundle(&Bundle { items })
                .await
                .expect("accepted");
            if touches {
                wanted.insert(submitted.tx_id);
            }
        }
        // Follow the rollup from height 1: every height, items or not, comes with its
        // certificate and proof, each verified by the SDK.
        let mut subscription = client.subscribe(ROLLUP, 1);
        let mut outputs = Vec::new();
        let mut seen: HashSet<TxId> = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !wanted.is_subset(&seen) {
            assert!(
                Instant::now() < deadline,
                "saw {} of {}",
                seen.len(),
                wanted.len()
            );
            for output in subscription
                .next(Duration::from_secs(2))
                .await
                .expect("verified")
            {
                seen.extend(output.items.iter().map(|item| item.tx_id));
                outputs.push(output);
            }
        }
        client.close();
        outputs
    });
    drop(cluster);

    assert!(outputs.len() >= 2, "{} heights", outputs.len());
    let mut client = LightClient::deploy(
        committee.chain_id(),
        committee.epoch(),
        committee.keys(),
        Anchor {
            height: 0,
            output: [0; 32],
        },
        4096,
    )
    .expect("evm")
    .expect("deployed");

    let (mut inclusions, mut absences) = (0, 0);
    for (index, output) in outputs.iter().enumerate() {
        let certificate = &output.certificate;
        assert_eq!(
            certificate.header.height,
            index as u64 + 1,
            "heights in order"
        );
        if index == 0 {
            // A real certificate, tampered, is refused before the real one lands.
            let mut tampered = certificate.clone();
            tampered.header.payload_root[0] ^= 1;
            let refused = client.submit_output(&tampered).expect("evm");
            assert_eq!(refused.expect_err("tampered header").error, "BadSignature");
            let mut data =
                calldata::submit_output(&client.artefact, certificate).expect("calldata");
            let last = data.len() - 1;
            data[last] ^= 1;
            assert!(
                client.send_raw(data).expect("evm").is_err(),
                "tampered signature"
            );
        }
        let gas = client
            .submit_output(certificate)
            .expect("evm")
            .unwrap_or_else(|refusal| panic!("height {} refused: {refusal}", index + 1));
        // The first lap of the ring writes fresh slots (about 20,000 gas more each); the
        // steady-state budget is asserted in `shroud-l1`'s tests.
        assert!(gas < 260_000, "a 4-validator certificate used {gas} gas");
        let (holds, _) = client
            .verify_namespace(
                certificate.header.height,
                ROLLUP.0,
                items_root(&output.items),
                &output.proof,
                output.items.len() as u64,
            )
            .expect("evm");
        assert!(holds, "namespace proof at height {}", index + 1);
        if output.items.is_empty() {
            absences += 1;
        } else {
            inclusions += 1;
        }
    }
    assert!(inclusions > 0, "some heights hold the rollup's items");
    assert_eq!(
        client.last_output().expect("view"),
        outputs.last().expect("outputs").certificate.header.digest()
    );
    println!(
        "{} heights certified on L1: {inclusions} with items, {absences} without",
        outputs.len()
    );
}
