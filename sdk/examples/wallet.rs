//! A wallet: checks the committee's certificate of the epoch key, encrypts a cross-rollup
//! bundle (one item for each of two rollups), submits it to two validators, and follows its
//! receipt until it is certified, printing every step with its evidence.
//!
//! ```sh
//! cargo run -p shroud-sdk --example wallet -- COMMITTEE_FILE [NAMESPACE_A NAMESPACE_B]
//! ```
//!
//! The last line is `CERTIFIED tx=<hex> height=<h>`.

use std::time::Duration;

use shroud_sdk::{Bundle, Client, Committee, Item, NamespaceId, Step};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        return Err("usage: wallet COMMITTEE_FILE [NAMESPACE_A NAMESPACE_B]".into());
    };
    let namespace =
        |index: usize, default: u64| -> Result<NamespaceId, Box<dyn std::error::Error>> {
            Ok(NamespaceId(match args.get(index) {
                Some(text) => text.parse()?,
                None => default,
            }))
        };
    let (rollup_a, rollup_b) = (namespace(1, 1)?, namespace(2, 2)?);
    let committee = Committee::load(std::path::Path::new(path))?;
    let mut client = Client::connect(committee, &[0, 1]).await?;
    // A committee that just started may still be forming its key (its DKG): wait for the
    // certificate of 2f+1 validators, then encrypt only to the key it names.
    client.wait_for_key(Duration::from_secs(60)).await?;
    let key = client.fetch_epoch_key().await?;
    println!(
        "epoch key for chain {} epoch {} certified by the committee",
        key.chain_id, key.epoch
    );

    let bundle = Bundle {
        items: vec![
            Item {
                namespace: rollup_a,
                data: b"swap 100 USDC for ETH on rollup A".to_vec(),
            },
            Item {
                namespace: rollup_b,
                data: b"bridge the ETH to rollup B".to_vec(),
            },
        ],
    };
    let submitted = client.submit_bundle(&bundle).await?;
    println!(
        "submitted {} (accepted by validators {:?})",
        submitted.tx_id.to_hex(),
        submitted.accepted_by
    );

    let mut receipts = client.receipts(submitted.tx_id);
    let steps = receipts.until_certified(Duration::from_secs(60)).await?;
    for step in &steps {
        match step {
            Step::Accepted => println!("accepted"),
            Step::Batched {
                digest,
                certificate,
            } => println!(
                "batched in {} ({})",
                hex(&digest[..8]),
                if certificate.is_some() {
                    "availability certificate verified"
                } else {
                    "certificate not yet seen"
                }
            ),
            Step::Ordered {
                height,
                position,
                certificate,
            } => println!(
                "ordered at height {height}, position {position} ({})",
                if certificate.is_some() {
                    "block certificate verified"
                } else {
                    "block certificate pending"
                }
            ),
            Step::Decrypted => println!("decrypted"),
            Step::Failed(reason) => println!("failed: {}", reason.label()),
            Step::Certified {
                height, namespaces, ..
            } => {
                for output in namespaces {
                    println!(
                        "certified at height {height} in namespace {}: {} items, proofs verified",
                        output.namespace,
                        output.items.len()
                    );
                }
                println!("CERTIFIED tx={} height={height}", submitted.tx_id.to_hex());
            }
        }
    }
    client.close();
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
