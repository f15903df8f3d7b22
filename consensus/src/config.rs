//! Configuration of the consensus state machine, with the limits on peer input.

use thiserror::Error;

/// Bounds on what peers can make this node hold or process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest block payload accepted.
    pub payload_bytes_max: usize,
    /// Most blocks asked for, or accepted, in one fetch.
    pub fetch_blocks_max: usize,
    /// Most uncommitted blocks, orphans and pending proposals held at once.
    pub pending_blocks_max: usize,
    /// How many views ahead of the current one votes and timeouts are collected.
    pub view_window: u64,
    /// Committed blocks kept in memory to answer fetches from laggards.
    pub committed_blocks_kept: usize,
    /// Most blocks asked for, or accepted, in one state-sync response. A validator more than
    /// [`Limits::sync_gap`] heights behind a QC it sees syncs committed blocks by height
    /// instead of fetching ancestors; it holds at most twice this many unproven blocks.
    pub sync_blocks_max: usize,
}

impl Limits {
    /// How far behind a QC's height the committed head may be before this node syncs by
    /// height rather than fetching ancestors: within it, ancestors come from peers' memory
    /// (their `committed_blocks_kept`) in a few requests.
    pub fn sync_gap(&self) -> u64 {
        (self
            .fetch_blocks_max
            .min(self.committed_blocks_kept / 2)
            .max(2)) as u64
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            payload_bytes_max: 1 << 20,
            fetch_blocks_max: 64,
            pending_blocks_max: 1024,
            view_window: 16,
            committed_blocks_kept: 1024,
            sync_blocks_max: 256,
        }
    }
}

/// Consensus configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Timeout of a view when the previous view ended with a QC.
    pub base_timeout_ms: u64,
    /// Each consecutive view that ends in a timeout doubles the next view's timeout, up to
    /// `base_timeout_ms << backoff_exponent_max`.
    pub backoff_exponent_max: u32,
    /// A leader whose block would be empty, extending an empty parent, waits up to this long
    /// for content before proposing it anyway (0: never waits). Idle committees then spend
    /// almost nothing, while a block with content is never delayed and the block that
    /// commits it (its child) is proposed at once. Must be below `base_timeout_ms`.
    pub empty_block_delay_ms: u64,
    /// A leader proposes no sooner than this long after it stored the parent block (0: at
    /// once). On a fast network each height otherwise follows the last as soon as the votes
    /// are in, and every height costs each validator signatures and pairing checks whatever
    /// it carries: pacing bounds that cost per second and lets a block carry more. Views
    /// entered by a timeout are not paced. Must be below `base_timeout_ms`.
    pub proposal_interval_min_ms: u64,
    /// A state-sync request unanswered for this long is given up and asked of the next peer
    /// (requests expire by time, never by view change).
    pub sync_timeout_ms: u64,
    /// Input limits.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_timeout_ms: 1_000,
            backoff_exponent_max: 6,
            empty_block_delay_ms: 0,
            proposal_interval_min_ms: 0,
            sync_timeout_ms: 2_000,
            limits: Limits::default(),
        }
    }
}

/// A configuration rule that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid consensus config: {0}")]
pub struct ConfigError(pub &'static str);

impl Config {
    /// Checks every rule; called at start-up.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.base_timeout_ms == 0 {
            return Err(ConfigError("base_timeout_ms must be positive"));
        }
        if self.empty_block_delay_ms >= self.base_timeout_ms {
            return Err(ConfigError(
                "empty_block_delay_ms must be below base_timeout_ms",
            ));
        }
        if self.proposal_interval_min_ms >= self.base_timeout_ms {
            return Err(ConfigError(
                "proposal_interval_min_ms must be below base_timeout_ms",
            ));
        }
        if self.backoff_exponent_max > 16 {
            return Err(ConfigError("backoff_exponent_max must be at most 16"));
        }
        let limits = &self.limits;
        if limits.payload_bytes_max == 0 {
            return Err(ConfigError("payload_bytes_max must be positive"));
        }
        if limits.fetch_blocks_max == 0 || limits.fetch_blocks_max > usize::from(u16::MAX) {
            return Err(ConfigError("fetch_blocks_max must be in 1..=65535"));
        }
        if limits.pending_blocks_max == 0 {
            return Err(ConfigError("pending_blocks_max must be positive"));
        }
        if limits.view_window == 0 {
            return Err(ConfigError("view_window must be positive"));
        }
        if limits.committed_blocks_kept < crate::leader::REPUTATION_WINDOW {
            return Err(ConfigError(
                "committed_blocks_kept must be at least the leader reputation window (10)",
            ));
        }
        if limits.sync_blocks_max < 3 || limits.sync_blocks_max > usize::from(u16::MAX) {
            return Err(ConfigError("sync_blocks_max must be in 3..=65535"));
        }
        if self.sync_timeout_ms == 0 {
            return Err(ConfigError("sync_timeout_ms must be positive"));
        }
        Ok(())
    }

    /// The timeout of a view entered after `timeouts_in_row` consecutive timed-out views.
    pub fn view_timeout_ms(&self, timeouts_in_row: u32) -> u64 {
        let exponent = timeouts_in_row.min(self.backoff_exponent_max);
        self.base_timeout_ms.saturating_mul(1u64 << exponent)
    }
}
