//! The HTTP API's JSON convention, in one place:
//!
//! - Integers that are 64-bit in the protocol (heights, views, epochs, chain ids, namespaces,
//!   expiries, counters of transactions, milliseconds) are **decimal strings**: a JavaScript
//!   number is exact only up to 2^53, and `18446744073709551615` would read back as
//!   `18446744073709552000`. Smaller ones (validator indexes, positions in a height, item
//!   indexes, leaf counts, queue lengths) are JSON numbers.
//! - Bytes are `0x`-prefixed lowercase hex.
//! - Input is parsed strictly, one spelling each: a decimal integer has no sign, no leading
//!   zero and no spaces; hex is `0x` and lowercase digits.

use serde::Serializer;
use serde_json::Value;

/// A 64-bit integer as the API writes it.
pub fn u64_value(value: u64) -> Value {
    Value::String(value.to_string())
}

/// An optional 64-bit integer as the API writes it (`null` when absent).
pub fn opt_u64_value(value: Option<u64>) -> Value {
    value.map_or(Value::Null, u64_value)
}

/// `serialize_with` for a `u64` field.
pub fn u64_string<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// `serialize_with` for an `Option<u64>` field.
pub fn opt_u64_string<S: Serializer>(
    value: &Option<u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

/// `serialize_with` for a map whose values are `u64`.
pub fn map_u64_string<S: Serializer, K: serde::Serialize>(
    map: &std::collections::BTreeMap<K, u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(map.iter().map(|(key, value)| (key, value.to_string())))
}

/// A decimal integer in its one accepted spelling: digits only, no leading zero (but `0`),
/// within 64 bits.
pub fn parse_u64(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|byte| byte.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return None;
    }
    text.parse().ok()
}

/// Bytes in their one accepted spelling: `0x`, then lowercase hex digits, two per byte.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("0x")?;
    if digits
        .bytes()
        .any(|byte| !(byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)))
    {
        return None;
    }
    hex::decode(digits).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_bytes_have_one_spelling() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("42"), Some(42));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        for refused in [
            "",
            "+5",
            "-1",
            "0005",
            "05",
            " 5",
            "5 ",
            "0x5",
            "1e3",
            "18446744073709551616",
        ] {
            assert_eq!(parse_u64(refused), None, "{refused:?}");
        }
        assert_eq!(parse_hex("0x"), Some(Vec::new()));
        assert_eq!(parse_hex("0x00ff"), Some(vec![0, 255]));
        for refused in ["00ff", "0X00ff", "0x00FF", "0x0", "0xzz", "0x 0"] {
            assert_eq!(parse_hex(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn sixty_four_bit_integers_are_written_as_decimal_strings() {
        #[derive(serde::Serialize)]
        struct Shape {
            #[serde(serialize_with = "u64_string")]
            height: u64,
            #[serde(serialize_with = "opt_u64_string")]
            formed: Option<u64>,
            #[serde(serialize_with = "opt_u64_string")]
            absent: Option<u64>,
            #[serde(serialize_with = "map_u64_string")]
            counts: std::collections::BTreeMap<&'static str, u64>,
            index: u16,
        }
        let shape = Shape {
            height: u64::MAX,
            formed: Some(7),
            absent: None,
            counts: [("expired", 3)].into_iter().collect(),
            index: 2,
        };
        assert_eq!(
            serde_json::to_string(&shape).expect("json"),
            r#"{"height":"18446744073709551615","formed":"7","absent":null,"counts":{"expired":"3"},"index":2}"#
        );
        assert_eq!(u64_value(5), Value::String("5".into()));
        assert_eq!(opt_u64_value(None), Value::Null);
    }
}
