// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Shroud light client
/// @notice Follows Shroud's certified outputs on Ethereum. For every height it checks the output
/// certificate (2f+1 of the committee signed the output header with BLS12-381, verified with the
/// EIP-2537 precompiles) and records the header's payload root, the root of the namespace tree,
/// so a rollup can check its namespace's items at that height with `verifyNamespace`.
///
/// Formats (all defined in the `shroud-proofs` crate, which is the reference):
/// - the output header is 152 bytes: chain id, epoch, height (big-endian u64), block digest,
///   ciphertexts root, payload root, parent output digest (32 bytes each);
/// - a signature is over `SHA-256(len(tag) || tag || encoding)` with tag
///   `SHROUD-V1-SIG-OUTPUT-HEADER`, hashed to G2 with the Ethereum ciphersuite
///   `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_` (RFC 9380); public keys are in G1;
/// - the signer bitmap has bit `i % 8` (least significant first) of byte `i / 8` set when member
///   `i` signed, exactly `ceil(n / 8)` bytes, no bit past `n`;
/// - points use the EIP-2537 encodings (G1: 128 bytes, G2: 256 bytes).
///
/// Storage is laid out for the per-height cost: one packed slot (committee, last height), the
/// last header's digest, and a ring of `ringSize` payload roots indexed by `height % ringSize`,
/// so once the ring has wrapped every write overwrites a non-zero slot. The committee's keys live
/// in a code blob (a contract whose code is the data), read with EXTCODECOPY: the header with
/// epoch, size and aggregate key, then every member's key negated, so a signer who is absent
/// costs one read and one G1ADD.
///
/// Trust: committee keys are accepted without their proofs of possession being checked here.
/// The deployer vouches for the first committee; each later committee is vouched for by 2f+1 of
/// the one before (`handOver`), whose honest members check the proofs before signing.
contract ShroudLightClient {
    // ---------------------------------------------------------------- errors and events

    error WrongChain(uint64 expected, uint64 got);
    error WrongEpoch(uint64 expected, uint64 got);
    error BadHeaderLength(uint256 got);
    error NotNextHeight(uint64 expected, uint64 got);
    error WrongParent(bytes32 expected, bytes32 got);
    error AlreadyCertified(uint64 height);
    error ConflictingHeader(uint64 height);
    error BadBitmapLength(uint256 expected, uint256 got);
    error UnknownSigner(uint256 byteIndex);
    error BelowQuorum(uint256 signers, uint256 quorum);
    error BadSignatureLength(uint256 got);
    error SignatureAtInfinity();
    error AggregateKeyAtInfinity();
    error BadSignature();
    error PrecompileFailed(uint256 precompile);
    error BadCommitteeSize(uint256 size);
    error BadKeysLength(uint256 got);
    error KeyAtInfinity(uint256 index);
    error BadKey(uint256 index);
    error BadHandoverLength(uint256 got);
    error WrongNextEpoch(uint64 expected, uint64 got);
    error HandoverBoundary(uint64 lastHeight, uint64 handoverHeight);
    error HandoverOutput(bytes32 lastOutput, bytes32 handoverOutput);
    error WrongKeysDigest(bytes32 expected, bytes32 got);
    error BadRingSize(uint64 ringSize);
    error BlobDeployFailed();

    /// A height's output was certified; `payloadRoot` is now what its namespace proofs check.
    event OutputCertified(uint64 indexed height, bytes32 outputDigest, bytes32 payloadRoot);
    /// A new committee took over after `lastHeight`.
    event CommitteeHandedOver(uint64 indexed epoch, uint64 lastHeight, address keys, uint256 size);

    // ---------------------------------------------------------------- constants

    /// Bytes of an output header.
    uint256 internal constant HEADER_BYTES = 152;
    /// Bytes of a committee handover encoding.
    uint256 internal constant HANDOVER_BYTES = 96;
    /// EIP-2537 encodings.
    uint256 internal constant G1_BYTES = 128;
    uint256 internal constant G2_BYTES = 256;
    /// Blob layout: a STOP byte, epoch (8), size (2), aggregate key (128), negated keys.
    uint256 internal constant BLOB_EPOCH = 1;
    uint256 internal constant BLOB_AGGREGATE = 11;
    uint256 internal constant BLOB_KEYS = 139;
    /// Largest committee whose blob fits the EIP-170 code size limit (24,576 bytes).
    uint256 public constant COMMITTEE_SIZE_MAX = 190;

    bytes internal constant TAG_OUTPUT_HEADER = "SHROUD-V1-SIG-OUTPUT-HEADER";
    bytes internal constant TAG_HANDOVER = "SHROUD-V1-SIG-COMMITTEE-HANDOVER";
    bytes internal constant TAG_HEADER_DIGEST = "SHROUD-V1-OUTPUT-HEADER-DIGEST";
    bytes internal constant TAG_COMMITTEE_KEYS = "SHROUD-V1-COMMITTEE-KEYS";
    bytes internal constant TAG_MERKLE_NODE = "SHROUD-V1-MERKLE-NODE";
    bytes internal constant TAG_MERKLE_EMPTY = "SHROUD-V1-MERKLE-EMPTY";
    bytes internal constant TAG_MERKLE_SIZED_ROOT = "SHROUD-V1-MERKLE-SIZED-ROOT";
    bytes internal constant TAG_MERKLE_NAMESPACE_LEAF = "SHROUD-V1-MERKLE-NAMESPACE";

    /// `DST || len(DST)` for `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_` (43 bytes), in two
    /// words: the first 32 bytes, then the last 12 left-aligned.
    bytes32 internal constant DST_PRIME_0 = 0x424c535f5349475f424c53313233383147325f584d443a5348412d3235365f53;
    bytes32 internal constant DST_PRIME_1 = 0x5357555f524f5f504f505f2b0000000000000000000000000000000000000000;

    /// The base-field modulus p, 48 bytes big-endian, in two words (the second left-aligned).
    bytes32 internal constant P_0 = 0x1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f624;
    bytes32 internal constant P_1 = 0x1eabfffeb153ffffb9feffffffffaaab00000000000000000000000000000000;
    /// p as a 384-bit integer: the high 128 bits and the low 256 bits.
    uint256 internal constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 internal constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;

    /// The negated G1 generator in EIP-2537 encoding (x then p - y, 64 bytes each).
    uint256 internal constant NEG_G1_X_HI = 0x17f1d3a73197d7942695638c4fa9ac0f;
    uint256 internal constant NEG_G1_X_LO = 0xc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb;
    uint256 internal constant NEG_G1_Y_HI = 0x114d1d6855d545a8aa7d76c8cf2e21f2;
    uint256 internal constant NEG_G1_Y_LO = 0x67816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca;

    /// Byte `low mod 11` is the index of the single set bit in `low` (1, 2, 4, …, 128).
    bytes32 internal constant LOW_BIT_INDEX = 0xff0001ff0204ff07030605000000000000000000000000000000000000000000;

    /// Precompiles: SHA-256, MODEXP, and EIP-2537's G1ADD, G2ADD, PAIRING, MAP_FP2_TO_G2.
    uint256 internal constant SHA256 = 0x02;
    uint256 internal constant MODEXP = 0x05;
    uint256 internal constant G1ADD = 0x0b;
    uint256 internal constant G2ADD = 0x0d;
    uint256 internal constant PAIRING = 0x0f;
    uint256 internal constant MAP_FP2_TO_G2 = 0x11;

    // ---------------------------------------------------------------- state

    /// The chain whose outputs this contract follows.
    uint64 public immutable chainId;
    /// How many recent heights keep their payload root.
    uint64 public immutable ringSize;
    /// The height this contract was anchored at (its output is trusted, not certified here).
    uint64 public immutable anchorHeight;

    /// The current committee's key blob, and the last certified height (one slot).
    address internal committeeBlob;
    uint64 public lastHeight;
    /// The digest of the last certified header (what the next one must name as its parent).
    bytes32 public lastOutput;
    /// Payload roots of the last `ringSize` heights, at `height % ringSize`.
    mapping(uint256 => bytes32) internal payloadRoots;

    /// @param chainId_ the Shroud chain id.
    /// @param epoch the epoch of `keys`.
    /// @param keys the committee's public keys, EIP-2537 G1 encodings, in member order.
    /// @param anchorHeight_ the height after which outputs are followed (0 for a new chain).
    /// @param anchorOutput the header digest at `anchorHeight_` (zero for a new chain).
    /// @param ringSize_ how many heights keep their payload root (at least 1).
    constructor(
        uint64 chainId_,
        uint64 epoch,
        bytes memory keys,
        uint64 anchorHeight_,
        bytes32 anchorOutput,
        uint64 ringSize_
    ) {
        if (ringSize_ == 0) revert BadRingSize(ringSize_);
        chainId = chainId_;
        ringSize = ringSize_;
        anchorHeight = anchorHeight_;
        committeeBlob = _installCommittee(epoch, keys);
        lastHeight = anchorHeight_;
        lastOutput = anchorOutput;
    }

    // ---------------------------------------------------------------- outputs

    /// @notice Certifies the output header of the next height.
    /// @param header the 152-byte header encoding.
    /// @param signers the signer bitmap over the current committee.
    /// @param signature the aggregate signature, EIP-2537 G2 encoding.
    function submitOutput(bytes calldata header, bytes calldata signers, bytes calldata signature) external {
        if (header.length != HEADER_BYTES) revert BadHeaderLength(header.length);
        uint64 headerChain;
        uint64 headerEpoch;
        uint64 height;
        bytes32 root;
        bytes32 parent;
        assembly ("memory-safe") {
            let word := calldataload(header.offset)
            headerChain := shr(192, word)
            headerEpoch := and(shr(128, word), 0xffffffffffffffff)
            height := and(shr(64, word), 0xffffffffffffffff)
            root := calldataload(add(header.offset, 88))
            parent := calldataload(add(header.offset, 120))
        }
        if (headerChain != chainId) revert WrongChain(chainId, headerChain);

        address blob = committeeBlob;
        uint64 last = lastHeight;
        if (height <= last) _refuseStale(header, height, last, root);
        if (height != last + 1) revert NotNextHeight(last + 1, height);
        bytes32 expectedParent = lastOutput;
        if (parent != expectedParent) revert WrongParent(expectedParent, parent);
        (uint64 epoch, uint256 size) = _committeeHeader(blob);
        if (headerEpoch != epoch) revert WrongEpoch(epoch, headerEpoch);

        _verifyCertificate(blob, size, _signingMessage(TAG_OUTPUT_HEADER, header), signers, signature);

        bytes32 digest = _headerDigest(header);
        lastHeight = height;
        lastOutput = digest;
        payloadRoots[height % ringSize] = root;
        emit OutputCertified(height, digest, root);
    }

    /// @notice The certified payload root of `height`, if it is still in the ring.
    function payloadRoot(uint64 height) public view returns (bool known, bytes32 root) {
        uint64 last = lastHeight;
        if (height <= anchorHeight || height > last || last - height >= ringSize) {
            return (false, bytes32(0));
        }
        return (true, payloadRoots[height % ringSize]);
    }

    /// @notice Whether `namespace` holds exactly the items with root `itemsRoot` at `height`.
    /// @param itemsRoot the Merkle root over the namespace's item leaves (as in `shroud-proofs`);
    /// for a namespace with no items at that height, the empty tree's root.
    /// @param proof inclusion: `0x00 || item count (8) || leaf index (4) || leaf count (4) ||
    /// siblings (32 each)`; absence: `0x01 || leaf count (4) || left || right`, where each
    /// neighbour is `0x00` (none) or `0x01 || leaf index (4) || namespace (8) || item count (8)
    /// || items root (32) || sibling count (1) || siblings (32 each)`. Integers big-endian.
    function verifyNamespace(uint64 height, uint64 namespace, bytes32 itemsRoot, bytes calldata proof)
        external
        view
        returns (bool)
    {
        (bool known, bytes32 root) = payloadRoot(height);
        if (!known || proof.length == 0) return false;
        if (proof[0] == 0x00) {
            if (proof.length < 17 || (proof.length - 17) % 32 != 0) return false;
            uint64 itemCount = uint64(bytes8(proof[1:9]));
            uint32 leafIndex = uint32(bytes4(proof[9:13]));
            uint32 leafCount = uint32(bytes4(proof[13:17]));
            if (itemCount == 0) return false;
            bytes32 leaf = _namespaceLeaf(namespace, itemCount, itemsRoot);
            return _provesLeaf(leaf, leafIndex, leafCount, proof[17:], root);
        }
        if (proof[0] == 0x01) {
            if (itemsRoot != sha256(TAG_MERKLE_EMPTY)) return false;
            return _absenceHolds(namespace, proof[1:], root);
        }
        return false;
    }

    // ---------------------------------------------------------------- committee

    /// @notice Hands over to the next epoch's committee.
    /// @param handover the 96-byte handover encoding: chain id, epoch, next epoch, last height
    /// (big-endian u64), last output digest, next keys digest.
    /// @param nextKeys the next committee's keys, EIP-2537 G1 encodings, in member order.
    /// @param signers the signer bitmap over the current committee.
    /// @param signature the aggregate signature, EIP-2537 G2 encoding.
    function handOver(
        bytes calldata handover,
        bytes calldata nextKeys,
        bytes calldata signers,
        bytes calldata signature
    ) external {
        if (handover.length != HANDOVER_BYTES) revert BadHandoverLength(handover.length);
        uint64 handoverChain = uint64(bytes8(handover[0:8]));
        uint64 handoverEpoch = uint64(bytes8(handover[8:16]));
        uint64 nextEpoch = uint64(bytes8(handover[16:24]));
        uint64 boundary = uint64(bytes8(handover[24:32]));
        bytes32 boundaryOutput = bytes32(handover[32:64]);
        bytes32 keysDigest = bytes32(handover[64:96]);
        if (handoverChain != chainId) revert WrongChain(chainId, handoverChain);

        address blob = committeeBlob;
        (uint64 epoch, uint256 currentSize) = _committeeHeader(blob);
        if (handoverEpoch != epoch) revert WrongEpoch(epoch, handoverEpoch);
        if (nextEpoch != epoch + 1) revert WrongNextEpoch(epoch + 1, nextEpoch);
        if (boundary != lastHeight) revert HandoverBoundary(lastHeight, boundary);
        if (boundaryOutput != lastOutput) revert HandoverOutput(lastOutput, boundaryOutput);
        _verifyCertificate(blob, currentSize, _signingMessage(TAG_HANDOVER, handover), signers, signature);
        if (nextKeys.length == 0 || nextKeys.length % G1_BYTES != 0) revert BadKeysLength(nextKeys.length);
        uint256 size = nextKeys.length / G1_BYTES;
        if (size > COMMITTEE_SIZE_MAX) revert BadCommitteeSize(size);
        bytes32 computed = sha256(abi.encodePacked(TAG_COMMITTEE_KEYS, uint16(size), nextKeys));
        if (computed != keysDigest) revert WrongKeysDigest(computed, keysDigest);

        address next = _installCommittee(nextEpoch, nextKeys);
        committeeBlob = next;
        emit CommitteeHandedOver(nextEpoch, boundary, next, size);
    }

    /// @notice The current committee: epoch, size, key blob and aggregate key.
    function committee() external view returns (uint64 epoch, uint256 size, address keys, bytes memory aggregateKey) {
        keys = committeeBlob;
        (epoch, size) = _committeeHeader(keys);
        aggregateKey = new bytes(G1_BYTES);
        assembly ("memory-safe") {
            extcodecopy(keys, add(aggregateKey, 32), BLOB_AGGREGATE, G1_BYTES)
        }
    }

    // ---------------------------------------------------------------- certificates

    /// Checks that 2f+1 members of the committee in `blob` (of `size` members) signed
    /// `message`.
    function _verifyCertificate(
        address blob,
        uint256 size,
        bytes32 message,
        bytes calldata signers,
        bytes calldata signature
    ) internal view {
        if (signature.length != G2_BYTES) revert BadSignatureLength(signature.length);
        uint256 bitmapBytes = (size + 7) / 8;
        if (signers.length != bitmapBytes) revert BadBitmapLength(bitmapBytes, signers.length);

        // Pairing input: (aggregate key of the signers, H(m)), (-g1, signature).
        uint256 input;
        assembly ("memory-safe") {
            input := mload(0x40)
            mstore(0x40, add(input, 1024))
            // The committee's aggregate key, then subtract each absent member's key: the blob
            // holds the keys negated, so subtraction is G1ADD. The scratch point sits at
            // `input + 128`, just past the accumulator.
            extcodecopy(blob, input, BLOB_AGGREGATE, G1_BYTES)
        }
        // Per bitmap byte: refuse bits past the committee, then subtract each absent member's
        // key. The lowest absent bit `low` (a power of two up to 128) gives its index through
        // `low mod 11`, which is distinct for the eight powers: a byte lookup, not a bit loop.
        uint256 absentCount;
        uint256 unknownAt;
        bool added = true;
        assembly ("memory-safe") {
            let lastByte := sub(bitmapBytes, 1)
            let tail := and(size, 7)
            for { let k := 0 } lt(k, bitmapBytes) { k := add(k, 1) } {
                let bits := byte(0, calldataload(add(signers.offset, k)))
                let full := 0xff
                if and(eq(k, lastByte), iszero(iszero(tail))) { full := sub(shl(tail, 1), 1) }
                if and(bits, not(full)) {
                    unknownAt := add(k, 1)
                    break
                }
                let absent := and(full, not(bits))
                let keys := add(BLOB_KEYS, shl(10, k))
                for {} absent {} {
                    let low := and(absent, sub(0, absent))
                    let j := byte(mod(low, 11), LOW_BIT_INDEX)
                    extcodecopy(blob, add(input, 128), add(keys, shl(7, j)), 128)
                    added := and(added, staticcall(gas(), G1ADD, input, 256, input, 128))
                    absent := xor(absent, low)
                    absentCount := add(absentCount, 1)
                }
            }
        }
        if (unknownAt != 0) revert UnknownSigner(unknownAt - 1);
        if (!added) revert PrecompileFailed(G1ADD);
        uint256 signerCount = size - absentCount;
        uint256 quorum = size - (size - 1) / 3;
        if (signerCount < quorum) revert BelowQuorum(signerCount, quorum);

        bool keyInfinity;
        bool signatureInfinity;
        assembly ("memory-safe") {
            keyInfinity := iszero(or(or(mload(input), mload(add(input, 32))), or(mload(add(input, 64)), mload(add(input, 96)))))
            let s := signature.offset
            signatureInfinity := iszero(
                or(
                    or(or(calldataload(s), calldataload(add(s, 32))), or(calldataload(add(s, 64)), calldataload(add(s, 96)))),
                    or(
                        or(calldataload(add(s, 128)), calldataload(add(s, 160))),
                        or(calldataload(add(s, 192)), calldataload(add(s, 224)))
                    )
                )
            )
        }
        if (keyInfinity) revert AggregateKeyAtInfinity();
        if (signatureInfinity) revert SignatureAtInfinity();

        _hashToG2(message, input + G1_BYTES);
        bool valid;
        assembly ("memory-safe") {
            let g := add(input, 384)
            mstore(g, NEG_G1_X_HI)
            mstore(add(g, 32), NEG_G1_X_LO)
            mstore(add(g, 64), NEG_G1_Y_HI)
            mstore(add(g, 96), NEG_G1_Y_LO)
            calldatacopy(add(input, 512), signature.offset, G2_BYTES)
            // A signature off the curve or outside the subgroup makes the precompile fail.
            let ok := staticcall(gas(), PAIRING, input, 768, 0x00, 0x20)
            valid := and(ok, eq(mload(0x00), 1))
        }
        if (!valid) revert BadSignature();
    }

    /// `SHA-256(len(tag) || tag || encoding)`: the 32-byte message Shroud signs.
    function _signingMessage(bytes memory tag, bytes calldata encoding) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(uint8(tag.length), tag, encoding));
    }

    /// RFC 9380 hash_to_curve for G2 with expand_message_xmd (SHA-256), `len_in_bytes` 256,
    /// the `_POP_` DST; the two field elements are mapped with MAP_FP2_TO_G2 (which clears
    /// the cofactor) and added. Writes the 256-byte point at `out`.
    function _hashToG2(bytes32 message, uint256 out) internal view {
        bool ok = true;
        assembly ("memory-safe") {
            let m := mload(0x40)
            // b_0 = H(Z_pad || msg || I2OSP(256, 2) || I2OSP(0, 1) || DST_prime): 143 bytes.
            mstore(m, 0)
            mstore(add(m, 32), 0)
            mstore(add(m, 64), message)
            mstore(add(m, 96), 0x0100000000000000000000000000000000000000000000000000000000000000)
            mstore(add(m, 99), DST_PRIME_0)
            mstore(add(m, 131), DST_PRIME_1)
            ok := and(ok, staticcall(gas(), SHA256, m, 143, m, 32))
            let b0 := mload(m)
            // b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime): 77 bytes; b_1 takes
            // b_(0) xor zero. The 256 uniform bytes b_1..b_8 go to `u`.
            let q := add(m, 160)
            mstore(add(q, 33), DST_PRIME_0)
            mstore(add(q, 65), DST_PRIME_1)
            let u := add(m, 320)
            let previous := 0
            for { let i := 1 } lt(i, 9) { i := add(i, 1) } {
                mstore(q, xor(b0, previous))
                mstore8(add(q, 32), i)
                let target := add(u, mul(sub(i, 1), 32))
                ok := and(ok, staticcall(gas(), SHA256, q, 77, target, 32))
                previous := mload(target)
            }
            // Each 64-byte chunk, reduced mod p with MODEXP (exponent 1), becomes a 64-byte
            // EIP-2537 field element in `f`: (u0.c0, u0.c1, u1.c0, u1.c1).
            let e := add(m, 576)
            mstore(e, 64)
            mstore(add(e, 32), 1)
            mstore(add(e, 64), 48)
            mstore8(add(e, 160), 1)
            mstore(add(e, 161), P_0)
            mstore(add(e, 193), P_1)
            let f := add(m, 832)
            for { let j := 0 } lt(j, 4) { j := add(j, 1) } {
                mstore(add(e, 96), mload(add(u, mul(j, 64))))
                mstore(add(e, 128), mload(add(u, add(mul(j, 64), 32))))
                let element := add(f, mul(j, 64))
                mstore(element, 0)
                ok := and(ok, staticcall(gas(), MODEXP, e, 209, add(element, 16), 48))
            }
            // Q0 = map(u0), Q1 = map(u1), H = Q0 + Q1.
            let points := add(m, 1088)
            ok := and(ok, staticcall(gas(), MAP_FP2_TO_G2, f, 128, points, 256))
            ok := and(ok, staticcall(gas(), MAP_FP2_TO_G2, add(f, 128), 128, add(points, 256), 256))
            ok := and(ok, staticcall(gas(), G2ADD, points, 512, out, 256))
        }
        if (!ok) revert PrecompileFailed(MAP_FP2_TO_G2);
    }

    // ---------------------------------------------------------------- committee blobs

    /// Validates `keys`, computes their aggregate and stores epoch, size, aggregate and the
    /// negated keys in a new code blob.
    function _installCommittee(uint64 epoch, bytes memory keys) internal returns (address blob) {
        if (keys.length == 0 || keys.length % G1_BYTES != 0) revert BadKeysLength(keys.length);
        uint256 size = keys.length / G1_BYTES;
        if (size > COMMITTEE_SIZE_MAX) revert BadCommitteeSize(size);
        bytes memory code = new bytes(BLOB_KEYS + keys.length);
        uint256 base;
        assembly ("memory-safe") {
            base := add(code, 32)
            mstore8(base, 0)
            mstore(add(base, 1), shl(192, epoch))
            mstore(add(base, 9), shl(240, size))
        }
        uint256 aggregate = base + BLOB_AGGREGATE;
        for (uint256 i = 0; i < size; ++i) {
            uint256 key;
            uint256 xHi;
            uint256 xLo;
            uint256 yHi;
            uint256 yLo;
            assembly ("memory-safe") {
                key := add(add(keys, 32), mul(i, 128))
                xHi := mload(key)
                xLo := mload(add(key, 32))
                yHi := mload(add(key, 64))
                yLo := mload(add(key, 96))
            }
            if (xHi | xLo | yHi | yLo == 0) revert KeyAtInfinity(i);
            // G1ADD checks the encoding and that the point is on the curve (so y < p).
            bool ok;
            assembly ("memory-safe") {
                let scratch := mload(0x40)
                switch i
                case 0 {
                    mcopy(scratch, key, 128)
                    mstore(add(scratch, 128), 0)
                    mstore(add(scratch, 160), 0)
                    mstore(add(scratch, 192), 0)
                    mstore(add(scratch, 224), 0)
                }
                default {
                    mcopy(scratch, aggregate, 128)
                    mcopy(add(scratch, 128), key, 128)
                }
                ok := staticcall(gas(), G1ADD, scratch, 256, aggregate, 128)
            }
            if (!ok || yHi > P_HI) revert BadKey(i);
            // -y = p - y over 384 bits.
            uint256 negLo;
            uint256 negHi;
            unchecked {
                negLo = P_LO - yLo;
                negHi = P_HI - yHi - (yLo > P_LO ? 1 : 0);
            }
            assembly ("memory-safe") {
                let slot := add(base, add(BLOB_KEYS, mul(i, 128)))
                mstore(slot, xHi)
                mstore(add(slot, 32), xLo)
                mstore(add(slot, 64), negHi)
                mstore(add(slot, 96), negLo)
            }
        }
        bool aggregateInfinity;
        assembly ("memory-safe") {
            aggregateInfinity := iszero(
                or(or(mload(aggregate), mload(add(aggregate, 32))), or(mload(add(aggregate, 64)), mload(add(aggregate, 96))))
            )
        }
        if (aggregateInfinity) revert AggregateKeyAtInfinity();

        // Init code: PUSH4 len, DUP1, PUSH1 14, PUSH1 0, CODECOPY, PUSH1 0, RETURN; then the data.
        bytes memory init = abi.encodePacked(hex"63", uint32(code.length), hex"80600e6000396000f3", code);
        assembly ("memory-safe") {
            blob := create(0, add(init, 32), mload(init))
        }
        if (blob == address(0)) revert BlobDeployFailed();
    }

    /// Epoch and size from a blob's header.
    function _committeeHeader(address blob) internal view returns (uint64 epoch, uint256 size) {
        assembly ("memory-safe") {
            extcodecopy(blob, 0x00, BLOB_EPOCH, 10)
            let word := mload(0x00)
            epoch := shr(192, word)
            size := and(shr(176, word), 0xffff)
        }
    }

    // ---------------------------------------------------------------- hashing and proofs

    function _headerDigest(bytes calldata header) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(TAG_HEADER_DIGEST, header));
    }

    /// Refuses a header at or below the last height: the same header again, or another one.
    function _refuseStale(bytes calldata header, uint64 height, uint64 last, bytes32 root) internal view {
        bool same;
        if (height == last) {
            same = _headerDigest(header) == lastOutput;
        } else {
            (bool known, bytes32 stored) = payloadRoot(height);
            same = known && stored == root;
        }
        if (same) revert AlreadyCertified(height);
        revert ConflictingHeader(height);
    }

    function _node(bytes32 left, bytes32 right) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(TAG_MERKLE_NODE, left, right));
    }

    function _sized(uint64 count, bytes32 root) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(TAG_MERKLE_SIZED_ROOT, count, root));
    }

    function _namespaceLeaf(uint64 namespace, uint64 itemCount, bytes32 itemsRoot) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(TAG_MERKLE_NAMESPACE_LEAF, namespace, itemCount, itemsRoot));
    }

    /// Whether `leaf` at `index` of `count` leaves, with the sibling hashes in `path`, gives the
    /// sized root `root` (RFC 9162 §2.1.3.2, then the count bound in).
    function _provesLeaf(bytes32 leaf, uint64 index, uint64 count, bytes calldata path, bytes32 root)
        internal
        pure
        returns (bool)
    {
        if (index >= count || path.length % 32 != 0) return false;
        uint64 position = index;
        uint64 lastIndex = count - 1;
        bytes32 current = leaf;
        for (uint256 at = 0; at < path.length; at += 32) {
            if (lastIndex == 0) return false;
            bytes32 sibling = bytes32(path[at:at + 32]);
            if (position & 1 == 1 || position == lastIndex) {
                current = _node(sibling, current);
                if (position & 1 == 0) {
                    while (position & 1 == 0 && position != 0) {
                        position >>= 1;
                        lastIndex >>= 1;
                    }
                }
            } else {
                current = _node(current, sibling);
            }
            position >>= 1;
            lastIndex >>= 1;
        }
        return lastIndex == 0 && _sized(count, current) == root;
    }

    struct Neighbour {
        bool present;
        uint32 leafIndex;
        uint64 namespace;
        bool proves;
    }

    /// Reads one neighbour at `proof[at:]`; returns it and the offset past it.
    function _neighbour(bytes calldata proof, uint256 at, uint32 leafCount, bytes32 root)
        internal
        pure
        returns (Neighbour memory neighbour, uint256 next, bool wellFormed)
    {
        if (proof.length < at + 1) return (neighbour, at, false);
        if (proof[at] == 0x00) return (neighbour, at + 1, true);
        if (proof[at] != 0x01 || proof.length < at + 54) return (neighbour, at, false);
        neighbour.present = true;
        neighbour.leafIndex = uint32(bytes4(proof[at + 1:at + 5]));
        neighbour.namespace = uint64(bytes8(proof[at + 5:at + 13]));
        uint64 itemCount = uint64(bytes8(proof[at + 13:at + 21]));
        bytes32 itemsRoot = bytes32(proof[at + 21:at + 53]);
        uint256 siblings = uint8(proof[at + 53]);
        next = at + 54 + siblings * 32;
        if (proof.length < next) return (neighbour, at, false);
        bytes32 leaf = _namespaceLeaf(neighbour.namespace, itemCount, itemsRoot);
        neighbour.proves = _provesLeaf(leaf, neighbour.leafIndex, leafCount, proof[at + 54:next], root);
        wellFormed = true;
    }

    /// The namespace has no leaf: its neighbours are adjacent leaves around it (or the first
    /// or last leaf), or the tree is empty. The sized root fixes the leaf count, so "first" and
    /// "last" cannot be faked.
    function _absenceHolds(uint64 namespace, bytes calldata proof, bytes32 root) internal pure returns (bool) {
        if (proof.length < 4) return false;
        uint32 leafCount = uint32(bytes4(proof[0:4]));
        (Neighbour memory left, uint256 afterLeft, bool leftOk) = _neighbour(proof, 4, leafCount, root);
        if (!leftOk) return false;
        (Neighbour memory right, uint256 afterRight, bool rightOk) = _neighbour(proof, afterLeft, leafCount, root);
        if (!rightOk || afterRight != proof.length) return false;
        if (leafCount == 0) {
            return !left.present && !right.present && _sized(0, sha256(TAG_MERKLE_EMPTY)) == root;
        }
        if (left.present && !(left.namespace < namespace && left.proves)) return false;
        if (right.present && !(right.namespace > namespace && right.proves)) return false;
        if (left.present && right.present) return uint256(left.leafIndex) + 1 == right.leafIndex;
        if (right.present) return right.leafIndex == 0;
        if (left.present) return uint256(left.leafIndex) + 1 == leafCount;
        return false;
    }
}
