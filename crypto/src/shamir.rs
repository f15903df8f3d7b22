//! Shamir secret sharing over the BLS12-381 scalar field, and Lagrange interpolation at zero.
//!
//! A secret `s` is the constant term of a random polynomial `p` of degree `t - 1`; share `i`
//! (for `i` in `1..=n`) is `p(i)`. Any `t` shares give `s = Σ λ_i p(i)` with the Lagrange
//! coefficients at zero `λ_i = Π_{j≠i} j / (j - i)`; any `t - 1` shares are independent of `s`.
//! The same coefficients combine points `p(i)·P` in the exponent, which is how decryption
//! shares combine.

use ark_bls12_381::Fr;
use ark_ff::{batch_inversion, One, Zero};
use ark_std::UniformRand;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::error::ThresholdError;

/// A share index: `1..=n`. Index zero is where the secret lives and is never a share.
pub type ShareIndex = u16;

/// A polynomial over the scalar field whose coefficients are secret; wiped on drop.
pub struct SecretPolynomial {
    coefficients: Vec<Fr>,
}

impl SecretPolynomial {
    /// A random polynomial of degree `threshold - 1` with constant term `secret`.
    pub fn random<R: RngCore + CryptoRng>(secret: Fr, threshold: usize, rng: &mut R) -> Self {
        assert!(threshold >= 1, "a threshold of zero has no polynomial");
        let mut coefficients = Vec::with_capacity(threshold);
        coefficients.push(secret);
        coefficients.extend((1..threshold).map(|_| Fr::rand(rng)));
        Self { coefficients }
    }

    /// The value at `x` (Horner's rule).
    pub fn evaluate(&self, x: Fr) -> Fr {
        self.coefficients
            .iter()
            .rev()
            .fold(Fr::zero(), |accumulator, coefficient| {
                accumulator * x + coefficient
            })
    }

    /// The coefficients, constant term first.
    pub fn coefficients(&self) -> &[Fr] {
        &self.coefficients
    }
}

impl Drop for SecretPolynomial {
    fn drop(&mut self) {
        self.coefficients.zeroize();
    }
}

impl std::fmt::Debug for SecretPolynomial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretPolynomial(degree {}, <redacted>)",
            self.coefficients.len() - 1
        )
    }
}

/// The Lagrange coefficients at zero for the distinct, non-zero `indices`.
pub fn lagrange_coefficients_at_zero(indices: &[ShareIndex]) -> Result<Vec<Fr>, ThresholdError> {
    lagrange_coefficients_at(Fr::zero(), indices)
}

/// The Lagrange coefficients at `target` for the distinct, non-zero `indices`:
/// `λ_k = Π_{j≠k} (target - x_j) / (x_k - x_j)`, so that `p(target) = Σ λ_k p(x_k)` for any
/// polynomial of degree below `indices.len()`.
pub fn lagrange_coefficients_at(
    target: Fr,
    indices: &[ShareIndex],
) -> Result<Vec<Fr>, ThresholdError> {
    check_distinct_nonzero(indices)?;
    let points: Vec<Fr> = indices.iter().map(|index| Fr::from(*index)).collect();
    // Numerators and denominators first, then one batch inversion for all denominators.
    let mut numerators = Vec::with_capacity(points.len());
    let mut denominators = Vec::with_capacity(points.len());
    for (k, x_k) in points.iter().enumerate() {
        let mut numerator = Fr::one();
        let mut denominator = Fr::one();
        for (j, x_j) in points.iter().enumerate() {
            if j != k {
                numerator *= target - x_j;
                denominator *= *x_k - x_j;
            }
        }
        numerators.push(numerator);
        denominators.push(denominator);
    }
    batch_inversion(&mut denominators);
    Ok(numerators
        .into_iter()
        .zip(denominators)
        .map(|(numerator, inverse)| numerator * inverse)
        .collect())
}

/// The value at zero of the polynomial of degree `< points.len()` through `points`.
pub fn interpolate_at_zero(points: &[(ShareIndex, Fr)]) -> Result<Fr, ThresholdError> {
    let indices: Vec<ShareIndex> = points.iter().map(|(index, _)| *index).collect();
    let coefficients = lagrange_coefficients_at_zero(&indices)?;
    Ok(coefficients
        .iter()
        .zip(points)
        .map(|(lambda, (_, value))| *lambda * value)
        .sum())
}

fn check_distinct_nonzero(indices: &[ShareIndex]) -> Result<(), ThresholdError> {
    let mut seen = indices.to_vec();
    seen.sort_unstable();
    if let Some(index) = seen.first().filter(|index| **index == 0) {
        return Err(ThresholdError::UnknownShareIndex {
            index: *index,
            share_count: usize::from(ShareIndex::MAX),
        });
    }
    if let Some(pair) = seen.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(ThresholdError::DuplicateShare { index: pair[0] });
    }
    Ok(())
}
