//! Published test vectors: the Ethereum consensus-spec BLS vectors (`sign`, `verify`,
//! `aggregate`, `fast_aggregate_verify`) and RFC 9380's hash-to-G1 vectors. Files and their
//! sources are in `tests/vectors/` (see `SOURCE.md` there).
//!
//! One deliberate difference from the Ethereum vectors: Shroud refuses the point at infinity
//! as a signature at decode time, so the vector that aggregates a lone infinity signature is
//! checked to be refused rather than aggregated.

use std::path::PathBuf;

use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField};
use serde_json::Value;

use crate::bls::{PublicKey, SecretKey, Signature};
use crate::error::BlsError;
use crate::tdh2::hash_to_g1;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("vector file is in the repository");
    serde_json::from_str(&text).expect("vector file is valid JSON")
}

fn bytes(value: &Value) -> Vec<u8> {
    let text = value.as_str().expect("hex string");
    hex::decode(text.trim_start_matches("0x")).expect("valid hex")
}

fn cases(name: &str) -> Vec<Value> {
    let cases = load(name).as_array().expect("array of cases").clone();
    assert!(!cases.is_empty(), "{name} has no cases");
    cases
}

#[test]
fn ethereum_sign_vectors() {
    for case in cases("sign.json") {
        let input = &case["input"];
        let secret = SecretKey::from_bytes(&bytes(&input["privkey"]));
        match (&case["output"], secret) {
            (Value::Null, Err(error)) => assert_eq!(error, BlsError::BadSecretKey),
            (Value::Null, Ok(_)) => panic!("{}: accepted an invalid key", case["name"]),
            (expected, Ok(secret)) => {
                let signature = secret.sign_raw(&bytes(&input["message"]));
                assert_eq!(
                    signature.to_bytes().to_vec(),
                    bytes(expected),
                    "{}",
                    case["name"]
                );
            }
            (_, Err(error)) => panic!("{}: refused a valid key: {error}", case["name"]),
        }
    }
}

#[test]
fn ethereum_verify_vectors() {
    let mut valid = 0;
    let mut invalid = 0;
    for case in cases("verify.json") {
        let input = &case["input"];
        let expected = case["output"].as_bool().expect("boolean output");
        let result = PublicKey::from_bytes(&bytes(&input["pubkey"])).and_then(|key| {
            let signature = Signature::from_bytes(&bytes(&input["signature"]))?;
            key.verify_raw(&bytes(&input["message"]), &signature)
        });
        assert_eq!(result.is_ok(), expected, "{}: {result:?}", case["name"]);
        if expected {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    assert!(valid > 0 && invalid > 0, "vectors cover both outcomes");
}

#[test]
fn ethereum_aggregate_vectors() {
    for case in cases("aggregate.json") {
        let inputs: Vec<Vec<u8>> = case["input"]
            .as_array()
            .expect("list of signatures")
            .iter()
            .map(bytes)
            .collect();
        let decoded: Result<Vec<Signature>, BlsError> = inputs
            .iter()
            .map(|input| Signature::from_bytes(input))
            .collect();
        let aggregate = decoded.and_then(|signatures| Signature::aggregate(&signatures));
        match &case["output"] {
            Value::Null => assert_eq!(aggregate, Err(BlsError::EmptyAggregate), "{}", case["name"]),
            expected
                if bytes(expected)[0] == 0xc0 && bytes(expected)[1..].iter().all(|b| *b == 0) =>
            {
                // The infinity signature: refused on decode by design.
                assert_eq!(aggregate, Err(BlsError::Infinity), "{}", case["name"]);
            }
            expected => assert_eq!(
                aggregate
                    .expect("valid signatures aggregate")
                    .to_bytes()
                    .to_vec(),
                bytes(expected),
                "{}",
                case["name"]
            ),
        }
    }
}

#[test]
fn ethereum_fast_aggregate_verify_vectors() {
    for case in cases("fast_aggregate_verify.json") {
        let input = &case["input"];
        let expected = case["output"].as_bool().expect("boolean output");
        let keys: Result<Vec<PublicKey>, BlsError> = input["pubkeys"]
            .as_array()
            .expect("list of keys")
            .iter()
            .map(|key| PublicKey::from_bytes(&bytes(key)))
            .collect();
        let result = keys.and_then(|keys| {
            let aggregate = PublicKey::aggregate(&keys)?;
            let signature = Signature::from_bytes(&bytes(&input["signature"]))?;
            aggregate.verify_raw(&bytes(&input["message"]), &signature)
        });
        assert_eq!(result.is_ok(), expected, "{}: {result:?}", case["name"]);
    }
}

#[test]
fn rfc9380_hash_to_g1_vectors() {
    let file = load("h2c_g1.json");
    let dst = file["dst"].as_str().expect("dst").as_bytes();
    let vectors = file["vectors"].as_array().expect("vectors");
    assert!(!vectors.is_empty());
    for vector in vectors {
        let message = vector["msg"].as_str().expect("msg");
        let point = hash_to_g1(dst, message.as_bytes());
        let (x, y) = point.xy().expect("hash output is not the identity");
        assert_eq!(
            x.into_bigint().to_bytes_be(),
            bytes(&vector["P"]["x"]),
            "x of {message:?}"
        );
        assert_eq!(
            y.into_bigint().to_bytes_be(),
            bytes(&vector["P"]["y"]),
            "y of {message:?}"
        );
    }
}
