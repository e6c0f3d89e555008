//! Assertions shared by the end-to-end tests, with messages that show what differed.

use serde_json::Value;

/// Panics unless `got == want`, showing lengths, the first differing offset and both
/// sides around it.
#[track_caller]
pub fn assert_bytes_eq(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    let around = |b: &[u8]| String::from_utf8_lossy(&b[at.saturating_sub(40)..b.len().min(at + 80)]).into_owned();
    panic!(
        "{what}: bytes differ (got {} bytes, want {}), first difference at offset {at}\n got: …{:?}…\nwant: …{:?}…",
        got.len(),
        want.len(),
        around(got),
        around(want)
    );
}

/// The issuer of the first (leaf) certificate in curl's `-w '%{certs}'` output.
pub fn leaf_issuer(curl_certs: &str) -> Option<&str> {
    curl_certs.lines().find_map(|l| l.strip_prefix("Issuer:")).map(str::trim)
}

/// The field at JSON pointer `ptr` (`/process/pid`), or Null.
pub fn field<'a>(record: &'a Value, ptr: &str) -> &'a Value {
    record.pointer(ptr).unwrap_or(&Value::Null)
}

/// Panics unless the field at `ptr` equals `want`, showing the whole record.
#[track_caller]
pub fn assert_field(record: &Value, ptr: &str, want: impl Into<Value>) {
    let want = want.into();
    assert_eq!(field(record, ptr), &want, "record field {ptr} should be {want}; record: {record}");
}

/// Panics unless `record` has every field of `want` (an object) with the same value,
/// nested objects and arrays compared the same way, field by field: a missing field is
/// not a null. A non-integer number in `want` (a cost in USD) matches within 1e-9 of it,
/// relatively. The message names the first differing field and shows the whole record.
#[track_caller]
pub fn assert_fields(record: &Value, want: &Value) {
    if let Err(diff) = compare("", record, want) {
        panic!(
            "{diff}
record: {record}"
        );
    }
}

fn compare(at: &str, got: &Value, want: &Value) -> Result<(), String> {
    match (got, want) {
        (Value::Object(got), Value::Object(want)) => want.iter().try_for_each(|(key, w)| {
            let at = format!("{at}/{key}");
            let g = got.get(key).ok_or_else(|| format!("record has no field {at} (want {w})"))?;
            compare(&at, g, w)
        }),
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            g.iter().zip(w).enumerate().try_for_each(|(i, (g, w))| compare(&format!("{at}/{i}"), g, w))
        }
        (Value::Number(g), Value::Number(w)) if w.is_f64() => {
            let (g, w) = (g.as_f64().unwrap_or(f64::NAN), w.as_f64().unwrap_or(f64::NAN));
            if (g - w).abs() <= w.abs() * 1e-9 { Ok(()) } else { Err(format!("record field {at} is {g}, want {w}")) }
        }
        _ if got == want => Ok(()),
        _ => Err(format!("record field {at} is {got}, want {want}")),
    }
}

/// Panics unless the field at `ptr` is a number greater than zero.
#[track_caller]
pub fn assert_positive(record: &Value, ptr: &str) {
    let n = field(record, ptr).as_f64();
    assert!(n.is_some_and(|n| n > 0.0), "record field {ptr} should be > 0; record: {record}");
}

/// Loose RFC 3339 check: `YYYY-MM-DDTHH:MM:SS` then a fraction and/or an offset.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (s.ends_with('Z') || s.ends_with('z') || s[19..].contains(['+', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert!(is_rfc3339("2026-01-02T03:04:05Z"));
        assert!(is_rfc3339("2026-01-02T03:04:05.123456+00:00"));
        assert!(!is_rfc3339("2026-01-02 03:04:05"));
        assert!(!is_rfc3339("1767225600"));
    }

    #[test]
    fn fields_compare_nested_and_costs_approximately() {
        let record = serde_json::json!({"a": 1, "usage": {"x": null, "y": 2}, "cost": 0.1 + 0.2, "list": [{"n": "t"}]});
        assert!(compare("", &record, &serde_json::json!({"usage": {"x": null}, "cost": 0.3})).is_ok());
        assert!(compare("", &record, &serde_json::json!({"list": [{"n": "t"}], "a": 1})).is_ok());
        let missing = compare("", &record, &serde_json::json!({"usage": {"z": null}})).unwrap_err();
        assert!(missing.contains("/usage/z"), "{missing}");
        assert!(compare("", &record, &serde_json::json!({"a": 2})).is_err());
        assert!(compare("", &record, &serde_json::json!({"cost": 0.31})).is_err());
        assert!(compare("", &record, &serde_json::json!({"list": []})).is_err());
    }

    #[test]
    fn issuer_of_leaf() {
        let out = "Subject:O = t, CN = leaf\nIssuer:O = t, CN = ca one\nSubject:O = t, CN = ca one\nIssuer:O = t, CN = root\n";
        assert_eq!(leaf_issuer(out), Some("O = t, CN = ca one"));
    }
}
