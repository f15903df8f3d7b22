//! The client commands of `shroud`: `tx submit`, `tx watch` and `tail`, through the SDK
//! against a running network (every answer verified against the committee file).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use shroud_proofs::{Bundle, Item, NamespaceId, TxId};
use shroud_sdk::{Client, Committee, Step};

/// Parses a namespace: decimal or `0x` hex.
pub fn parse_namespace(text: &str) -> anyhow::Result<NamespaceId> {
    let value = match text.strip_prefix("0x") {
        Some(digits) => u64::from_str_radix(digits, 16)?,
        None => text.parse()?,
    };
    Ok(NamespaceId(value))
}

async fn connect(committee: &Path, validators: &[usize]) -> anyhow::Result<Client> {
    let committee = Committee::load(committee)?;
    let validators: Vec<usize> = if validators.is_empty() {
        (0..committee.size()).collect()
    } else {
        validators.to_vec()
    };
    eprintln!(
        "connecting to {} validator{}…",
        validators.len(),
        if validators.len() == 1 { "" } else { "s" }
    );
    Client::connect(committee, &validators)
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "{error} (none of validators {validators:?} answered within {} s)",
                shroud_sdk::CONNECT_TIMEOUT.as_secs()
            )
        })
}

/// Connects and waits (up to a minute) until the committee's key is certified; the epoch key
/// certificate is fetched and checked against the committee's BLS keys.
async fn connect_with_key(committee: &Path, validators: &[usize]) -> anyhow::Result<Client> {
    let mut client = connect(committee, validators).await?;
    if !client.committee().has_key() {
        eprintln!("waiting for the committee to form and certify its key (DKG)…");
        client.wait_for_key(Duration::from_secs(60)).await?;
    }
    let key = client.fetch_epoch_key().await?;
    eprintln!(
        "epoch key of epoch {} certified by the committee",
        key.epoch
    );
    Ok(client)
}

/// `shroud tx submit`: one item per `--namespace`, each with the bytes of the matching
/// `--file` (or stdin for a single item); prints the transaction id, then follows the receipt
/// unless `no_wait`.
pub async fn submit(
    committee: &Path,
    validators: &[usize],
    namespaces: &[NamespaceId],
    files: &[PathBuf],
    no_wait: bool,
) -> anyhow::Result<()> {
    let items = read_items(namespaces, files)?;
    let client = connect_with_key(committee, validators).await?;
    let submitted = client.submit_bundle(&Bundle { items }).await?;
    println!("0x{}", submitted.tx_id.to_hex());
    eprintln!("accepted by validators {:?}", submitted.accepted_by);
    if !no_wait {
        watch_receipt(&client, submitted.tx_id, Duration::from_secs(120)).await?;
    }
    client.close();
    Ok(())
}

/// `shroud tx encrypt`: the bundle encrypted to the certified key, as 0x hex on stdout (its
/// transaction id on stderr), with an expiry set from the validators' certified height.
pub async fn encrypt(
    committee: &Path,
    validators: &[usize],
    namespaces: &[NamespaceId],
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let items = read_items(namespaces, files)?;
    let client = connect_with_key(committee, validators).await?;
    client.refresh_height().await?;
    let ciphertext = client.encrypt(&Bundle { items })?;
    client.close();
    eprintln!(
        "transaction 0x{}, valid through height {}",
        TxId::of(&ciphertext).to_hex(),
        client.valid_through()
    );
    println!("0x{}", hex::encode(&ciphertext));
    Ok(())
}

/// The items of a bundle: one per namespace, each with the bytes of the matching file (or
/// stdin for a single item).
fn read_items(namespaces: &[NamespaceId], files: &[PathBuf]) -> anyhow::Result<Vec<Item>> {
    if namespaces.is_empty() {
        bail!("give at least one --namespace");
    }
    let mut items = Vec::new();
    for (index, namespace) in namespaces.iter().enumerate() {
        let data = match files.get(index) {
            Some(path) => {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
            }
            None if namespaces.len() == 1 && files.is_empty() => {
                let mut data = Vec::new();
                std::io::stdin().read_to_end(&mut data)?;
                data
            }
            None => bail!("give one --file per --namespace (stdin serves a single item)"),
        };
        items.push(Item {
            namespace: *namespace,
            data,
        });
    }
    Ok(items)
}

/// `shroud tx watch ID`: follows a receipt to `certified`.
pub async fn watch(
    committee: &Path,
    validators: &[usize],
    id: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let bytes = hex::decode(id.strip_prefix("0x").unwrap_or(id)).context("the id is not hex")?;
    let id: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("a transaction id is 32 bytes"))?;
    let client = connect(committee, validators).await?;
    let tx_id = TxId(id);
    // An id that no validator asked knows (twice, a moment apart: one submitted just now is
    // known at once where it was accepted) is not waited for.
    for attempt in 0..2 {
        let status = client.status(tx_id).await?;
        let known = status.known
            || status.batched.is_some()
            || status.ordered.is_some()
            || status.certified.is_some();
        if known {
            break;
        }
        if attempt == 1 {
            client.close();
            bail!(
                "unknown transaction 0x{}: none of the {} validators asked knows it (never \
                 submitted, refused, or expired before it was ordered)",
                hex::encode(id),
                client.connected()
            );
        }
        tokio::time::sleep(UNKNOWN_GRACE).await;
    }
    watch_receipt(&client, tx_id, timeout).await?;
    client.close();
    Ok(())
}

/// How often `tail` says what it waits for while nothing new comes.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// How long `tx watch` waits before it calls an id unknown.
const UNKNOWN_GRACE: Duration = Duration::from_secs(2);

async fn watch_receipt(client: &Client, tx_id: TxId, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut receipts = client.receipts(tx_id);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let step = receipts.next(left).await?;
        println!("{}", describe(&step));
        if matches!(step, Step::Certified { .. }) {
            return Ok(());
        }
    }
}

fn describe(step: &Step) -> String {
    match step {
        Step::Accepted => "accepted".into(),
        Step::Batched {
            digest,
            certificate,
        } => format!(
            "batched in 0x{} ({})",
            hex::encode(&digest[..8]),
            if certificate.is_some() {
                "availability certificate verified"
            } else {
                "availability certificate not seen yet"
            }
        ),
        Step::Ordered {
            height,
            position,
            certificate,
        } => format!(
            "ordered at height {height}, position {position} ({})",
            if certificate.is_some() {
                "block certificate verified"
            } else {
                "block certificate pending"
            }
        ),
        Step::Decrypted => "decrypted".into(),
        Step::Failed(reason) => format!("failed: {}", reason.label()),
        Step::Certified {
            height, namespaces, ..
        } => {
            let names: Vec<String> = namespaces.iter().map(|n| n.namespace.to_string()).collect();
            format!(
                "certified at height {height} (output certificate and proofs verified; namespaces {})",
                names.join(", ")
            )
        }
    }
}

/// `shroud tail`: follows a namespace, printing verified items; stops after `heights` heights
/// if given.
pub async fn tail(
    committee: &Path,
    validators: &[usize],
    namespace: NamespaceId,
    from: u64,
    heights: Option<u64>,
) -> anyhow::Result<()> {
    let client = connect(committee, validators).await?;
    let mut subscription = client.subscribe(namespace, from);
    let mut seen = 0u64;
    let mut said_at: Option<Instant> = None;
    loop {
        let outputs = subscription.next(Duration::from_secs(5)).await?;
        if outputs.is_empty() && said_at.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
            // Nothing new: say what is awaited (on stderr; stdout keeps only items).
            let certified = client.refresh_height().await.ok();
            eprintln!(
                "waiting for height {} (certified so far: {})",
                subscription.next_height(),
                certified.map_or_else(|| "unknown".to_string(), |height| height.to_string())
            );
            said_at = Some(Instant::now());
        }
        for output in outputs {
            let height = output.certificate.header.height;
            seen += 1;
            for item in &output.items {
                // Items are printed escaped (a newline or tab in an item cannot break the
                // one-line-per-item format); a reader that stops early (`| head`) ends the
                // command quietly instead of a panic on the broken pipe.
                let line = format!(
                    "{height}\t{}.{}\t0x{}\t{}",
                    item.position,
                    item.item_index,
                    item.tx_id.to_hex(),
                    printable(&String::from_utf8_lossy(&item.data))
                );
                let mut out = std::io::stdout().lock();
                let written = writeln!(out, "{line}").and_then(|()| out.flush());
                match written {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                        client.close();
                        return Ok(());
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            if heights.is_some_and(|limit| seen >= limit) {
                client.close();
                return Ok(());
            }
        }
    }
}

/// `text` with its control characters and backslashes escaped (`\n`, `\t`, `\u{1b}`, `\\`),
/// so that one item stays one line.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_control() || character == '\\' {
            out.extend(character.escape_default());
        } else {
            out.push(character);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn printed_items_stay_on_one_line() {
        assert_eq!(super::printable("a\nb\tc\\d é"), "a\\nb\\tc\\\\d é");
    }
}
