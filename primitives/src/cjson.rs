//! Canonical JSON `CJ(v)` (PROTOCOL.md, Conventions): UTF-8, no whitespace, object keys sorted
//! by code point, strings escaped minimally, integers only.
//!
//! Written by hand instead of relying on `serde_json`'s map ordering: a feature such as
//! `preserve_order` switched on anywhere in the dependency graph would silently change
//! consensus bytes.

use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalJsonError {
    #[error("canonical JSON allows integers only, found the number {0}")]
    Float(String),
}

/// `CJ(v)` as bytes.
pub fn to_canonical_bytes(v: &Value) -> Result<Vec<u8>, CanonicalJsonError> {
    let mut out = Vec::with_capacity(256);
    write_canonical(v, &mut out)?;
    Ok(out)
}

/// Appends `CJ(v)` to `out`.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalJsonError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else {
                return Err(CanonicalJsonError::Float(n.to_string()));
            }
        }
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_canonical_object(map, out)?,
    }
    Ok(())
}

/// Appends `CJ` of a JSON object (keys sorted by code point).
pub fn write_canonical_object(map: &serde_json::Map<String, Value>, out: &mut Vec<u8>) -> Result<(), CanonicalJsonError> {
    let mut keys: Vec<&String> = map.keys().collect();
    // UTF-8 byte order is code point order.
    keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    out.push(b'{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(k, out);
        out.push(b':');
        write_canonical(&map[k], out)?;
    }
    out.push(b'}');
    Ok(())
}

/// Appends a JSON string literal with minimal escaping: `"` and `\`, and characters below
/// U+0020 (`\b \f \n \r \t` in short form, the others as `\u00xx`); everything else raw UTF-8.
/// This is also exactly how pydantic's `model_dump_json()` writes strings.
pub fn write_json_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cj(v: Value) -> String {
        String::from_utf8(to_canonical_bytes(&v).unwrap()).unwrap()
    }

    #[test]
    fn keys_are_sorted_by_code_point_and_nested() {
        assert_eq!(
            cj(json!({"b": 1, "a": {"z": [1, -2, null, true], "é": "x", "Z": false}})),
            r#"{"a":{"Z":false,"z":[1,-2,null,true],"é":"x"},"b":1}"#
        );
    }

    #[test]
    fn strings_are_escaped_minimally() {
        assert_eq!(
            cj(json!("q\"b\\ n\n r\r t\t b\u{8} f\u{c} one\u{1} del\u{7f} é \u{2028}")),
            "\"q\\\"b\\\\ n\\n r\\r t\\t b\\b f\\f one\\u0001 del\u{7f} é \u{2028}\""
        );
    }

    #[test]
    fn floats_are_rejected() {
        assert_eq!(
            to_canonical_bytes(&json!({"a": [1.5]})).unwrap_err(),
            CanonicalJsonError::Float("1.5".into())
        );
    }

    #[test]
    fn large_integers_keep_their_digits() {
        assert_eq!(cj(json!(u64::MAX)), u64::MAX.to_string());
        assert_eq!(cj(json!(i64::MIN)), i64::MIN.to_string());
    }
}
