//! The point encodings of EIP-2537, the BLS12-381 precompiles an Ethereum contract calls.
//!
//! A base-field element is 64 bytes: 16 zero bytes, then the 48-byte big-endian value. A G1
//! point is `x || y` (128 bytes); a G2 point is `x.c0 || x.c1 || y.c0 || y.c1` (256 bytes).
//! The point at infinity is all zeros. `blst` serializes uncompressed points in the zcash
//! layout instead: 48-byte coordinates with flag bits in the top of the first byte, and G2
//! coordinates with `c1` first; the functions here convert between the two and check the
//! padding of untrusted input.

use crate::error::BlsError;

/// Length of an EIP-2537 G1 point.
pub const G1_BYTES: usize = 128;
/// Length of an EIP-2537 G2 point.
pub const G2_BYTES: usize = 256;
/// Length of an EIP-2537 base-field element.
pub const FP_BYTES: usize = 64;

const FP_VALUE_BYTES: usize = 48;
const FP_PADDING_BYTES: usize = FP_BYTES - FP_VALUE_BYTES;
/// The zcash flag bit that marks the point at infinity in an uncompressed encoding.
const ZCASH_INFINITY_FLAG: u8 = 0x40;

fn put_fp(out: &mut [u8], value: &[u8]) {
    debug_assert_eq!(out.len(), FP_BYTES);
    debug_assert_eq!(value.len(), FP_VALUE_BYTES);
    out[..FP_PADDING_BYTES].fill(0);
    out[FP_PADDING_BYTES..].copy_from_slice(value);
}

fn take_fp(input: &[u8], index: usize) -> Result<&[u8], BlsError> {
    let element = &input[index * FP_BYTES..(index + 1) * FP_BYTES];
    if element[..FP_PADDING_BYTES].iter().any(|byte| *byte != 0) {
        return Err(BlsError::Eip2537Padding { element: index });
    }
    Ok(&element[FP_PADDING_BYTES..])
}

/// Converts blst's 96-byte uncompressed G1 encoding to EIP-2537.
pub(crate) fn g1_from_zcash_uncompressed(zcash: &[u8; 96]) -> [u8; G1_BYTES] {
    let mut out = [0u8; G1_BYTES];
    if zcash[0] & ZCASH_INFINITY_FLAG != 0 {
        return out;
    }
    put_fp(&mut out[..FP_BYTES], &zcash[..48]);
    put_fp(&mut out[FP_BYTES..], &zcash[48..]);
    out
}

/// Converts an EIP-2537 G1 encoding to blst's uncompressed layout. Checks length and padding
/// only; the caller decodes and validates the point.
pub(crate) fn g1_to_zcash_uncompressed(eip: &[u8]) -> Result<[u8; 96], BlsError> {
    if eip.len() != G1_BYTES {
        return Err(BlsError::WrongLength {
            expected: G1_BYTES,
            got: eip.len(),
        });
    }
    let mut out = [0u8; 96];
    if eip.iter().all(|byte| *byte == 0) {
        out[0] = ZCASH_INFINITY_FLAG;
        return Ok(out);
    }
    out[..48].copy_from_slice(take_fp(eip, 0)?);
    out[48..].copy_from_slice(take_fp(eip, 1)?);
    // A value with any of the top three bits set is not below the field modulus; blst would
    // read those bits as flags, so refuse them here with a clear error.
    if out[0] & 0xe0 != 0 {
        return Err(BlsError::BadEncoding);
    }
    Ok(out)
}

/// Converts blst's 192-byte uncompressed G2 encoding (`x.c1, x.c0, y.c1, y.c0`) to EIP-2537.
pub(crate) fn g2_from_zcash_uncompressed(zcash: &[u8; 192]) -> [u8; G2_BYTES] {
    let mut out = [0u8; G2_BYTES];
    if zcash[0] & ZCASH_INFINITY_FLAG != 0 {
        return out;
    }
    put_fp(&mut out[..FP_BYTES], &zcash[48..96]); // x.c0
    put_fp(&mut out[FP_BYTES..2 * FP_BYTES], &zcash[..48]); // x.c1
    put_fp(&mut out[2 * FP_BYTES..3 * FP_BYTES], &zcash[144..]); // y.c0
    put_fp(&mut out[3 * FP_BYTES..], &zcash[96..144]); // y.c1
    out
}

/// Converts an EIP-2537 G2 encoding to blst's uncompressed layout. Checks length and padding
/// only; the caller decodes and validates the point.
pub(crate) fn g2_to_zcash_uncompressed(eip: &[u8]) -> Result<[u8; 192], BlsError> {
    if eip.len() != G2_BYTES {
        return Err(BlsError::WrongLength {
            expected: G2_BYTES,
            got: eip.len(),
        });
    }
    let mut out = [0u8; 192];
    if eip.iter().all(|byte| *byte == 0) {
        out[0] = ZCASH_INFINITY_FLAG;
        return Ok(out);
    }
    out[48..96].copy_from_slice(take_fp(eip, 0)?);
    out[..48].copy_from_slice(take_fp(eip, 1)?);
    out[144..].copy_from_slice(take_fp(eip, 2)?);
    out[96..144].copy_from_slice(take_fp(eip, 3)?);
    if out[0] & 0xe0 != 0 {
        return Err(BlsError::BadEncoding);
    }
    Ok(out)
}
