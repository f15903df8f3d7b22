//! Prints the gas table of the light-client contract (BENCHMARKS.md): `submitOutput` for
//! committees of 4, 16, 64 and 100 with 2f+1 and with all signers, `verifyNamespace`, the
//! handover and the deployment. Gas is deterministic; this runs the real contract in revm
//! with the Prague precompiles.
//!
//! `cargo run -p shroud-l1 --example gas_table`

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Committee, Outputs, CHAIN_ID};
use shroud_l1::calldata::Anchor;
use shroud_l1::evm::LightClient;
use shroud_proofs::{items_root, NamespaceId};

const RING: u64 = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("| committee | signers | submitOutput (gas) | per absent signer |");
    println!("|---|---|---|---|");
    let mut namespace_rows = Vec::new();
    let mut other_rows = Vec::new();
    for size in [4usize, 16, 64, 100] {
        let committee = Committee::new(size as u8, size, 0);
        let anchor = Anchor {
            height: 0,
            output: [0; 32],
        };
        let mut client = LightClient::deploy(CHAIN_ID, 0, &committee.keys, anchor, RING)?
            .map_err(|e| e.to_string())?;
        let deployment = client.deployment_gas;
        let mut outputs = Outputs::new(0);
        // Fill the ring once, so every later write overwrites a non-zero slot.
        for _ in 0..=RING {
            let output = outputs.next();
            client
                .submit_output(&committee.certify(&output, &committee.all()))?
                .map_err(|e| e.to_string())?;
        }
        let all_certificate = committee.certify(&outputs.next(), &committee.all());
        let all = client
            .submit_output(&all_certificate)?
            .map_err(|e| e.to_string())?;
        if size == 100 {
            // Calldata gas (EIP-2028: 4 per zero byte, 16 per other byte).
            let data = shroud_l1::calldata::submit_output(&client.artefact, &all_certificate)?;
            let zeros = data.iter().filter(|byte| **byte == 0).count();
            let calldata_gas = 4 * zeros + 16 * (data.len() - zeros);
            other_rows.push(format!(
                "| submitOutput calldata at n = 100: {} bytes, {zeros} zero | {calldata_gas} |",
                data.len()
            ));
        }
        let quorum = committee.quorum();
        let output = outputs.next();
        let certificate = committee.certify(&output, &committee.first_quorum());
        let partial = client
            .submit_output(&certificate)?
            .map_err(|e| e.to_string())?;
        let absent = (size - quorum) as u64;
        let per_absent = (partial - all) / absent.max(1);
        println!("| {size} | all {size} | {all} | |");
        println!("| {size} | 2f+1 = {quorum} | {partial} | {per_absent} |");

        if size == 100 {
            for namespace in [10u64, 20] {
                let view = output
                    .namespace_output(NamespaceId(namespace), certificate.clone())
                    .ok_or("namespace output")?;
                let kind = if view.items.is_empty() {
                    "absence"
                } else {
                    "inclusion"
                };
                let (holds, gas) = client.verify_namespace(
                    output.header.height,
                    namespace,
                    items_root(&view.items),
                    &view.proof,
                    view.items.len() as u64,
                )?;
                assert!(holds);
                namespace_rows.push(format!(
                    "| verifyNamespace, {kind} ({} namespaces at the height) | {gas} | {} |",
                    output.namespaces.len(),
                    gas - 21_000
                ));
            }
            let next = Committee::new(200, 100, 1);
            let last = output.header;
            let handover =
                committee.hand_over(&next, last.height, last.digest(), &committee.first_quorum());
            let gas = client.hand_over(&handover)?.map_err(|e| e.to_string())?;
            other_rows.push(format!(
                "| handOver to a committee of 100 (2f+1 signers) | {gas} |"
            ));
        }
        other_rows.push(format!(
            "| deployment with a committee of {size} | {deployment} |"
        ));
    }
    println!();
    println!("| call | transaction gas | without the 21,000 base |");
    println!("|---|---|---|");
    for row in namespace_rows {
        println!("{row}");
    }
    println!();
    println!("| transaction | gas |");
    println!("|---|---|");
    for row in other_rows {
        println!("{row}");
    }
    Ok(())
}
