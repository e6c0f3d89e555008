//! Secrets never reach the store. A client sends a distinct secret in every header glassbox
//! redacts (and one configured), in Gemini's `?key=` and a configured URL parameter; the
//! fake answers with a secret `set-cookie` and a configured header. The provider gets every
//! secret unchanged (except hop-by-hop `proxy-authorization`), while no file in the state
//! directory (database, `-wal`, `-shm`, anything else) nor the agent's log holds one. The
//! record shows each as a keyed-hash mask: the same secret gives the same mask twice, and
//! the mask is the HMAC-SHA256 of the value under the device secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use glassbox_tests::fixtures::read;
use glassbox_tests::{Canned, FakeProvider};
use http::Method;
use serde_json::Value;

use crate::calls::{self, post, recorded};
use crate::world::GEMINI;

const ROUTE: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";
const CONFIG: &str = "[capture]\nredact_headers = [\"X-Glassbox-Secret\"]\nredact_params = [\"sig\"]\n";

/// Request headers and their secret values.
const REQUEST_SECRETS: [(&str, &str); 7] = [
    ("authorization", "Bearer planted-authorization-5f1c2e"),
    ("proxy-authorization", "Basic planted-proxy-authorization-81d0aa"),
    ("x-api-key", "planted-x-api-key-3b9e77"),
    ("api-key", "planted-api-key-c4d2f1"),
    ("x-goog-api-key", "planted-x-goog-api-key-0e6a93"),
    ("cookie", "session=planted-cookie-a7b3d5"),
    ("x-glassbox-secret", "planted-configured-header-92f4c1"),
];
const URL_KEY: &str = "planted-url-key-6d8e20";
const URL_SIG: &str = "planted-url-sig-1a4b7c";
const SET_COOKIE: &str = "sid=planted-set-cookie-e3c9b8; Path=/; HttpOnly";
const RESPONSE_HEADER: &str = "planted-configured-response-header-47aa0d";

/// Every planted secret, as bytes to grep for.
fn secrets() -> Vec<&'static str> {
    let mut all: Vec<&str> = REQUEST_SECRETS.iter().map(|(_, v)| *v).collect();
    all.extend([URL_KEY, URL_SIG, SET_COOKIE, RESPONSE_HEADER]);
    // The distinctive part alone, too: a store that kept `Bearer ` off would still leak it.
    all.extend(["planted-authorization-5f1c2e", "planted-cookie-a7b3d5", "planted-set-cookie-e3c9b8"]);
    all
}

/// A redacted value: `[REDACTED hmac:` + 12 hex digits + `]`.
fn is_mask(value: &str) -> bool {
    value
        .strip_prefix("[REDACTED hmac:")
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|hex| hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The record's `[[name, value], …]` headers as a name → values map.
fn headers(record: &Value, field: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in record[field].as_array().unwrap_or_else(|| panic!("record has no {field} array: {record}")) {
        let (name, value) = (pair[0].as_str().unwrap_or_default(), pair[1].as_str().unwrap_or_default());
        map.entry(name.to_ascii_lowercase()).or_default().push(value.to_owned());
    }
    map
}

/// The only value of header `name` in the record's `field`; it must be a mask.
fn mask_of(record: &Value, field: &str, name: &str) -> String {
    let values = headers(record, field).remove(name).unwrap_or_default();
    assert_eq!(values.len(), 1, "{field} should hold {name} once: {record}");
    assert!(is_mask(&values[0]), "{field} {name} should be masked, got {:?}", values[0]);
    values[0].clone()
}

/// Panics naming the file and offset if any planted secret occurs in any of `files`.
fn assert_no_secret_in(files: &[(PathBuf, Vec<u8>)]) {
    assert!(files.iter().any(|(p, _)| p.ends_with("glassbox.db")), "no database among {} files", files.len());
    for (path, bytes) in files {
        for secret in secrets() {
            let found = bytes.windows(secret.len()).position(|win| win == secret.as_bytes());
            assert!(found.is_none(), "secret {secret:?} found in {} at byte {found:?}", path.display());
        }
    }
}

/// The first 12 hex digits of HMAC-SHA256(key file, value), by python3's hmac module.
fn hmac12(key_file: &Path, value: &str) -> String {
    let script = "import hmac,sys; k=open(sys.argv[1],'rb').read(); \
                  print(hmac.new(k, sys.argv[2].encode(), 'sha256').hexdigest()[:12])";
    let out = Command::new("python3").args(["-c", script]).arg(key_file).arg(value).output().expect("python3");
    assert!(out.status.success(), "python3 hmac failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn planted_secrets_never_reach_the_store() {
    let answer = Canned::sse(read("gemini_stream.sse"))
        .header("set-cookie", SET_COOKIE)
        .header("x-glassbox-secret", RESPONSE_HEADER);
    let w = calls::world("redaction", FakeProvider::new().route(Method::POST, ROUTE, answer), CONFIG);
    let url = format!("https://{GEMINI}{ROUTE}?key={URL_KEY}&alt=sse&sig={URL_SIG}");
    let mut request_headers = vec![("content-type", "application/json")];
    request_headers.extend(REQUEST_SECRETS);
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"Weather in Paris?"}]}]}"#;
    let records: Vec<Value> = (0..2)
        .map(|n| {
            post(&w, &url, &request_headers, body.as_bytes()).assert_success();
            recorded(&w, &format!("secret-bearing request {n}"), ROUTE, n).record
        })
        .collect();

    // Redaction is for the store only: the provider gets the secrets, bar hop-by-hop ones.
    for seen in w.fake.requests() {
        assert!(seen.path.contains(URL_KEY) && seen.path.contains(URL_SIG), "the provider's URL: {}", seen.path);
        for (name, value) in REQUEST_SECRETS {
            let want = (name != "proxy-authorization").then_some(value);
            assert_eq!(seen.header(name), want, "header {name} as the provider received it");
        }
    }

    let mut files = w.agent.state_files();
    files.push((w.agent.log_path().to_owned(), w.agent.log().into_bytes()));
    assert_no_secret_in(&files);

    let key_file = w.agent.state_dir().join("secret.key");
    let mut masks = BTreeMap::new();
    for (name, value) in REQUEST_SECRETS.into_iter().filter(|(n, _)| *n != "proxy-authorization") {
        let mask = mask_of(&records[0], "request_headers", name);
        assert_eq!(mask_of(&records[1], "request_headers", name), mask, "{name}: same secret, same mask");
        assert_eq!(
            mask,
            format!("[REDACTED hmac:{}]", hmac12(&key_file, value)),
            "{name}: HMAC under the device secret"
        );
        masks.insert(name, mask);
    }
    for (name, value) in [("set-cookie", SET_COOKIE), ("x-glassbox-secret", RESPONSE_HEADER)] {
        let mask = mask_of(&records[0], "response_headers", name);
        assert_eq!(mask_of(&records[1], "response_headers", name), mask, "response {name}: same secret, same mask");
        assert_eq!(mask, format!("[REDACTED hmac:{}]", hmac12(&key_file, value)), "response {name}: HMAC");
    }
    let distinct: std::collections::BTreeSet<&String> = masks.values().collect();
    assert_eq!(distinct.len(), masks.len(), "distinct secrets should give distinct masks: {masks:?}");
    for record in &records {
        let proxy_auth = headers(record, "request_headers").remove("proxy-authorization").unwrap_or_default();
        assert!(proxy_auth.iter().all(|v| is_mask(v)), "proxy-authorization stored unmasked: {record}");
    }

    let path = records[0]["path"].as_str().unwrap_or_default();
    let key_mask = format!("[REDACTED hmac:{}]", hmac12(&key_file, URL_KEY));
    let sig_mask = format!("[REDACTED hmac:{}]", hmac12(&key_file, URL_SIG));
    assert_eq!(path, format!("{ROUTE}?key={key_mask}&alt=sse&sig={sig_mask}"), "the recorded path");
    assert_eq!(records[1]["path"], records[0]["path"], "same URL secrets, same masks");
}
