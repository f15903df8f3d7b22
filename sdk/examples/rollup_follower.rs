//! A rollup node's follower: reads its namespace height by height from a validator, verifying
//! every output (certificate, inclusion or absence proof, bundle sibling evidence, parent
//! link), and prints its items.
//!
//! ```sh
//! cargo run -p shroud-sdk --example rollup_follower -- COMMITTEE_FILE NAMESPACE [FROM_HEIGHT] [--until-tx HEX] [--heights N]
//! ```
//!
//! With `--until-tx` it stops once that transaction's item is seen and prints
//! `FOUND tx=<hex> height=<h>`; with `--heights` it stops after that many heights.

use std::time::{Duration, Instant};

use shroud_sdk::{Client, Committee, NamespaceId};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: rollup_follower COMMITTEE_FILE NAMESPACE [FROM_HEIGHT] [--until-tx HEX] [--heights N]";
    let (Some(path), Some(namespace)) = (args.first(), args.get(1)) else {
        return Err(usage.into());
    };
    let namespace = NamespaceId(namespace.parse()?);
    let mut from = 1u64;
    let mut until_tx: Option<String> = None;
    let mut heights: Option<u64> = None;
    let mut rest = args[2..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--until-tx" => until_tx = Some(rest.next().ok_or(usage)?.to_lowercase()),
            "--heights" => heights = Some(rest.next().ok_or(usage)?.parse()?),
            number => from = number.parse()?,
        }
    }
    let committee = Committee::load(std::path::Path::new(path))?;
    let client = Client::connect(committee, &[1, 2, 0]).await?;
    let mut subscription = client.subscribe(namespace, from);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen_heights = 0u64;
    while Instant::now() < deadline {
        for output in subscription.next(Duration::from_secs(2)).await? {
            let height = output.certificate.header.height;
            seen_heights += 1;
            if output.items.is_empty() {
                println!("height {height}: no items (absence proved)");
            }
            for item in &output.items {
                let sibling = output
                    .bundles
                    .iter()
                    .find(|bundle| bundle.position == item.position)
                    .map(|bundle| {
                        format!(" (bundle of {}, siblings proved)", bundle.commitments.len())
                    })
                    .unwrap_or_default();
                println!(
                    "height {height} position {}.{}: {}{sibling}",
                    item.position,
                    item.item_index,
                    String::from_utf8_lossy(&item.data)
                );
                if until_tx.as_deref() == Some(item.tx_id.to_hex().as_str()) {
                    println!("FOUND tx={} height={height}", item.tx_id.to_hex());
                    client.close();
                    return Ok(());
                }
            }
            if heights.is_some_and(|limit| seen_heights >= limit) {
                client.close();
                return Ok(());
            }
        }
    }
    client.close();
    Err("timed out".into())
}
