//! Expiry: how long a ciphertext may wait to be ordered, and so how long validators must
//! remember it (ADR 0008).
//!
//! A ciphertext's label carries `valid_through`, the last height at which it may be ordered;
//! the chain's `validity_heights` (in the committee file) caps how far ahead of the ordering
//! height it may be. Ordered at height `h`, a ciphertext is *within its validity* when
//! `h <= valid_through <= h + validity_heights`; otherwise its position fails as `expired`.
//! Batches carry the same field (the latest among their transactions), signed in their
//! availability certificate, and a block skips a listed batch outside its validity.
//!
//! Why: the duplicate rules (a ciphertext counts once; an encapsulation is decrypted once)
//! must give every validator the same answer, so the entries they consult cannot be dropped on
//! one validator's schedule. With expiry, an entry made at height `h` can only matter while a
//! copy could still be within its validity, that is up to `h + validity_heights`; after that
//! every copy fails as `expired` whatever the entry says. Entries therefore live a bounded
//! number of heights, and a validator's ordering state is bounded by its traffic over that
//! window instead of growing with the chain.

use std::ops::RangeInclusive;

/// `validity_heights` when a committee file does not say (about 7 minutes at the node's
/// idle pace of ten heights a second).
pub const VALIDITY_HEIGHTS_DEFAULT: u64 = 4_096;

/// Allowed `validity_heights`: at least 16 heights (a wallet needs time to be ordered), at
/// most 2^20 (what validators must remember grows with it).
pub const VALIDITY_HEIGHTS_RANGE: RangeInclusive<u64> = 16..=(1 << 20);

/// Serde default of `CommitteeFile::validity_heights`.
pub fn default_validity_heights() -> u64 {
    VALIDITY_HEIGHTS_DEFAULT
}

/// Whether a ciphertext (or batch) labelled `valid_through` may be ordered at `height`.
pub fn within_validity(height: u64, valid_through: u64, validity_heights: u64) -> bool {
    height <= valid_through && valid_through - height <= validity_heights
}

/// The last height at which an entry about a ciphertext (or batch) ordered at `height` can
/// still decide anything: its `valid_through` when `label` (`None` if unreadable) is within its
/// validity there, else `height` itself (every later copy fails as `expired`). The result is
/// at most `height + validity_heights`.
pub fn expiry_of(height: u64, valid_through: Option<u64>, validity_heights: u64) -> u64 {
    match valid_through {
        Some(through) if within_validity(height, through, validity_heights) => through,
        _ => height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn validity_is_inclusive_at_both_ends() {
        assert!(within_validity(10, 10, 5));
        assert!(within_validity(10, 15, 5));
        assert!(!within_validity(10, 16, 5));
        assert!(!within_validity(10, 9, 5));
        assert!(within_validity(u64::MAX, u64::MAX, 0));
    }

    proptest! {
        #[test]
        fn an_entry_expires_within_the_window(
            height in 0u64..1 << 40,
            through in proptest::option::of(0u64..1 << 41),
            window in 16u64..1 << 20,
        ) {
            let expiry = expiry_of(height, through, window);
            prop_assert!(expiry >= height && expiry <= height + window);
            // When the first placement counted (within its validity), no copy ordered after
            // the expiry is within its validity: forgetting the entry then lets nothing count
            // twice. (A first placement that failed as expired counted for nothing.)
            if let Some(through) = through {
                if within_validity(height, through, window) {
                    prop_assert_eq!(expiry, through);
                    for later in [expiry + 1, expiry + 2, expiry + window] {
                        prop_assert!(!within_validity(later, through, window));
                    }
                }
            }
        }
    }
}
