//! The light-client contract running in an in-process EVM: revm with the Prague rules, so the
//! BLS12-381 precompiles of EIP-2537 are the real ones, at their real gas prices. Used by the
//! tests and the gas table; gas is deterministic, so numbers from here are the L1 numbers.

use revm::context::result::{ExecutionResult, Output};
use revm::context::{Context, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, TxKind};
use revm::{ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext, MainnetEvm};
use shroud_crypto::CommitteeKeys;
use shroud_proofs::merkle::Hash;
use shroud_proofs::{HandoverCertificate, NamespaceProof, OutputCertificate};

use crate::calldata::{self, Anchor};
use crate::{Artefact, L1Error};

type Evm = MainnetEvm<revm::handler::MainnetContext<CacheDB<EmptyDB>>>;

/// Gas limit of every transaction (a mainnet block's worth).
const TX_GAS_LIMIT: u64 = 30_000_000;

/// What a transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// It succeeded, using `gas` (the whole transaction's gas, intrinsic cost included).
    Success {
        /// Gas used.
        gas: u64,
        /// Return data.
        output: Vec<u8>,
    },
    /// It reverted with `data` (a custom error of the contract, usually).
    Revert {
        /// Gas used.
        gas: u64,
        /// Revert data.
        data: Vec<u8>,
    },
    /// It halted (out of gas, invalid opcode, …).
    Halt {
        /// Gas used.
        gas: u64,
        /// Why.
        reason: String,
    },
}

impl Receipt {
    /// The gas the transaction used.
    pub fn gas(&self) -> u64 {
        match self {
            Receipt::Success { gas, .. }
            | Receipt::Revert { gas, .. }
            | Receipt::Halt { gas, .. } => *gas,
        }
    }
}

/// A one-account chain: a caller that pays nothing (gas price zero) and its nonce.
pub struct Chain {
    evm: Evm,
    caller: Address,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// An empty chain under the Prague rules.
    pub fn new() -> Self {
        let evm = Context::mainnet()
            .with_db(CacheDB::<EmptyDB>::default())
            .modify_cfg_chained(|cfg| cfg.spec = SpecId::PRAGUE)
            .build_mainnet();
        Self {
            evm,
            caller: Address::repeat_byte(0x5a),
        }
    }

    fn nonce(&mut self) -> u64 {
        use revm::Database as _;
        self.evm
            .ctx
            .journaled_state
            .database
            .basic(self.caller)
            .ok()
            .flatten()
            .map_or(0, |account| account.nonce)
    }

    fn tx(&mut self, kind: TxKind, data: Vec<u8>) -> Result<TxEnv, L1Error> {
        let nonce = self.nonce();
        TxEnv::builder()
            .caller(self.caller)
            .kind(kind)
            .data(Bytes::from(data))
            .gas_limit(TX_GAS_LIMIT)
            .gas_price(0)
            .nonce(nonce)
            .build()
            .map_err(|e| L1Error::Evm(format!("{e:?}")))
    }

    fn receipt(result: ExecutionResult) -> (Receipt, Option<Address>) {
        let gas = result.tx_gas_used();
        match result {
            ExecutionResult::Success { output, .. } => match output {
                Output::Create(code, address) => (
                    Receipt::Success {
                        gas,
                        output: code.to_vec(),
                    },
                    address,
                ),
                Output::Call(data) => (
                    Receipt::Success {
                        gas,
                        output: data.to_vec(),
                    },
                    None,
                ),
            },
            ExecutionResult::Revert { output, .. } => (
                Receipt::Revert {
                    gas,
                    data: output.to_vec(),
                },
                None,
            ),
            ExecutionResult::Halt { reason, .. } => (
                Receipt::Halt {
                    gas,
                    reason: format!("{reason:?}"),
                },
                None,
            ),
        }
    }

    /// Deploys `code` (creation code with arguments): the new address (`None` if the creation
    /// failed) and the receipt.
    pub fn deploy(&mut self, code: Vec<u8>) -> Result<(Option<Address>, Receipt), L1Error> {
        let tx = self.tx(TxKind::Create, code)?;
        let result = self
            .evm
            .transact_commit(tx)
            .map_err(|e| L1Error::Evm(format!("{e:?}")))?;
        let (receipt, address) = Self::receipt(result);
        Ok((address, receipt))
    }

    /// Sends a transaction to `to` and commits its effects.
    pub fn send(&mut self, to: Address, data: Vec<u8>) -> Result<Receipt, L1Error> {
        let tx = self.tx(TxKind::Call(to), data)?;
        let result = self
            .evm
            .transact_commit(tx)
            .map_err(|e| L1Error::Evm(format!("{e:?}")))?;
        Ok(Self::receipt(result).0)
    }

    /// Runs a call to `to` without committing anything (an `eth_call`).
    pub fn view(&mut self, to: Address, data: Vec<u8>) -> Result<Receipt, L1Error> {
        let tx = self.tx(TxKind::Call(to), data)?;
        let result = self
            .evm
            .transact(tx)
            .map_err(|e| L1Error::Evm(format!("{e:?}")))?;
        Ok(Self::receipt(result.result).0)
    }
}

/// Why the contract refused a transaction: the custom error's name, or the raw outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The custom error's name (`BadSignature`, `WrongParent`, …), or `revert`/`halt`.
    pub error: String,
    /// The receipt.
    pub receipt: Receipt,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} gas)", self.error, self.receipt.gas())
    }
}

/// The light client deployed on a [`Chain`].
#[derive(Debug)]
pub struct LightClient {
    /// The chain it runs on.
    pub chain: Chain,
    /// Its address.
    pub address: Address,
    /// Its compiled code.
    pub artefact: Artefact,
    /// Gas of the deployment.
    pub deployment_gas: u64,
}

impl LightClient {
    /// Deploys the contract for `chain_id`, with the committee of `epoch` and the ring size.
    pub fn deploy(
        chain_id: u64,
        epoch: u64,
        keys: &CommitteeKeys,
        anchor: Anchor,
        ring_size: u64,
    ) -> Result<Result<Self, Rejection>, L1Error> {
        let artefact = Artefact::load()?;
        let code = calldata::deployment(&artefact, chain_id, epoch, keys, anchor, ring_size);
        Self::deploy_code(artefact, code)
    }

    /// Deploys the contract from raw creation code (the bytecode and encoded arguments).
    pub fn deploy_code(
        artefact: Artefact,
        code: Vec<u8>,
    ) -> Result<Result<Self, Rejection>, L1Error> {
        let mut chain = Chain::new();
        let (address, receipt) = chain.deploy(code)?;
        let Some(address) = address else {
            return Ok(Err(rejection(&artefact, receipt)));
        };
        Ok(Ok(Self {
            chain,
            address,
            artefact,
            deployment_gas: receipt.gas(),
        }))
    }

    fn outcome(&self, receipt: Receipt) -> Result<Receipt, Rejection> {
        match &receipt {
            Receipt::Success { .. } => Ok(receipt),
            _ => Err(rejection(&self.artefact, receipt)),
        }
    }

    /// Sends raw calldata; a revert becomes a [`Rejection`].
    pub fn send_raw(&mut self, data: Vec<u8>) -> Result<Result<Receipt, Rejection>, L1Error> {
        let receipt = self.chain.send(self.address, data)?;
        Ok(self.outcome(receipt))
    }

    /// `submitOutput` for a certificate; the gas used, or why it was refused.
    pub fn submit_output(
        &mut self,
        certificate: &OutputCertificate,
    ) -> Result<Result<u64, Rejection>, L1Error> {
        let data = calldata::submit_output(&self.artefact, certificate)?;
        Ok(self.send_raw(data)?.map(|receipt| receipt.gas()))
    }

    /// `handOver` for a handover certificate; the gas used, or why it was refused.
    pub fn hand_over(
        &mut self,
        certificate: &HandoverCertificate,
    ) -> Result<Result<u64, Rejection>, L1Error> {
        let data = calldata::hand_over(&self.artefact, certificate)?;
        Ok(self.send_raw(data)?.map(|receipt| receipt.gas()))
    }

    /// `verifyNamespace` as a view: its answer and the gas of the call.
    pub fn verify_namespace(
        &mut self,
        height: u64,
        namespace: u64,
        items_root: Hash,
        proof: &NamespaceProof,
        item_count: u64,
    ) -> Result<(bool, u64), L1Error> {
        let proof = calldata::namespace_proof(proof, item_count)?;
        self.verify_namespace_raw(height, namespace, items_root, proof)
    }

    /// `verifyNamespace` with an already encoded proof.
    pub fn verify_namespace_raw(
        &mut self,
        height: u64,
        namespace: u64,
        items_root: Hash,
        proof: Vec<u8>,
    ) -> Result<(bool, u64), L1Error> {
        let data =
            calldata::verify_namespace(&self.artefact, height, namespace, items_root, proof)?;
        match self.chain.view(self.address, data)? {
            Receipt::Success { gas, output } => Ok((word(&output, 0)? == u256_one(), gas)),
            other => Err(L1Error::Evm(format!("verifyNamespace failed: {other:?}"))),
        }
    }

    fn view_words(
        &mut self,
        signature: &str,
        tokens: &[calldata::Token],
    ) -> Result<Vec<u8>, L1Error> {
        let data = calldata::call(&self.artefact, signature, tokens)?;
        match self.chain.view(self.address, data)? {
            Receipt::Success { output, .. } => Ok(output),
            other => Err(L1Error::Evm(format!("{signature} failed: {other:?}"))),
        }
    }

    /// The last certified height.
    pub fn last_height(&mut self) -> Result<u64, L1Error> {
        let output = self.view_words("lastHeight()", &[])?;
        word_u64(&word(&output, 0)?)
    }

    /// The last certified header's digest.
    pub fn last_output(&mut self) -> Result<[u8; 32], L1Error> {
        let output = self.view_words("lastOutput()", &[])?;
        word(&output, 0)
    }

    /// The payload root recorded for `height`, if still in the ring.
    pub fn payload_root(&mut self, height: u64) -> Result<Option<[u8; 32]>, L1Error> {
        let output = self.view_words("payloadRoot(uint64)", &[calldata::Token::Uint(height)])?;
        let known = word(&output, 0)? == u256_one();
        Ok(known.then_some(word(&output, 1)?))
    }

    /// The current committee's epoch and size.
    pub fn committee(&mut self) -> Result<(u64, u64), L1Error> {
        let output = self.view_words("committee()", &[])?;
        Ok((word_u64(&word(&output, 0)?)?, word_u64(&word(&output, 1)?)?))
    }
}

fn rejection(artefact: &Artefact, receipt: Receipt) -> Rejection {
    let error = match &receipt {
        Receipt::Revert { data, .. } => artefact.error_name(data).unwrap_or("revert"),
        Receipt::Halt { .. } => "halt",
        Receipt::Success { .. } => "success",
    };
    Rejection {
        error: error.to_owned(),
        receipt,
    }
}

fn u256_one() -> [u8; 32] {
    let mut one = [0u8; 32];
    one[31] = 1;
    one
}

fn word(output: &[u8], index: usize) -> Result<[u8; 32], L1Error> {
    output
        .get(index * 32..(index + 1) * 32)
        .and_then(|slice| slice.try_into().ok())
        .ok_or_else(|| L1Error::Evm(format!("return data too short for word {index}")))
}

fn word_u64(word: &[u8; 32]) -> Result<u64, L1Error> {
    if word[..24].iter().any(|b| *b != 0) {
        return Err(L1Error::Evm("return value above u64".into()));
    }
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&word[24..]);
    Ok(u64::from_be_bytes(bytes))
}
