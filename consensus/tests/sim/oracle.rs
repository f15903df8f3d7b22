//! The safety oracle. It does not reuse the production predicates: it keeps its own record of
//! what each honest node committed, released and signed, and checks the properties directly.

use std::collections::BTreeMap;

use shroud_consensus::{Block, BlockDigest, Height, View};

#[derive(Debug, Default)]
pub struct Oracle {
    /// Per honest node: committed digests by height (index 0 is genesis, implicit).
    chains: BTreeMap<usize, Vec<BlockDigest>>,
    /// The first digest any honest node committed at each height.
    first: BTreeMap<u64, (usize, BlockDigest)>,
    /// Per honest node: the vote it signed in each view.
    votes: BTreeMap<(usize, u64), BlockDigest>,
    /// Per honest node: the views it signed a timeout in.
    timeouts: std::collections::BTreeSet<(usize, u64)>,
    violations: Vec<String>,
}

impl Oracle {
    pub fn new(_n: usize) -> Self {
        Self::default()
    }

    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    pub fn report(&mut self, violation: String) {
        self.violations.push(violation);
    }

    /// Highest committed height per honest node that committed anything.
    pub fn heights(&self) -> BTreeMap<usize, u64> {
        self.chains
            .iter()
            .map(|(slot, chain)| (*slot, chain.len() as u64))
            .collect()
    }

    pub fn committed(&mut self, slot: usize, block: &Block) {
        let digest = block.digest();
        let height = block.height.0;
        let chain = self.chains.entry(slot).or_default();
        // Heights are contiguous from 1 and each block's parent is the previous commit: every
        // honest chain is a chain, so agreement per height makes chains prefixes of each other.
        if height != chain.len() as u64 + 1 {
            self.violations.push(format!(
                "node {slot} committed height {height} after height {}",
                chain.len()
            ));
            return;
        }
        if let Some(previous) = chain.last() {
            if block.parent() != *previous {
                self.violations.push(format!(
                    "node {slot} committed a block at height {height} that does not extend its chain"
                ));
            }
        }
        chain.push(digest);
        match self.first.get(&height) {
            Some((other, existing)) if *existing != digest => self.violations.push(format!(
                "two different blocks committed at height {height}: node {other} {existing:?}, node {slot} {digest:?}"
            )),
            Some(_) => {}
            None => {
                self.first.insert(height, (slot, digest));
            }
        }
    }

    pub fn released(&mut self, slot: usize, height: Height, digest: BlockDigest) {
        let chain = self.chains.get(&slot).map(Vec::as_slice).unwrap_or(&[]);
        let committed = height.0 >= 1 && chain.get(height.0 as usize - 1) == Some(&digest);
        if !committed {
            self.violations.push(format!(
                "node {slot} released decryption shares for height {} before committing it",
                height.0
            ));
        }
    }

    /// An honest node signed a timeout in `view`: it must not vote in that view afterwards.
    pub fn timed_out(&mut self, slot: usize, view: View) {
        self.timeouts.insert((slot, view.0));
    }

    pub fn voted(&mut self, slot: usize, view: View, digest: BlockDigest) {
        if self.timeouts.contains(&(slot, view.0)) {
            self.violations.push(format!(
                "node {slot} voted in view {} after timing out in it",
                view.0
            ));
        }
        match self.votes.get(&(slot, view.0)) {
            Some(previous) if *previous != digest => self.violations.push(format!(
                "node {slot} signed two different votes in view {}",
                view.0
            )),
            Some(_) => {}
            None => {
                self.votes.insert((slot, view.0), digest);
            }
        }
    }
}
