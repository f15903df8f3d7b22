//! What `/metrics` exports besides the counters the code bumps: a description of every metric
//! (the `# HELP` lines, from [`CATALOG`]; a test checks that every metric the code names is
//! listed), the build (`shroud_build_info`), and the process itself (memory, CPU, open files,
//! threads), read from `/proc` every few seconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{describe_counter, describe_gauge, describe_histogram, gauge};

/// A metric's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution (quantiles and sum).
    Histogram,
}

use Kind::{Counter, Gauge, Histogram};

/// Every metric the node exports: kind, name, meaning (labels in brackets).
pub const CATALOG: &[(Kind, &str, &str)] = &[
    // Admission and batches.
    (Counter, "shroud_admission_accepted_total", "Client ciphertexts accepted (durable in the pending log)."),
    (Counter, "shroud_admission_rejected_total", "Client ciphertexts refused, by reason [reason]."),
    (Histogram, "shroud_ingress_group_seconds", "Time to admit one group of submissions (checks and one fdatasync)."),
    (Histogram, "shroud_ingress_group_size", "Submissions admitted per group (per fdatasync)."),
    (Gauge, "shroud_mempool_size", "Accepted ciphertexts not yet in a batch."),
    (Counter, "shroud_batches_total", "Own batches cut."),
    (Histogram, "shroud_batch_transactions", "Transactions per own batch."),
    (Histogram, "shroud_batch_certificate_seconds", "From an own batch's cut to its availability certificate."),
    (Counter, "shroud_batch_certificates_total", "Own batches certified."),
    (Counter, "shroud_batch_certificates_rejected_total", "Peers' batch certificates refused (sender, or a signature that fails)."),
    (Counter, "shroud_batch_acks_rejected_total", "Acknowledgements of own batches refused."),
    (Counter, "shroud_batches_rejected_total", "Peers' batches refused (limits, epoch, expiry, unasked)."),
    (Counter, "shroud_batches_refused_total", "Peers' batches refused and not acknowledged [reason]: an invalid ciphertext, or the author's quota."),
    (Counter, "shroud_batches_refused_again_total", "Batches refused before and sent again."),
    (Counter, "shroud_batches_expired_total", "Batches dropped past their validity."),
    (Counter, "shroud_batch_fetches_total", "Batches asked of peers (missing at commit)."),
    (Gauge, "shroud_batch_checks", "Peers' batches in the ciphertext check [state]."),
    (Histogram, "shroud_batch_check_seconds", "Time to check one peer batch's ciphertexts."),
    (Counter, "shroud_batches_checked_total", "Peers' batches checked here."),
    (Counter, "shroud_batch_checks_deferred_total", "Batch checks left to designated checkers."),
    (Counter, "shroud_batch_checks_fallback_total", "Batch checks done here because no certificate came in time."),
    (Counter, "shroud_batch_checks_over_quota_total", "Batch checks refused: the author has too many waiting."),
    // Consensus.
    (Gauge, "shroud_consensus_view", "Current consensus view."),
    (Gauge, "shroud_committed_height", "Highest committed block height."),
    (Counter, "shroud_proposals_total", "Blocks proposed."),
    (Counter, "shroud_proposals_received_total", "Proposals received and verified."),
    (Counter, "shroud_votes_total", "Votes sent."),
    (Counter, "shroud_votes_received_total", "Votes received and verified."),
    (Counter, "shroud_votes_dropped_total", "Votes dropped unchecked (stale, not for us to gather)."),
    (Counter, "shroud_timeouts_total", "Timeouts sent."),
    (Counter, "shroud_timeouts_received_total", "Timeouts received and verified."),
    (Counter, "shroud_consensus_messages_rejected_total", "Consensus messages refused by verification."),
    (Counter, "shroud_safety_violations_total", "Safety rule violations the state machine caught in its own outputs (must stay 0)."),
    (Counter, "shroud_sync_requests_total", "State-sync requests sent."),
    (Counter, "shroud_sync_answers_total", "State-sync answers served."),
    (Counter, "shroud_sync_stranded_total", "State-sync answers saying the peer no longer keeps what this node needs."),
    (Gauge, "shroud_sync_target_height", "The height state sync catches up to (0 when not syncing)."),
    (Counter, "shroud_transactions_committed_total", "Transactions placed in the committed order."),
    (Histogram, "shroud_commit_process_seconds", "Time to process one committed height into the order."),
    (Counter, "shroud_processed_flushes_total", "Flushes of processed heights (one per group of heights processed together)."),
    (Gauge, "shroud_committed_index_entries", "Entries in the committed-transaction index (validity window)."),
    (Histogram, "shroud_committed_index_merge_seconds", "Time to merge a height into the committed-transaction index."),
    (Counter, "shroud_share_releases_total", "Heights released to the decryption stage (their order final)."),
    (Gauge, "shroud_release_height", "Highest height released to the decryption stage."),
    // Decryption and outputs.
    (Counter, "shroud_decryption_shares_sent_total", "Own decryption share messages sent."),
    (Counter, "shroud_decryption_shares_received_total", "Peers' decryption share messages received."),
    (Counter, "shroud_decryption_shares_early_total", "Share messages held for a height not set up yet."),
    (Counter, "shroud_decryption_shares_invalid_total", "Senders whose shares failed their proof."),
    (Counter, "shroud_decryption_messages_rejected_total", "Decryption messages refused [kind, reason]."),
    (Counter, "shroud_decryption_combined_accepted_total", "Heights decided by the combiner's checked points."),
    (Counter, "shroud_decryption_answered_points_accepted_total", "Heights decided by points a peer answered a request with."),
    (Counter, "shroud_decryption_combiner_late_total", "Heights combined here because the combiner was late."),
    (Counter, "shroud_decryption_catch_up_requests_total", "Catch-up requests for spans of heights."),
    (Counter, "shroud_decryption_requests_ignored_total", "Peers' decryption requests over their rate."),
    (Counter, "shroud_decryption_events_dropped_total", "Events dropped at the decryption stage's full queue."),
    (Counter, "shroud_decryption_evidence_too_large_total", "Decryption evidence answers over the frame limit."),
    (Counter, "shroud_decryption_failures_total", "Positions that failed to decrypt, by reason [reason]."),
    (Counter, "shroud_transactions_decrypted_total", "Positions decrypted."),
    (Histogram, "shroud_decryption_latency_seconds", "From a height's release to its output."),
    (Gauge, "shroud_output_height", "Highest height whose output is built."),
    (Gauge, "shroud_certified_height", "Every height up to this one has an output certificate."),
    (Counter, "shroud_outputs_certified_total", "Output certificates formed or taken."),
    // Key and DKG.
    (Gauge, "shroud_dkg_round", "The DKG's current round."),
    (Gauge, "shroud_dkg_complete", "1 once the DKG formed the key."),
    (Gauge, "shroud_dkg_seconds", "Seconds the DKG took."),
    (Counter, "shroud_dkg_rounds_failed_total", "DKG rounds that failed and restarted."),
    (Counter, "shroud_dkg_excluded_total", "Dealers the DKG excluded."),
    (Counter, "shroud_dkg_complaints_refused_total", "DKG complaints refused."),
    (Counter, "shroud_dkg_messages_committed_total", "DKG messages ordered by consensus."),
    (Counter, "shroud_dkg_messages_ignored_total", "Ordered DKG messages ignored (late, duplicate)."),
    (Counter, "shroud_dkg_posts_ignored_total", "DKG posts from peers ignored."),
    (Counter, "shroud_dkg_posts_rejected_total", "DKG posts from peers refused."),
    (Counter, "shroud_epoch_key_votes_rejected_total", "Epoch-key votes refused."),
    // Peers and clients.
    (Gauge, "shroud_quic_connections", "Open validator connections [direction]."),
    (Counter, "shroud_peer_handshakes_refused_total", "Validator handshakes refused (unpinned certificate)."),
    (Counter, "shroud_frames_rejected_total", "Frames that did not decode [reason]."),
    (Counter, "shroud_peer_frames_dropped_total", "Frames to a peer dropped at a full lane [lane, full]."),
    (Counter, "shroud_peer_answer_bytes_total", "Bytes answered to peers' requests."),
    (Counter, "shroud_peer_answers_refused_total", "Peers' requests not answered: over their budget [kind]."),
    (Counter, "shroud_peer_penalties_total", "Misbehaviour charged to peers [offence]."),
    (Counter, "shroud_peer_bans_total", "Peers banned (connection closed, reconnections refused)."),
    (Counter, "shroud_peer_connections_refused_total", "Peer connections refused [reason]."),
    (Gauge, "shroud_client_connections", "Open client connections."),
    (Counter, "shroud_client_connections_refused_total", "Client connections refused at a cap."),
    (Counter, "shroud_http_connections_refused_total", "HTTP connections refused at a cap."),
    (Counter, "shroud_http_connections_expired_total", "HTTP connections closed at a timeout."),
    (Counter, "shroud_http_errors_total", "HTTP error answers [code]."),
    // Storage.
    (Counter, "shroud_pending_log_torn_records_total", "Torn records dropped from the pending log at start (never acknowledged)."),
    (Gauge, "shroud_storage_kept_from_height", "Lowest height whose records are kept."),
    (Counter, "shroud_storage_pruned_heights_total", "Heights pruned."),
    // This module.
    (Gauge, "shroud_build_info", "1, labelled with the build [version, protocol]."),
    (Gauge, "process_resident_memory_bytes", "Resident memory."),
    (Gauge, "process_virtual_memory_bytes", "Virtual memory."),
    (Gauge, "process_cpu_seconds_total", "CPU time, user and system, in seconds (only goes up)."),
    (Gauge, "process_open_fds", "Open file descriptors."),
    (Gauge, "process_max_fds", "The open file descriptor limit."),
    (Gauge, "process_threads", "Threads."),
    (Gauge, "process_start_time_seconds", "Start time, in seconds since the Unix epoch."),
];

/// Describes every metric to the installed recorder (the `# HELP` lines) and sets the build's.
pub fn describe() {
    for (kind, name, help) in CATALOG {
        match kind {
            Counter => describe_counter!(*name, *help),
            Gauge => describe_gauge!(*name, *help),
            Histogram => describe_histogram!(*name, *help),
        }
    }
    gauge!(
        "shroud_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "protocol" => shroud_network::PROTOCOL_VERSION.to_string()
    )
    .set(1.0);
}

/// Ticks per second in `/proc`'s CPU times (`USER_HZ`, 100 in Linux's ABI).
const USER_HZ: f64 = 100.0;
/// How often the process metrics are read.
const PROCESS_INTERVAL: Duration = Duration::from_secs(5);

/// Reads the process metrics every few seconds, for as long as the runtime runs (on a system
/// without `/proc` it reads nothing and stops).
pub async fn process_metrics() {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    gauge!("process_start_time_seconds").set(started);
    loop {
        let Some(sample) = read_process() else {
            return;
        };
        if let Some(resident) = sample.resident_bytes {
            gauge!("process_resident_memory_bytes").set(resident);
        }
        gauge!("process_virtual_memory_bytes").set(sample.virtual_bytes);
        gauge!("process_threads").set(sample.threads);
        gauge!("process_open_fds").set(sample.open_fds);
        if let Some(max) = sample.max_fds {
            gauge!("process_max_fds").set(max);
        }
        // Fractional seconds: a gauge (the recorder's counters are whole numbers), which
        // only ever goes up, so `rate()` reads it as it would a counter.
        gauge!("process_cpu_seconds_total").set(sample.cpu_ticks / USER_HZ);
        tokio::time::sleep(PROCESS_INTERVAL).await;
    }
}

/// One reading of `/proc/self`.
#[derive(Debug, Default, PartialEq)]
struct ProcessSample {
    resident_bytes: Option<f64>,
    virtual_bytes: f64,
    threads: f64,
    cpu_ticks: f64,
    open_fds: f64,
    max_fds: Option<f64>,
}

fn read_process() -> Option<ProcessSample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let mut sample = parse_stat(&stat)?;
    sample.open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    sample.resident_bytes = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| parse_resident(&status));
    sample.max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| parse_max_fds(&limits));
    Some(sample)
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn parse_resident(status: &str) -> Option<f64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Fields of `/proc/self/stat` after the command name (which may hold spaces and brackets):
/// utime and stime (14, 15), threads (20) and vsize (23), numbered from 1.
fn parse_stat(stat: &str) -> Option<ProcessSample> {
    let after = stat.rsplit_once(')')?.1;
    // `after` starts at field 3 (the state).
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |number: usize| -> Option<f64> { fields.get(number - 3)?.parse().ok() };
    Some(ProcessSample {
        cpu_ticks: field(14)? + field(15)?,
        threads: field(20)?,
        virtual_bytes: field(23)?,
        ..ProcessSample::default()
    })
}

fn parse_max_fds(limits: &str) -> Option<f64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_is_read_past_a_command_name_with_spaces_and_brackets() {
        let stat = "4242 (shroud (a) b) S 1 4242 4242 0 -1 4194560 5000 0 0 0 \
                    250 50 0 0 20 0 17 0 123456 1048576000 25600 18446744073709551615";
        let sample = parse_stat(stat).expect("parsed");
        assert_eq!(sample.cpu_ticks, 300.0);
        assert_eq!(sample.threads, 17.0);
        assert_eq!(sample.virtual_bytes, 1_048_576_000.0);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(
            parse_resident("Name:\tshroud\nVmRSS:\t   61440 kB\nThreads:\t17\n"),
            Some(61_440.0 * 1024.0)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024.0));
    }

    #[test]
    fn this_process_reads_itself() {
        let sample = read_process().expect("/proc/self");
        assert!(sample.resident_bytes.is_some_and(|bytes| bytes > 0.0));
        assert!(sample.threads >= 1.0 && sample.open_fds >= 1.0);
    }

    /// Every metric name the node's code sets is in the catalog, and the catalog names nothing
    /// that no code sets (so `# HELP` covers all of `/metrics`, and stale entries go).
    #[test]
    fn the_catalog_lists_exactly_the_metrics_the_code_sets() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut used = std::collections::BTreeSet::new();
        for folder in ["src", "../storage/src", "../network/src"] {
            collect_names(&root.join(folder), &mut used);
        }
        let listed: std::collections::BTreeSet<String> = CATALOG
            .iter()
            .map(|(_, name, _)| name.to_string())
            .collect();
        let missing: Vec<_> = used.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "metrics without a description: {missing:?}"
        );
        let stale: Vec<_> = listed
            .difference(&used)
            .filter(|name| !name.starts_with("process_") && *name != "shroud_build_info")
            .collect();
        assert!(stale.is_empty(), "described but never set: {stale:?}");
        let mut names: Vec<&str> = CATALOG.iter().map(|(_, name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len(), "a metric is listed twice");
    }

    /// Every query of the Grafana dashboard in the repository names metrics the node
    /// exports (a renamed metric would leave a panel silently empty).
    #[test]
    fn the_dashboard_queries_only_exported_metrics() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/dashboard.json")).expect("JSON");
        let exported: std::collections::BTreeSet<&str> =
            CATALOG.iter().map(|(_, name, _)| *name).collect();
        let mut queried = 0;
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().expect("a query");
                let mut names = Vec::new();
                let mut rest = expr;
                while let Some(at) = rest.find(|c: char| c.is_ascii_lowercase()) {
                    let tail = &rest[at..];
                    let end = tail
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(tail.len());
                    let word = &tail[..end];
                    if word.starts_with("shroud_") || word.starts_with("process_") {
                        names.push(word);
                    }
                    rest = &tail[end..];
                }
                assert!(!names.is_empty(), "a query with no metric: {expr}");
                for name in names {
                    assert!(
                        exported.contains(name),
                        "the dashboard queries {name}, not exported"
                    );
                    queried += 1;
                }
            }
        }
        assert!(queried >= 20, "the dashboard lost its panels");
    }

    /// Names in `counter!("…"`, `gauge!("…"` and `histogram!("…"` calls (across line breaks).
    fn collect_names(folder: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
        for entry in std::fs::read_dir(folder).expect("source folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                collect_names(&path, out);
                continue;
            }
            if path.extension().and_then(|ext| ext.to_str()) != Some("rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            for macro_name in ["counter!(", "gauge!(", "histogram!("] {
                for (at, _) in text.match_indices(macro_name) {
                    let rest = text[at + macro_name.len()..].trim_start();
                    let Some(rest) = rest.strip_prefix('"') else {
                        continue;
                    };
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    if !name.is_empty() && rest[name.len()..].starts_with('"') {
                        out.insert(name);
                    }
                }
            }
        }
    }
}
