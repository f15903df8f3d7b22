//! Ingress limits (the node file's `[ingress]` section).

use serde::{Deserialize, Serialize};

/// Caps on what clients can make a validator hold, and the size of a group commit.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct IngressConfig {
    /// Submissions waiting for the admission stage at most; past it a client gets
    /// `overloaded` at once.
    pub queue_max: usize,
    /// Submissions checked, written and flushed together at most (one group commit).
    pub group_max: usize,
    /// The least time between the starts of two group commits, in milliseconds (0: none).
    /// Under load the submissions arriving meanwhile join the next group, so a validator
    /// syncs its pending log at most this often, whatever the rate; a submission after a
    /// quiet spell is committed at once.
    pub group_interval_ms: u64,
    /// Client connections open at most, in total.
    pub connections_max: usize,
    /// Client connections open at most from one IP address.
    pub connections_per_address_max: usize,
    /// Submissions of one stream waiting for their receipts at most; the stream is not read
    /// further until receipts go out (QUIC flow control then holds the client back).
    pub in_flight_per_stream_max: usize,
}

impl Default for IngressConfig {
    fn default() -> Self {
        Self {
            queue_max: 65_536,
            group_max: 4_096,
            group_interval_ms: 5,
            connections_max: 1_024,
            connections_per_address_max: 256,
            in_flight_per_stream_max: 4_096,
        }
    }
}

impl IngressConfig {
    /// One message per broken rule.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            (self.queue_max, "ingress.queue_max"),
            (self.group_max, "ingress.group_max"),
            (self.connections_max, "ingress.connections_max"),
            (
                self.connections_per_address_max,
                "ingress.connections_per_address_max",
            ),
            (
                self.in_flight_per_stream_max,
                "ingress.in_flight_per_stream_max",
            ),
        ];
        for (value, name) in positive {
            if value == 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.group_interval_ms > 1_000 {
            return Err("ingress.group_interval_ms must be at most 1000".into());
        }
        if self.connections_per_address_max > self.connections_max {
            return Err(
                "ingress.connections_per_address_max must not exceed ingress.connections_max"
                    .into(),
            );
        }
        Ok(())
    }
}
