use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("glassbox-ledger-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn text(record: &Value) -> String {
    String::from_utf8(canonical(record)).unwrap()
}

// ---- canonical bytes ----

#[test]
fn canonical_sorts_keys_at_every_depth_and_drops_whitespace() {
    let record = json!({"b": 1, "a": {"d": [{"z": 1, "y": [true, false]}], "c": null}});
    assert_eq!(text(&record), r#"{"a":{"c":null,"d":[{"y":[true,false],"z":1}]},"b":1}"#);
}

#[test]
fn canonical_sorts_keys_by_utf8_bytes() {
    let record = json!({"é": 0, "z": 0, "a": 0, "B": 0, "_": 0, "aa": 0, "": 0});
    assert_eq!(text(&record), r#"{"":0,"B":0,"_":0,"a":0,"aa":0,"z":0,"é":0}"#);
}

#[test]
fn canonical_numbers_are_printed_as_serde_json_prints_them() {
    let record = json!([0, -1, u64::MAX, i64::MIN, 1.0, 0.1, -0.0, 1e20, 1.5e-7, 2.5e300, 12.345]);
    assert_eq!(
        text(&record),
        "[0,-1,18446744073709551615,-9223372036854775808,1.0,0.1,-0.0,1e+20,1.5e-7,2.5e+300,12.345]"
    );
}

#[test]
fn canonical_strings_escape_only_what_json_requires() {
    let record = json!({"s": "quote\" back\\ nl\n tab\t ctl\u{1} del\u{7f} slash/ é 😀"});
    assert_eq!(text(&record), "{\"s\":\"quote\\\" back\\\\ nl\\n tab\\t ctl\\u0001 del\u{7f} slash/ é 😀\"}");
}

#[test]
fn canonical_ignores_how_the_value_was_built() {
    let mut forward = serde_json::Map::new();
    let mut backward = serde_json::Map::new();
    for k in ["x", "m", "a"] {
        forward.insert(k.to_owned(), json!(k));
    }
    for k in ["a", "m", "x"] {
        backward.insert(k.to_owned(), json!(k));
    }
    assert_eq!(canonical(&Value::Object(forward)), canonical(&Value::Object(backward)));
    // And the bytes are JSON that reads back to the same value.
    let record = json!({"k": [1, "two", {"three": 3.5}]});
    assert_eq!(serde_json::from_slice::<Value>(&canonical(&record)).unwrap(), record);
}

/// Any JSON value whose floats are milliseconds to the microsecond, as records carry.
/// Not any f64: serde_json without its `float_roundtrip` feature (other readers of the
/// bytes may lack it) reads some floats back one unit in the last place off
/// (-1.4644383194912235e-241 came back ending in …237), which is why the canonical bytes
/// must be kept, not re-derived.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0..10_000_000_000_i64).prop_map(|us| Value::from(us as f64 / 1000.0)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The rule of the module doc written the plain way, over a built `Value`: the oracle
/// the serializer in `canonical` is checked against.
fn reference(value: &Value) -> Vec<u8> {
    fn write(out: &mut Vec<u8>, value: &Value) {
        match value {
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
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
                out.push(b'{');
                for (i, (key, item)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut *out, key).unwrap();
                    out.push(b':');
                    write(out, item);
                }
                out.push(b'}');
            }
            scalar => serde_json::to_writer(&mut *out, scalar).unwrap(),
        }
    }
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

proptest! {
    #[test]
    fn canonical_bytes_are_a_fixed_point(record in json_value()) {
        // Reading canonical bytes and writing them again changes nothing.
        let bytes = canonical(&record);
        let again: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(canonical(&again), bytes);
    }

    #[test]
    fn canonical_bytes_follow_the_rule(record in json_value()) {
        prop_assert_eq!(canonical(&record), reference(&record));
    }
}

/// A record with the optional parts filled: CI, tool calls, a provider error, policy with
/// its maps and quota, on top of a real record's process, identity and headers.
fn full_record() -> crate::record::Record {
    use crate::{
        capture::usage::{ProviderError, ToolCall},
        identity::CiContext,
        policy::audit::{HookDecision, PolicyRecord, QuotaRecord},
    };
    let mut record: crate::record::Record =
        serde_json::from_str(include_str!("../../examples/fixtures/record.json")).unwrap();
    record.id = 42;
    record.ci = Some(CiContext {
        system: "github_actions".into(),
        repository: Some("acme/app".into()),
        run_id: Some("77".into()),
        ..CiContext::default()
    });
    record.detail.tool_calls = vec![
        ToolCall { id: Some("toolu_1".into()), name: "Bash".into(), arguments: r#"{"cmd":"ls"}"#.into() },
        ToolCall { id: None, name: "Read".into(), arguments: String::new() },
    ];
    record.detail.tools_declared = vec!["Bash".into(), "Read".into()];
    record.detail.provider_error =
        Some(ProviderError { kind: Some("overloaded_error".into()), message: Some("try \"again\"\n".into()) });
    record.policy = Some(PolicyRecord {
        hooks: vec![HookDecision {
            hook: "pii".into(),
            kind: "pii".into(),
            action: "modified".into(),
            replaced: [("email".to_owned(), 2), ("card".to_owned(), 1)].into(),
            elapsed_ms: 0.125,
            ..HookDecision::default()
        }],
        body_modified: true,
        quota: Some(QuotaRecord { estimate_tokens: 900, estimate_usd: Some(0.0125), ..QuotaRecord::default() }),
        ..PolicyRecord::default()
    });
    record.cost_usd = Some(0.000_058_949_999_999_999_996);
    record
}

#[test]
fn a_record_has_the_bytes_of_its_sorted_json() {
    let record = full_record();
    let chunks = json!({"request": "ab".repeat(32), "response": "cd".repeat(64)});
    let mut value = serde_json::to_value(&record).unwrap();
    let object = value.as_object_mut().unwrap();
    object.remove("id");
    object.insert("body_chunks".into(), chunks.clone());
    let bytes = canonical_object(&record, &["id"], &[("body_chunks", &chunks)]).unwrap();
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), String::from_utf8(reference(&value)).unwrap());
    assert!(!String::from_utf8(bytes).unwrap().contains("\"id\":42"), "the row id is left out");
    // The parts this test fills are in the bytes compared.
    assert_eq!(value["ci"]["repository"], "acme/app", "{value:#}");
    assert_eq!(value["tool_calls"].as_array().map(Vec::len), Some(2), "{value:#}");
    assert_eq!(value["policy"]["hooks"][0]["replaced"]["email"], 2, "{value:#}");
}

#[test]
fn canonical_object_refuses_what_is_not_an_object() {
    let extra = json!(1);
    for value in [json!([1, 2]), json!("s"), json!(null)] {
        assert!(matches!(canonical_object(&value, &[], &[("x", &extra)]), Err(CanonicalError::NotAnObject)));
    }
    // A key given twice counts once, with its last value, as a map built the same way.
    let mut map = serde_json::Map::new();
    map.insert("a".into(), json!(1));
    let bytes = canonical_object(&Value::Object(map), &[], &[("a", &extra), ("b", &json!(2))]).unwrap();
    assert_eq!(bytes, br#"{"a":1,"b":2}"#);
}

// ---- hex ----

#[test]
fn hex_round_trips_and_rejects_junk() {
    let bytes = [0x00, 0x0f, 0xa5, 0xff];
    assert_eq!(to_hex(&bytes), "000fa5ff");
    assert_eq!(from_hex("000FA5ff").unwrap(), bytes);
    for junk in ["0", "zz", "0g", "é0"] {
        assert_eq!(from_hex(junk), None, "{junk}");
    }
}

// ---- device key ----

#[test]
fn device_key_is_created_once_owner_only_and_reloaded() {
    let dir = temp_dir("create");
    let path = dir.join("device.key");
    let created = DeviceKey::load_or_create(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    let loaded = DeviceKey::load_or_create(&path).unwrap();
    assert_eq!(loaded.public_key_hex(), created.public_key_hex());
    assert_eq!(created.public_key_hex().len(), 64);
    assert_eq!(PublicKey::from_hex(&created.public_key_hex()).unwrap(), created.public_key());
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left behind");
    assert!(format!("{created:?}").contains(&created.public_key_hex()));
}

#[test]
fn a_widened_key_file_is_made_owner_only_again() {
    let dir = temp_dir("widened");
    let path = dir.join("device.key");
    let created = DeviceKey::load_or_create(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let loaded = DeviceKey::load_or_create(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(loaded.public_key(), created.public_key());
}

#[test]
fn a_key_file_that_is_not_a_key_is_an_error_and_is_left_alone() {
    let dir = temp_dir("garbage");
    let path = dir.join("device.key");
    fs::write(&path, b"not a key").unwrap();
    assert!(matches!(DeviceKey::load_or_create(&path), Err(LedgerError::BadKeyFile { .. })));
    assert_eq!(fs::read(&path).unwrap(), b"not a key");
}

#[test]
fn a_pkcs8_v1_key_from_openssl_loads() {
    // `openssl genpkey -algorithm ed25519 -outform DER`: PKCS#8 v1, seed only.
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend([7u8; 32]);
    let dir = temp_dir("v1");
    let path = dir.join("device.key");
    fs::write(&path, &der).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let key = DeviceKey::load_or_create(&path).unwrap();
    let mut chain = Chain::resume(None);
    let link = chain.append(&key, b"{}");
    assert_eq!(verify(&key.public_key_hex(), [(link, b"{}")]).unwrap(), vec![]);
}

#[test]
fn a_missing_directory_is_an_io_error() {
    let path = temp_dir("nodir").join("absent").join("device.key");
    let err = DeviceKey::load_or_create(&path).unwrap_err();
    assert!(matches!(err, LedgerError::Io { action: "create", .. }), "{err}");
}

#[test]
fn public_keys_parse_only_from_64_hex_digits() {
    for bad in ["", "00", &"0".repeat(63), &"0".repeat(66), &"g".repeat(64)] {
        assert!(matches!(PublicKey::from_hex(bad), Err(LedgerError::BadPublicKey(_))), "{bad}");
    }
    assert!(verify("nope", Vec::<(Link, Vec<u8>)>::new()).is_err());
}

// ---- chain ----

fn key() -> DeviceKey {
    let der = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    DeviceKey::from_pkcs8(der.as_ref()).unwrap()
}

#[test]
fn links_are_numbered_from_one_and_each_points_at_the_last() {
    let key = key();
    let mut chain = Chain::resume(None);
    assert_eq!(chain.head(), None);
    let first = chain.append(&key, b"{\"n\":1}");
    let second = chain.append(&key, b"{\"n\":2}");
    assert_eq!((first.seq, first.prev_hash), (1, [0; 32]));
    assert_eq!((second.seq, second.prev_hash), (2, first.hash));
    assert_eq!(chain.head(), Some((2, second.hash)));
    assert_eq!(head([&second, &first]), Some((2, second.hash)));
    assert_eq!(head(&[]), None);

    // The hash is SHA-256(seq big-endian || prev_hash || canonical), as documented.
    let mut preimage = 1u64.to_be_bytes().to_vec();
    preimage.extend([0; 32]);
    preimage.extend(b"{\"n\":1}");
    assert_eq!(first.hash.as_slice(), ring::digest::digest(&ring::digest::SHA256, &preimage).as_ref());
    // The signature is over the domain-separated hash.
    let mut message = b"glassbox ledger link v1\0".to_vec();
    message.extend(first.hash);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, from_hex(&key.public_key_hex()).unwrap())
        .verify(&message, &first.signature)
        .unwrap();
}

#[test]
fn a_resumed_chain_continues_the_stored_one() {
    let key = key();
    let mut chain = Chain::resume(None);
    let mut rows: Vec<(Link, Vec<u8>)> = (0..3).map(|i| (chain.append(&key, &[i]), vec![i])).collect();
    let mut resumed = Chain::resume(head(rows.iter().map(|(link, _)| link)));
    assert_eq!(resumed, chain);
    rows.push((resumed.append(&key, b"x"), b"x".to_vec()));
    assert_eq!(rows[3].0.seq, 4);
    assert_eq!(verify(&key.public_key_hex(), rows).unwrap(), vec![]);
}

#[test]
fn checkpoints_are_signed_and_round_trip_as_text() {
    let key = key();
    let mut chain = Chain::resume(None);
    chain.append(&key, b"a");
    let checkpoint = Checkpoint::sign(&key, chain.head().unwrap());
    assert!(checkpoint.is_signed_by(&key.public_key()));
    assert!(!checkpoint.is_signed_by(&self::key().public_key()));
    let line = checkpoint.to_string();
    assert!(line.starts_with("1:"), "{line}");
    assert_eq!(line.parse::<Checkpoint>().unwrap(), checkpoint);
    let moved = Checkpoint { seq: 2, ..checkpoint.clone() };
    assert!(!moved.is_signed_by(&key.public_key()), "the seq is signed too");
    for bad in ["", "1:00", "x:00:00", &format!("{line}:00"), "1:abc:00"] {
        assert!(matches!(bad.parse::<Checkpoint>(), Err(LedgerError::BadCheckpoint(_))), "{bad}");
    }
}
