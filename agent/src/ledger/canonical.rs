//! Canonical bytes of a record: the same JSON value always gives the same bytes, however
//! its maps were built (the rule is in the module doc of `ledger`).
use serde_json::Value;

/// The canonical bytes of `record`: compact JSON, object keys sorted at every depth.
pub fn canonical(record: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write(&mut out, record);
    out
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sorted here, not trusted to the map: serde_json's `preserve_order` feature,
            // switched on by any crate in the build, would keep insertion order instead.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write(out, item);
            }
            out.push(b'}');
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing a string to a Vec cannot fail");
}
