//! Validator configuration (TOML), the committee file, key files, and the test-network
//! generator.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use shroud_consensus::{Committee, Epoch};
use shroud_crypto::dkg::{DkgParams, DkgSecretKey};
use shroud_crypto::tdh2::{trusted_dealer_for_local_testnet, KeyShare, PublicKeySet};
use shroud_crypto::SecretKey;
use shroud_network::{Identity, Pin};
pub use shroud_proofs::{CommitteeFile, MemberEntry};
use thiserror::Error;

use crate::mempool::MempoolConfig;

/// A configuration or key file that cannot be used. One message per broken rule.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that does not parse.
    #[error("{path}: {detail}")]
    Parse { path: PathBuf, detail: String },
    /// A rule that does not hold.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Refuses a committee whose DKG messages could not be posted: a dealing (`48·t + 96 + 48 +
/// 64 + 32·n` bytes and a 12-byte header) or a response complaining about every dealer (`10 +
/// 114·n`) must fit in a post ([`crate::batch::DKG_MESSAGE_BYTES_MAX`]), or the DKG would stall
/// with every honest dealing refused.
pub fn check_dkg_fits(members: usize, threshold: usize) -> Result<(), ConfigError> {
    let dealing = 12 + 48 * threshold + 96 + 48 + 64 + 32 * members;
    let response = 10 + 114 * members;
    let largest = dealing.max(response);
    if largest > crate::batch::DKG_MESSAGE_BYTES_MAX {
        return Err(ConfigError::Invalid(format!(
            "a committee of {members} cannot run the DKG: its messages would reach {largest} \
             bytes, more than the {} a post may carry",
            crate::batch::DKG_MESSAGE_BYTES_MAX
        )));
    }
    Ok(())
}

/// Reads a secret key file (see [`check_private`]).
fn read_secret(path: &Path) -> Result<zeroize::Zeroizing<String>, ConfigError> {
    check_private(path)?;
    Ok(zeroize::Zeroizing::new(read(path)?))
}

/// Refuses a secret key file that others than its owner may read (a key that others can read
/// must be treated as leaked).
fn check_private(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(ConfigError::Invalid(format!(
            "{} is readable by others (mode {:o}): a secret key file must be private to its \
             owner; run `chmod 600 {}` (and consider the key leaked if others could read it)",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, ConfigError> {
    fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    if secret {
        // Created 0600, so the secret is never readable by others, not even for a moment; an
        // existing file keeps its mode, so set it again.
        use std::io::Write as _;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
        file.write_all(contents).map_err(io)?;
        return Ok(());
    }
    fs::write(path, contents).map_err(io)
}

fn hex_field(text: &str, what: &str) -> Result<Vec<u8>, ConfigError> {
    hex::decode(text.trim()).map_err(|_| ConfigError::Invalid(format!("{what} is not hex")))
}

/// A committee file, checked: keys proved possession, pins and key set decode.
#[derive(Clone, Debug)]
pub struct LoadedCommittee {
    /// The file as read.
    pub file: CommitteeFile,
    /// The consensus committee.
    pub committee: Committee,
    /// TLS pins by index.
    pub pins: Vec<Pin>,
    /// The threshold key set, if the file carries one (a trusted dealer made it).
    pub public_key_set: Option<PublicKeySet>,
    /// The DKG's parameters, if the members listed DKG keys.
    pub dkg_params: Option<DkgParams>,
}

/// Reads and checks a committee file.
pub fn load_committee(path: &Path) -> Result<LoadedCommittee, ConfigError> {
    let file: CommitteeFile = toml::from_str(&read(path)?).map_err(|error| ConfigError::Parse {
        path: path.to_path_buf(),
        detail: error.to_string(),
    })?;
    check_committee(file)
}

/// Checks a committee file's contents: the keys and key set ([`CommitteeFile::check`]), and
/// the TLS pins, which must decode and differ.
pub fn check_committee(file: CommitteeFile) -> Result<LoadedCommittee, ConfigError> {
    let checked = file
        .check()
        .map_err(|error| ConfigError::Invalid(error.0))?;
    let mut pins = Vec::with_capacity(checked.file.validators.len());
    for (index, entry) in checked.file.validators.iter().enumerate() {
        pins.push(Pin::from_hex(&entry.tls_pin).map_err(|error| {
            ConfigError::Invalid(format!("validator {index}: tls_pin: {error}"))
        })?);
    }
    let mut sorted_pins = pins.clone();
    sorted_pins.sort();
    if sorted_pins.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(ConfigError::Invalid(
            "two validators share a tls_pin".into(),
        ));
    }
    let dkg_params = checked
        .dkg_params()
        .transpose()
        .map_err(|error| ConfigError::Invalid(error.0))?;
    if let Some(params) = &dkg_params {
        check_dkg_fits(params.member_count(), params.threshold())?;
    }
    Ok(LoadedCommittee {
        committee: Committee::new(
            checked.file.chain_id,
            Epoch(checked.file.epoch),
            checked.keys.clone(),
        ),
        pins,
        public_key_set: checked.public_key_set,
        dkg_params,
        file: checked.file,
    })
}

/// Consensus settings in the node file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ConsensusSection {
    /// Timeout of a view after a QC.
    pub base_timeout_ms: u64,
    /// Cap on the timeout doubling.
    pub backoff_exponent_max: u32,
    /// How long a leader holds back an empty block that extends an empty one, waiting for
    /// content (see `shroud_consensus::Config::empty_block_delay_ms`).
    pub empty_block_delay_ms: u64,
    /// The least time between a block and the next one's proposal (see
    /// `shroud_consensus::Config::proposal_interval_min_ms`).
    pub proposal_interval_min_ms: u64,
    /// Committed blocks kept in memory to answer peers' fetches of recent ancestors; a peer
    /// further behind syncs by height from the stores (`[storage] retain_heights` bounds
    /// what it can still find).
    pub committed_blocks_kept: usize,
}

impl Default for ConsensusSection {
    fn default() -> Self {
        Self {
            base_timeout_ms: 1_000,
            backoff_exponent_max: 4,
            empty_block_delay_ms: 100,
            proposal_interval_min_ms: 100,
            committed_blocks_kept: shroud_consensus::Limits::default().committed_blocks_kept,
        }
    }
}

/// Mempool settings in the node file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MempoolSection {
    /// Must equal the committee file's `ciphertext_bytes_max` if given (a chain parameter:
    /// the committee file decides it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_bytes_max: Option<usize>,
    /// See [`MempoolConfig`].
    pub pending_max: usize,
    /// See [`MempoolConfig`].
    pub batch_bytes_max: usize,
    /// See [`MempoolConfig`].
    pub batch_count_max: usize,
    /// See [`MempoolConfig`].
    pub batch_interval_ms: u64,
    /// See [`MempoolConfig`].
    pub batches_in_flight_max: usize,
    /// See [`MempoolConfig`].
    pub batches_in_flight_by_age_max: usize,
    /// Most batches one block lists.
    pub batches_per_block_max: usize,
}

impl Default for MempoolSection {
    fn default() -> Self {
        let defaults = MempoolConfig::default();
        Self {
            ciphertext_bytes_max: None,
            pending_max: defaults.pending_max,
            batch_bytes_max: defaults.batch_bytes_max,
            batch_count_max: defaults.batch_count_max,
            batch_interval_ms: defaults.batch_interval_ms,
            batches_in_flight_max: defaults.batches_in_flight_max,
            batches_in_flight_by_age_max: defaults.batches_in_flight_by_age_max,
            batches_per_block_max: 64,
        }
    }
}

impl MempoolSection {
    /// The mempool's own configuration.
    pub fn mempool(&self) -> MempoolConfig {
        MempoolConfig {
            ciphertext_bytes_max: self
                .ciphertext_bytes_max
                .unwrap_or(MempoolConfig::default().ciphertext_bytes_max),
            pending_max: self.pending_max,
            batch_bytes_max: self.batch_bytes_max,
            batch_count_max: self.batch_count_max,
            batch_interval_ms: self.batch_interval_ms,
            batches_in_flight_max: self.batches_in_flight_max,
            batches_in_flight_by_age_max: self.batches_in_flight_by_age_max,
        }
    }
}

/// Storage settings in the node file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// sled's page cache for the node's store (batches, order, outputs), in MiB. sled counts
    /// pages by their size on disk and keeps at least one page per cache shard, so the memory
    /// it holds levels off at roughly 1.5–2× this (BENCHMARKS.md).
    pub node_cache_mib: u64,
    /// sled's page cache for the consensus store (safety state, blocks), in MiB.
    pub consensus_cache_mib: u64,
    /// Certified heights whose records (batches, outputs, shares, certificates, blocks) are
    /// kept below the certified head; older ones are pruned, and readers asking for them are
    /// told so. At least [`RETAIN_HEIGHTS_MIN`]; below [`RETAIN_HEIGHTS_RECOMMENDED`] a peer
    /// that lags within consensus's catch-up window may no longer find the batches and shares
    /// it needs here (the node warns at start-up).
    pub retain_heights: u64,
}

/// The smallest `[storage] retain_heights` accepted.
pub const RETAIN_HEIGHTS_MIN: u64 = 256;

/// The smallest `[storage] retain_heights` that serves every peer consensus can still bring
/// up to date: twice the committed blocks consensus keeps in memory (a peer lagging further
/// cannot catch up through consensus anyway).
pub const RETAIN_HEIGHTS_RECOMMENDED: u64 = 2 * 1_024;

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            node_cache_mib: crate::store::CACHE_BYTES_DEFAULT >> 20,
            consensus_cache_mib: shroud_storage::CACHE_BYTES_DEFAULT >> 20,
            retain_heights: 1_000_000,
        }
    }
}

/// One validator's configuration file. An unknown key is an error (a misspelt setting would
/// otherwise silently keep its default).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This validator's index in the committee; if absent, the member whose BLS key matches
    /// this validator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u16>,
    /// The committee file.
    pub committee_file: PathBuf,
    /// Where sled keeps this validator's data.
    pub data_dir: PathBuf,
    /// BLS secret key (hex) file.
    pub bls_secret_key_file: PathBuf,
    /// TLS certificate (DER) file.
    pub tls_certificate_file: PathBuf,
    /// TLS private key (PKCS#8 DER) file.
    pub tls_key_file: PathBuf,
    /// Threshold decryption key share (hex) file, when a trusted dealer made the key (test
    /// networks). Without it, the validator forms its share with the DKG and keeps it in
    /// `data_dir/key-share.hex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_share_file: Option<PathBuf>,
    /// DKG secret key (hex) file: the key dealers encrypt this validator's shares to. Needed
    /// when the committee file has no key set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkg_key_file: Option<PathBuf>,
    /// Order opaque payloads with the decryption stage off (for comparing with
    /// ordering-only sequencers in benchmarks; no MEV protection, no outputs).
    #[serde(default)]
    pub ordering_only: bool,
    /// Consensus settings.
    #[serde(default)]
    pub consensus: ConsensusSection,
    /// Mempool settings.
    #[serde(default)]
    pub mempool: MempoolSection,
    /// Storage settings.
    #[serde(default)]
    pub storage: StorageSection,
    /// Client admission limits.
    #[serde(default)]
    pub ingress: crate::ingress::IngressConfig,
    /// Fault injection, for the tests' builds only (absent from written node files unless a
    /// fault is set).
    #[serde(default, skip_serializing_if = "FaultsSection::is_none")]
    pub faults: FaultsSection,
}

/// Faults a test network can inject into one validator to show that the others cope. Never
/// set on a real network: a validator with a fault enabled is Byzantine by construction. Only a
/// build with the `fault-injection` cargo feature (the tests') accepts a node file that sets
/// one ([`FaultsSection::check`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsSection {
    /// Send decryption shares made with a wrong key share.
    pub invalid_decryption_shares: bool,
    /// Admit ciphertexts without checking them (a Byzantine batch author: garbage gets
    /// ordered, and every validator must reach the same failure outcome for it).
    pub admit_unchecked_ciphertexts: bool,
    /// A Byzantine DKG dealer: its dealing carries a wrong share for this validator index.
    pub dkg_wrong_share_to: Option<u16>,
    /// A Byzantine DKG dealer: it also posts a second, different dealing (equivocation).
    pub dkg_equivocate: bool,
}

/// Whether this build injects faults (the tests' builds only).
pub const FAULT_INJECTION: bool = cfg!(feature = "fault-injection");

impl FaultsSection {
    /// Whether no fault is set.
    pub fn is_none(&self) -> bool {
        self.enabled().is_empty()
    }

    /// The faults set, by name.
    pub fn enabled(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.invalid_decryption_shares {
            names.push("invalid_decryption_shares");
        }
        if self.admit_unchecked_ciphertexts {
            names.push("admit_unchecked_ciphertexts");
        }
        if self.dkg_wrong_share_to.is_some() {
            names.push("dkg_wrong_share_to");
        }
        if self.dkg_equivocate {
            names.push("dkg_equivocate");
        }
        names
    }

    /// Refuses a fault in a build without fault injection (`injection` is
    /// [`FAULT_INJECTION`] outside tests of this rule).
    pub fn check(&self, injection: bool) -> Result<(), ConfigError> {
        let enabled = self.enabled();
        if !injection && !enabled.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "[faults] sets {}: this build has no fault injection (a cargo feature only the \
                 tests enable); remove [faults] from the node file",
                enabled.join(", ")
            )));
        }
        Ok(())
    }
}

/// Everything a validator needs, loaded and cross-checked.
#[derive(Debug)]
pub struct Loaded {
    /// The node file.
    pub config: NodeConfig,
    /// The committee.
    pub committee: LoadedCommittee,
    /// BLS signing key.
    pub signer: SecretKey,
    /// TLS identity.
    pub identity: Identity,
    /// This validator's index in the committee.
    pub index: u16,
    /// Decryption key share, if known at start (a dealer's, or one this validator's DKG
    /// formed on an earlier run).
    pub key_share: Option<KeyShare>,
    /// DKG secret key, when the committee forms its key with the DKG.
    pub dkg_key: Option<DkgSecretKey>,
}

/// Where a validator keeps the key share its DKG formed.
pub fn dkg_share_path(data_dir: &Path) -> PathBuf {
    data_dir.join("key-share.hex")
}

/// Writes the share the DKG formed (0600, written then renamed, flushed), so a restarted
/// validator does not need the transcript to find it.
pub fn write_dkg_share(data_dir: &Path, share: &KeyShare) -> Result<(), ConfigError> {
    let path = dkg_share_path(data_dir);
    let temporary = data_dir.join("key-share.hex.new");
    let encoded = zeroize::Zeroizing::new(hex::encode(share.secret_bytes().as_ref()));
    write_file(&temporary, encoded.as_bytes(), true)?;
    let io = |source| ConfigError::Io {
        path: path.clone(),
        source,
    };
    fs::File::open(&temporary)
        .and_then(|file| file.sync_all())
        .map_err(io)?;
    fs::rename(&temporary, &path).map_err(io)?;
    fs::File::open(data_dir)
        .and_then(|folder| folder.sync_all())
        .map_err(io)?;
    Ok(())
}

fn read_share(path: &Path, index: u16) -> Result<KeyShare, ConfigError> {
    let text = read_secret(path)?;
    let bytes = zeroize::Zeroizing::new(hex_field(&text, "key share")?);
    let share_index = index
        .checked_add(1)
        .ok_or_else(|| ConfigError::Invalid("index too large".into()))?;
    KeyShare::from_secret_bytes(share_index, &bytes)
        .map_err(|error| ConfigError::Invalid(format!("{}: {error}", path.display())))
}

impl NodeConfig {
    /// Reads the node file and everything it names, and checks every rule.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let mut config: NodeConfig =
            toml::from_str(&read(path)?).map_err(|error| ConfigError::Parse {
                path: path.to_path_buf(),
                detail: error.to_string(),
            })?;
        let committee = load_committee(&config.committee_file)?;
        // A chain parameter: the committee file decides it, and a node file that says
        // otherwise is refused rather than left to classify positions differently.
        let chain_max = usize::try_from(committee.file.ciphertext_bytes_max)
            .map_err(|_| ConfigError::Invalid("ciphertext_bytes_max does not fit".into()))?;
        if let Some(own) = config
            .mempool
            .ciphertext_bytes_max
            .filter(|own| *own != chain_max)
        {
            return Err(ConfigError::Invalid(format!(
                "mempool.ciphertext_bytes_max is {own} in the node file but {chain_max} in the \
                 committee file (a chain parameter every validator must share); remove it from \
                 the node file"
            )));
        }
        config.mempool.ciphertext_bytes_max = Some(chain_max);
        config.validate()?;
        if config.storage.retain_heights <= committee.file.validity_heights {
            // A pruned height's ordering entries must no longer decide anything, or pruning
            // would change this validator's order (ADR 0008).
            return Err(ConfigError::Invalid(format!(
                "storage.retain_heights ({}) must exceed the committee's validity_heights ({})",
                config.storage.retain_heights, committee.file.validity_heights
            )));
        }
        let secret = zeroize::Zeroizing::new(hex_field(
            &read_secret(&config.bls_secret_key_file)?,
            "BLS secret key",
        )?);
        let signer = SecretKey::from_bytes(&secret)
            .map_err(|error| ConfigError::Invalid(format!("BLS secret key: {error}")))?;
        let own_key = hex::encode(signer.public_key().to_bytes());
        let found = committee
            .file
            .validators
            .iter()
            .position(|entry| entry.bls_public_key.trim() == own_key);
        let index = match (config.index, found) {
            (Some(index), Some(found)) if usize::from(index) == found => found,
            (Some(index), _) => {
                return Err(ConfigError::Invalid(format!(
                    "the BLS secret key does not match index {index} in the committee"
                )))
            }
            (None, Some(found)) => found,
            (None, None) => {
                return Err(ConfigError::Invalid(
                    "the BLS secret key is not a member's of the committee".into(),
                ))
            }
        };
        let index_u16 =
            u16::try_from(index).map_err(|_| ConfigError::Invalid("index too large".into()))?;
        let certificate =
            fs::read(&config.tls_certificate_file).map_err(|source| ConfigError::Io {
                path: config.tls_certificate_file.clone(),
                source,
            })?;
        check_private(&config.tls_key_file)?;
        let key = fs::read(&config.tls_key_file).map_err(|source| ConfigError::Io {
            path: config.tls_key_file.clone(),
            source,
        })?;
        let identity = Identity::from_der(certificate, key);
        if identity.pin() != committee.pins[index] {
            return Err(ConfigError::Invalid(
                "the TLS certificate does not match this index's pin in the committee".into(),
            ));
        }
        let (key_share, dkg_key) = match &committee.public_key_set {
            Some(public) => {
                let path = config.key_share_file.as_ref().ok_or_else(|| {
                    ConfigError::Invalid(
                        "the committee file has a dealer's key set: key_share_file is needed"
                            .into(),
                    )
                })?;
                let share = read_share(path, index_u16)?;
                check_share(public, &share)?;
                (Some(share), None)
            }
            None => {
                let dkg_key = load_dkg_key(&config, &committee, index)?;
                let stored = dkg_share_path(&config.data_dir);
                let share = if stored.exists() {
                    Some(read_share(&stored, index_u16)?)
                } else {
                    None
                };
                (share, Some(dkg_key))
            }
        };
        Ok(Loaded {
            config,
            committee,
            signer,
            identity,
            index: index_u16,
            key_share,
            dkg_key,
        })
    }

    /// The rules a node file must follow on its own.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.mempool
            .mempool()
            .validate()
            .map_err(ConfigError::Invalid)?;
        self.ingress.validate().map_err(ConfigError::Invalid)?;
        if self.mempool.batches_per_block_max == 0 {
            return Err(ConfigError::Invalid(
                "mempool.batches_per_block_max must be positive".into(),
            ));
        }
        if self.consensus.base_timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "consensus.base_timeout_ms must be positive".into(),
            ));
        }
        if self.consensus.backoff_exponent_max > 16 {
            return Err(ConfigError::Invalid(
                "consensus.backoff_exponent_max must be at most 16".into(),
            ));
        }
        if self.storage.retain_heights < RETAIN_HEIGHTS_MIN {
            return Err(ConfigError::Invalid(format!(
                "storage.retain_heights must be at least {RETAIN_HEIGHTS_MIN}"
            )));
        }
        self.faults.check(FAULT_INJECTION)
    }
}

/// Refuses a key share that does not match its verification key in `public`.
pub fn check_share(public: &PublicKeySet, share: &KeyShare) -> Result<(), ConfigError> {
    let expected = public
        .verification_key(share.index())
        .map_err(|error| ConfigError::Invalid(format!("key share: {error}")))?;
    if share.verification_key() != *expected {
        return Err(ConfigError::Invalid(
            "the key share does not match this index's verification key".into(),
        ));
    }
    Ok(())
}

fn load_dkg_key(
    config: &NodeConfig,
    committee: &LoadedCommittee,
    index: usize,
) -> Result<DkgSecretKey, ConfigError> {
    let path = config.dkg_key_file.as_ref().ok_or_else(|| {
        ConfigError::Invalid(
            "the committee file has no key set (the validators run the DKG): dkg_key_file is \
             needed"
                .into(),
        )
    })?;
    let text = read_secret(path)?;
    let bytes = zeroize::Zeroizing::new(hex_field(&text, "DKG secret key")?);
    let key = DkgSecretKey::from_bytes(&bytes)
        .map_err(|error| ConfigError::Invalid(format!("{}: {error}", path.display())))?;
    let listed = committee.file.validators[index]
        .dkg_public_key
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_string();
    if hex::encode(key.public_key().to_bytes()) != listed {
        return Err(ConfigError::Invalid(format!(
            "{}: the DKG key does not match validator {index}'s dkg_public_key",
            path.display()
        )));
    }
    Ok(key)
}

/// Addresses of one generated validator.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// Validator-to-validator QUIC.
    pub peer: SocketAddr,
    /// Client QUIC.
    pub client: SocketAddr,
    /// HTTP API.
    pub http: SocketAddr,
}

/// How a test network gets its threshold key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The validators run the distributed key generation when they start (no dealer: what a
    /// real committee does).
    Dkg,
    /// The **trusted dealer, for local test networks only**: whoever runs it holds the whole
    /// decryption key and can read every transaction before it is ordered.
    TrustedDealer,
}

/// Writes a local test network: keys, committee file and one node file per validator, under
/// `dir`. With [`KeySource::Dkg`] the committee file has no key set and each validator gets a
/// DKG key; with [`KeySource::TrustedDealer`] a dealer makes the key. Returns the node files'
/// paths.
pub fn write_testnet(
    dir: &Path,
    ports: &[Ports],
    chain_id: u64,
    consensus: ConsensusSection,
    mempool: MempoolSection,
    keys: KeySource,
) -> Result<Vec<PathBuf>, ConfigError> {
    let count = ports.len();
    if count == 0 {
        return Err(ConfigError::Invalid(
            "a test network needs validators".into(),
        ));
    }
    let fault_bound = (count - 1) / 3;
    let mut rng = rand_core::OsRng;
    let dealt = match keys {
        KeySource::TrustedDealer => Some(
            trusted_dealer_for_local_testnet(fault_bound + 1, count, &mut rng)
                .map_err(|error| ConfigError::Invalid(format!("dealer: {error}")))?,
        ),
        KeySource::Dkg => None,
    };
    let mut validators = Vec::with_capacity(count);
    let mut paths = Vec::with_capacity(count);
    let committee_file = dir.join("committee.toml");
    for (index, ports) in ports.iter().enumerate() {
        let home = dir.join(format!("validator-{index}"));
        let member = write_member_keys(&home, ports)?;
        let (key_share_file, dkg_key_file) = match &dealt {
            Some((_, shares)) => {
                let share_file = home.join("key-share.hex");
                write_file(
                    &share_file,
                    hex::encode(shares[index].secret_bytes().as_ref()).as_bytes(),
                    true,
                )?;
                (Some(share_file), None)
            }
            None => (None, Some(home.join("dkg.key"))),
        };
        validators.push(MemberEntry {
            dkg_public_key: dkg_key_file.as_ref().and(member.dkg_public_key.clone()),
            ..member
        });
        let node = NodeConfig {
            index: Some(
                u16::try_from(index)
                    .map_err(|_| ConfigError::Invalid("too many validators".into()))?,
            ),
            committee_file: committee_file.clone(),
            data_dir: home.join("data"),
            bls_secret_key_file: home.join("bls.key"),
            tls_certificate_file: home.join("tls.cert.der"),
            tls_key_file: home.join("tls.key.der"),
            key_share_file,
            dkg_key_file,
            consensus: consensus.clone(),
            mempool: mempool.clone(),
            storage: StorageSection::default(),
            ingress: crate::ingress::IngressConfig::default(),
            faults: FaultsSection::default(),
            ordering_only: false,
        };
        let path = home.join("node.toml");
        let text =
            toml::to_string(&node).map_err(|error| ConfigError::Invalid(error.to_string()))?;
        write_file(&path, text.as_bytes(), false)?;
        paths.push(path);
    }
    let committee = CommitteeFile {
        chain_id,
        epoch: 1,
        validity_heights: shroud_proofs::validity::VALIDITY_HEIGHTS_DEFAULT,
        ciphertext_bytes_max: shroud_proofs::CIPHERTEXT_BYTES_MAX_DEFAULT,
        public_key_set: dealt
            .as_ref()
            .map(|(public, _)| hex::encode(public.to_bytes())),
        dkg_window_heights: shroud_proofs::DKG_WINDOW_HEIGHTS_DEFAULT,
        validators,
    };
    let text =
        toml::to_string(&committee).map_err(|error| ConfigError::Invalid(error.to_string()))?;
    write_file(&committee_file, text.as_bytes(), false)?;
    Ok(paths)
}

/// One operator's keys, written under `home` (secret files 0600): `bls.key`, `tls.cert.der`,
/// `tls.key.der`, `dkg.key`. Returns the member's public entry for the genesis file.
pub fn write_member_keys(home: &Path, ports: &Ports) -> Result<MemberEntry, ConfigError> {
    let signer = SecretKey::random();
    let identity = Identity::generate().map_err(|error| ConfigError::Invalid(error.to_string()))?;
    let dkg_key = DkgSecretKey::random(&mut rand_core::OsRng);
    write_file(
        &home.join("bls.key"),
        zeroize::Zeroizing::new(hex::encode(signer.to_bytes().as_ref())).as_bytes(),
        true,
    )?;
    write_file(
        &home.join("tls.cert.der"),
        identity.certificate_der(),
        false,
    )?;
    write_file(&home.join("tls.key.der"), identity.key_der(), true)?;
    write_file(
        &home.join("dkg.key"),
        zeroize::Zeroizing::new(hex::encode(dkg_key.to_bytes().as_ref())).as_bytes(),
        true,
    )?;
    Ok(MemberEntry {
        bls_public_key: hex::encode(signer.public_key().to_bytes()),
        proof_of_possession: hex::encode(signer.prove_possession().to_bytes()),
        tls_pin: identity.pin().to_hex(),
        peer_address: ports.peer,
        client_address: ports.client,
        http_address: ports.http,
        dkg_public_key: Some(hex::encode(dkg_key.public_key().to_bytes())),
    })
}

/// A genesis committee file from the operators' public entries, in the order given: no
/// secret in it, and no threshold key (the validators form it with the DKG).
pub fn genesis(
    chain_id: u64,
    members: Vec<MemberEntry>,
    dkg_window_heights: u64,
) -> Result<CommitteeFile, ConfigError> {
    let file = CommitteeFile {
        chain_id,
        epoch: 1,
        validity_heights: shroud_proofs::validity::VALIDITY_HEIGHTS_DEFAULT,
        ciphertext_bytes_max: shroud_proofs::CIPHERTEXT_BYTES_MAX_DEFAULT,
        public_key_set: None,
        dkg_window_heights,
        validators: members,
    };
    // The same checks every validator and client makes.
    check_committee(file.clone())?;
    Ok(file)
}

/// Writes a file that is not secret (a genesis or member file).
pub fn write_public_file(path: &Path, contents: &str) -> Result<(), ConfigError> {
    write_file(path, contents.as_bytes(), false)
}

/// Sets the validity window of a test network written by [`write_testnet`] in `dir` (a
/// network with a short retention window needs a shorter validity window).
pub fn set_validity_heights(dir: &Path, validity_heights: u64) -> Result<(), ConfigError> {
    let path = dir.join("committee.toml");
    let mut committee: CommitteeFile =
        toml::from_str(&read(&path)?).map_err(|error| ConfigError::Parse {
            path: path.clone(),
            detail: error.to_string(),
        })?;
    committee.validity_heights = validity_heights;
    let text =
        toml::to_string(&committee).map_err(|error| ConfigError::Invalid(error.to_string()))?;
    write_file(&path, text.as_bytes(), false)
}

/// Free loopback ports for a test network (bound and released; the kernel does not hand
/// them out again immediately).
pub fn free_loopback_ports(count: usize) -> Result<Vec<Ports>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: PathBuf::from("127.0.0.1"),
        source,
    };
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let udp_peer = std::net::UdpSocket::bind("127.0.0.1:0").map_err(io)?;
        let udp_client = std::net::UdpSocket::bind("127.0.0.1:0").map_err(io)?;
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").map_err(io)?;
        out.push(Ports {
            peer: udp_peer.local_addr().map_err(io)?,
            client: udp_client.local_addr().map_err(io)?,
            http: tcp.local_addr().map_err(io)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_testnet_loads_and_tampering_is_caught() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports = free_loopback_ports(4).expect("ports");
        let paths = write_testnet(
            dir.path(),
            &ports,
            7,
            ConsensusSection::default(),
            MempoolSection::default(),
            KeySource::TrustedDealer,
        )
        .expect("testnet");
        assert_eq!(paths.len(), 4);
        for (index, path) in paths.iter().enumerate() {
            let loaded = NodeConfig::load(path).expect("loads");
            assert_eq!(usize::from(loaded.index), index);
            assert_eq!(loaded.committee.committee.size(), 4);
            let public = loaded.committee.public_key_set.as_ref().expect("dealt");
            assert_eq!(public.threshold(), 2);
            assert!(loaded.key_share.is_some() && loaded.dkg_key.is_none());
        }
        // Validator 1's node file pointing at validator 0's BLS key is refused.
        let mut config: NodeConfig =
            toml::from_str(&fs::read_to_string(&paths[1]).expect("read")).expect("parse");
        config.bls_secret_key_file = dir.path().join("validator-0/bls.key");
        let swapped = dir.path().join("swapped.toml");
        fs::write(&swapped, toml::to_string(&config).expect("toml")).expect("write");
        let error = NodeConfig::load(&swapped).expect_err("mismatched key");
        assert!(
            error.to_string().contains("BLS secret key does not match"),
            "{error}"
        );
        // The largest ciphertext is a chain parameter: a node file that disagrees is refused.
        let mut own_limit = config.clone();
        own_limit.mempool.ciphertext_bytes_max = Some(1_000);
        fs::write(&swapped, toml::to_string(&own_limit).expect("toml")).expect("write");
        let error = NodeConfig::load(&swapped).expect_err("disagrees with the committee");
        assert!(error.to_string().contains("chain parameter"), "{error}");
        // Without an index, the node finds itself by its BLS key.
        config.bls_secret_key_file = dir.path().join("validator-1/bls.key");
        config.index = None;
        fs::write(&swapped, toml::to_string(&config).expect("toml")).expect("write");
        assert_eq!(NodeConfig::load(&swapped).expect("loads").index, 1);
        // A broken rule gets its own message.
        config.mempool.batch_count_max = 0;
        assert!(config
            .validate()
            .expect_err("zero batch size")
            .to_string()
            .contains("batch_count_max"));
        config.mempool.batch_count_max = MempoolSection::default().batch_count_max;
        config.storage.retain_heights = RETAIN_HEIGHTS_MIN - 1;
        assert!(config
            .validate()
            .expect_err("retention under the floor")
            .to_string()
            .contains("storage.retain_heights"));
        // A secret key file is private to its owner, and one that is not is refused.
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("validator-0/bls.key");
        let mode = fs::metadata(&key).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = NodeConfig::load(&paths[0]).expect_err("readable key");
        assert!(error.to_string().contains("chmod 600"), "{error}");
        // A misspelt setting is an error, not a silent default.
        let text = fs::read_to_string(&paths[2]).expect("read");
        let misspelt = text.replace("[consensus]\n", "[consensus]\nbase_timout_ms = 5\n");
        assert_ne!(misspelt, text);
        let path = dir.path().join("misspelt.toml");
        fs::write(&path, misspelt).expect("write");
        let error = NodeConfig::load(&path).expect_err("unknown key");
        assert!(error.to_string().contains("base_timout_ms"), "{error}");
    }

    #[test]
    fn a_dkg_testnet_has_no_key_set_and_checks_the_dkg_keys() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports = free_loopback_ports(4).expect("ports");
        let paths = write_testnet(
            dir.path(),
            &ports,
            7,
            ConsensusSection::default(),
            MempoolSection::default(),
            KeySource::Dkg,
        )
        .expect("testnet");
        let committee = fs::read_to_string(dir.path().join("committee.toml")).expect("read");
        assert!(!committee.contains("public_key_set"));
        for (index, path) in paths.iter().enumerate() {
            let loaded = NodeConfig::load(path).expect("loads");
            assert_eq!(usize::from(loaded.index), index);
            assert!(loaded.committee.public_key_set.is_none());
            assert!(loaded.key_share.is_none() && loaded.dkg_key.is_some());
            let params = loaded.committee.dkg_params.expect("dkg params");
            assert_eq!((params.member_count(), params.threshold()), (4, 2));
        }
        // Another validator's DKG key is refused.
        let mut config: NodeConfig =
            toml::from_str(&fs::read_to_string(&paths[1]).expect("read")).expect("parse");
        config.dkg_key_file = Some(dir.path().join("validator-0/dkg.key"));
        let swapped = dir.path().join("swapped.toml");
        fs::write(&swapped, toml::to_string(&config).expect("toml")).expect("write");
        let error = NodeConfig::load(&swapped).expect_err("another DKG key");
        assert!(
            error.to_string().contains("does not match validator 1"),
            "{error}"
        );
        // A genesis file from the members' entries checks like any committee file.
        let file: CommitteeFile = toml::from_str(&committee).expect("parse");
        let built = genesis(7, file.validators.clone(), 50).expect("genesis");
        assert!(built.public_key_set.is_none());
        let mut missing = file.validators;
        missing[2].dkg_public_key = None;
        assert!(genesis(7, missing, 50).is_err());
        // The largest DKG messages of a committee must fit in a post.
        assert!(check_dkg_fits(4, 2).is_ok());
        assert!(check_dkg_fits(500, 167).is_ok());
        assert!(check_dkg_fits(1_000, 334)
            .expect_err("too large")
            .to_string()
            .contains("cannot run the DKG"));
    }

    #[test]
    fn faults_are_refused_by_a_build_without_fault_injection() {
        let none = FaultsSection::default();
        assert!(none.check(false).is_ok() && none.check(true).is_ok());
        let byzantine = FaultsSection {
            dkg_equivocate: true,
            invalid_decryption_shares: true,
            ..FaultsSection::default()
        };
        assert!(byzantine.check(true).is_ok());
        let error = byzantine.check(false).expect_err("refused").to_string();
        assert!(
            error.contains("invalid_decryption_shares, dkg_equivocate"),
            "{error}"
        );
        // The tests' build has the feature; `cargo build --release` does not.
        const { assert!(FAULT_INJECTION) };
    }

    #[test]
    fn the_recommended_retention_covers_consensus_catch_up() {
        let kept = shroud_consensus::Limits::default().committed_blocks_kept as u64;
        assert!(RETAIN_HEIGHTS_RECOMMENDED >= 2 * kept);
        assert!(StorageSection::default().retain_heights >= RETAIN_HEIGHTS_RECOMMENDED);
    }
}
