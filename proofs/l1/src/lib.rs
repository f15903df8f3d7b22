//! `shroud-l1`: Shroud's Ethereum light client from the Rust side.
//!
//! - [`Artefact`]: the contract as compiled by `proofs/contracts/compile.js` with the pinned
//!   solc (ABI, bytecode, method identifiers), embedded at build time. CI recompiles and checks
//!   the checked-in artefact matches.
//! - [`calldata`]: the constructor arguments and the calldata of `submitOutput`, `handOver` and
//!   `verifyNamespace`, made from `shroud-proofs` types (what a relayer sends).
//! - [`evm`]: an in-process EVM (revm, Prague rules, so the EIP-2537 precompiles are the real
//!   ones) with the contract deployed in it, for tests and the gas table.
//!
//! The contract itself is `proofs/contracts/src/ShroudLightClient.sol`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod calldata;
pub mod evm;

use std::collections::BTreeMap;

use serde::Deserialize;
use thiserror::Error;

/// The checked-in compile output.
const ARTEFACT_JSON: &str = include_str!("../../contracts/out/ShroudLightClient.json");

/// Errors of this crate.
#[derive(Debug, Error)]
pub enum L1Error {
    /// The embedded artefact does not parse (a broken checkout).
    #[error("contract artefact: {0}")]
    Artefact(String),
    /// A value the contract cannot take (e.g. a committee too large for its key blob).
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The EVM refused the transaction before running it.
    #[error("evm: {0}")]
    Evm(String),
}

/// The compiled contract.
#[derive(Clone, Debug)]
pub struct Artefact {
    /// The compiler that made it (`solc 0.8.30+…`).
    pub compiler: String,
    /// Creation bytecode.
    pub bytecode: Vec<u8>,
    /// Runtime bytecode.
    pub deployed_bytecode: Vec<u8>,
    /// Function signature → 4-byte selector.
    pub selectors: BTreeMap<String, [u8; 4]>,
    /// 4-byte selector → custom error signature (e.g. `WrongEpoch(uint64,uint64)`).
    pub errors: BTreeMap<[u8; 4], String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArtefact {
    compiler: String,
    abi: Vec<AbiEntry>,
    method_identifiers: BTreeMap<String, String>,
    bytecode: String,
    deployed_bytecode: String,
}

#[derive(Deserialize)]
struct AbiEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    inputs: Vec<AbiParam>,
}

#[derive(Deserialize)]
struct AbiParam {
    #[serde(rename = "type")]
    kind: String,
}

fn unhex(text: &str) -> Result<Vec<u8>, L1Error> {
    hex::decode(text.trim_start_matches("0x")).map_err(|e| L1Error::Artefact(e.to_string()))
}

impl Artefact {
    /// The embedded artefact.
    pub fn load() -> Result<Self, L1Error> {
        let raw: RawArtefact =
            serde_json::from_str(ARTEFACT_JSON).map_err(|e| L1Error::Artefact(e.to_string()))?;
        let mut selectors = BTreeMap::new();
        for (signature, selector) in raw.method_identifiers {
            let bytes: [u8; 4] = unhex(&selector)?
                .try_into()
                .map_err(|_| L1Error::Artefact(format!("selector of {signature}")))?;
            selectors.insert(signature, bytes);
        }
        let mut errors = BTreeMap::new();
        for entry in raw.abi.iter().filter(|entry| entry.kind == "error") {
            let types: Vec<&str> = entry.inputs.iter().map(|p| p.kind.as_str()).collect();
            let signature = format!("{}({})", entry.name, types.join(","));
            let hash = revm::primitives::keccak256(signature.as_bytes());
            let mut selector = [0u8; 4];
            selector.copy_from_slice(&hash[..4]);
            errors.insert(selector, signature);
        }
        Ok(Self {
            compiler: raw.compiler,
            bytecode: unhex(&raw.bytecode)?,
            deployed_bytecode: unhex(&raw.deployed_bytecode)?,
            selectors,
            errors,
        })
    }

    /// The selector of a function, by its canonical signature.
    pub fn selector(&self, signature: &str) -> Result<[u8; 4], L1Error> {
        self.selectors
            .get(signature)
            .copied()
            .ok_or_else(|| L1Error::Artefact(format!("no function {signature}")))
    }

    /// The name of the custom error a revert carries, if it is one of the contract's.
    pub fn error_name(&self, revert_data: &[u8]) -> Option<&str> {
        let selector: [u8; 4] = revert_data.get(..4)?.try_into().ok()?;
        let signature = self.errors.get(&selector)?;
        signature.split('(').next()
    }
}
