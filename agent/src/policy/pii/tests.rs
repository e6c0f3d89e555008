use std::sync::LazyLock;
use std::time::Instant;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

static ALL: LazyLock<Scrubber> =
    LazyLock::new(|| Scrubber::new(&PiiClass::ALL, &[]).expect("built-in patterns compile"));

fn all() -> &'static Scrubber {
    &ALL
}

fn only(class: PiiClass) -> Scrubber {
    Scrubber::new(&[class], &[]).expect("built-in patterns compile")
}

/// Scrubs one free-text string with `scrubber`.
fn scrub_with(scrubber: &Scrubber, text: &str) -> (String, Findings) {
    let mut value = Value::String(text.to_owned());
    let findings = scrubber.scrub_value(&mut value);
    (value.as_str().expect("still a string").to_owned(), findings)
}

/// What a pii hook does with a request body (policy `apply`, then `chain::run`): parse it with
/// serde_json, scrub the value, and serialise it again only when something was replaced.
/// `None`: not JSON, so the hook scrubs nothing and the body goes on as it came.
fn scrub_body(scrubber: &Scrubber, body: &[u8]) -> Option<Scrubbed> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let findings = scrubber.scrub_value(&mut value);
    let body = (!findings.is_empty()).then(|| serde_json::to_vec(&value).expect("a Value serialises"));
    Some(Scrubbed { body, findings })
}

/// The result of [`scrub_body`].
#[derive(Debug, PartialEq, Eq)]
struct Scrubbed {
    /// The body to send, or `None` when nothing was found (the original bytes go on).
    body: Option<Vec<u8>>,
    findings: Findings,
}

fn findings(pairs: &[(&str, u32)]) -> Findings {
    Findings(pairs.iter().map(|&(k, n)| (k.to_owned(), n)).collect())
}

#[track_caller]
fn assert_scrubbed(scrubber: &Scrubber, input: &str, expected: &str) {
    let (out, found) = scrub_with(scrubber, input);
    assert_eq!(out, expected, "input: {input:?}");
    assert!(!found.is_empty(), "input: {input:?}");
}

#[track_caller]
fn assert_untouched(scrubber: &Scrubber, input: &str) {
    let (out, found) = scrub_with(scrubber, input);
    assert_eq!(out, input, "should be left alone: {input:?}");
    assert!(found.is_empty(), "input: {input:?}, findings: {found:?}");
}

/// Recursive shape comparison: same keys in the same order, nesting, types and other scalars;
/// strings may differ.
fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) | (Value::String(_), Value::String(_)) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_shape(v, w)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, v), (l, w))| k == l && same_shape(v, w))
        }
        _ => false,
    }
}

// ------------------------------------------------------------------------------------------
// The class table.

#[test]
fn class_names_labels_and_serde_agree() {
    assert_eq!(PiiClass::ALL.len(), 14);
    let labels: Vec<&str> = PiiClass::ALL.iter().map(|c| c.label()).collect();
    assert_eq!(
        labels,
        [
            "EMAIL",
            "PHONE",
            "CARD",
            "SSN",
            "IBAN",
            "IP",
            "AWS_KEY",
            "GITHUB_TOKEN",
            "GITLAB_TOKEN",
            "SLACK_TOKEN",
            "OPENAI_KEY",
            "ANTHROPIC_KEY",
            "PRIVATE_KEY",
            "JWT"
        ]
    );
    for class in PiiClass::ALL {
        assert_eq!(serde_json::to_value(class).expect("serialise"), json!(class.name()));
        assert_eq!(serde_json::from_value::<PiiClass>(json!(class.name())).expect("parse"), class);
        assert_eq!(class.name().to_ascii_uppercase(), class.label());
    }
    let mut sorted = SCAN_ORDER.to_vec();
    sorted.sort();
    assert_eq!(sorted, PiiClass::ALL.to_vec(), "every class is scanned exactly once");
}

#[test]
fn scrubber_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Scrubber>();
}

// ------------------------------------------------------------------------------------------
// One test per class, positives and negatives.

#[test]
fn email() {
    let s = only(PiiClass::Email);
    assert_scrubbed(&s, "mail john.doe+tag@example.co.uk now", "mail [EMAIL_1] now");
    assert_scrubbed(&s, "<Alice@Example.com>, bob_99@mail.example.org.", "<[EMAIL_1]>, [EMAIL_2].");
    assert_scrubbed(&s, "mailto:x.y@corp-mail.example.io?subject=hi", "mailto:[EMAIL_1]?subject=hi");
    assert_scrubbed(&s, "contact alice@example.com: she knows", "contact [EMAIL_1]: she knows");
    for text in [
        "icon@2x.png",
        "git@github.com:anthropics/claude-code.git",
        "ssh://git@gitlab.example.com/group/repo.git",
        "Co-Authored-By: Claude <noreply@anthropic.com>",
        "npm i @types/node",
        "ssh user@localhost",
        "lodash@4.17.21",
        "foo@bar",
        "@example.com",
        "a@b.c",
        "see https://example.com/@user",
    ] {
        assert_untouched(&s, text);
    }
}

#[test]
fn phone() {
    let s = only(PiiClass::Phone);
    for (text, expected) in [
        ("call (415) 555-0132 today", "call [PHONE_1] today"),
        ("call 415-555-0132.", "call [PHONE_1]."),
        ("415.555.0132", "[PHONE_1]"),
        ("tel: +1 415 555 0132", "tel: [PHONE_1]"),
        ("+1-415-555-0132", "[PHONE_1]"),
        ("+1 (415) 555-0132", "[PHONE_1]"),
        ("1-800-555-0199", "[PHONE_1]"),
        ("uk +44 20 7946 0958", "uk [PHONE_1]"),
        ("+14155550132", "[PHONE_1]"),
        ("de +49 30 1234567, ok", "de [PHONE_1], ok"),
        ("+1 415 555 0132 2024", "[PHONE_1] 2024"),
    ] {
        assert_scrubbed(&s, text, expected);
    }
    for text in [
        "2024-08-06",
        "2024-08-06T10:30:45+02:00",
        "2024-08-06T10:30:45.123Z",
        "20240806",
        "4155550132",
        "12345678",
        "v1.2.3",
        "version 10.15.7",
        "550e8400-e29b-41d4-a716-446655440000",
        "claude-sonnet-4-5-20250929",
        "123-456-7890",
        "415-555-01329",
        "415-555 0132",
        "x415-555-0132",
        "+1234567",
        "a+14155550132",
        "+1 123 555 0132",
        "port 8080 and pid 31337",
        "sum = 3+4155550132",
    ] {
        assert_untouched(&s, text);
    }
}

#[test]
fn card() {
    let s = only(PiiClass::Card);
    for (text, expected) in [
        ("card 4111 1111 1111 1111 exp 12/29", "card [CARD_1] exp 12/29"),
        ("4111-1111-1111-1111", "[CARD_1]"),
        ("4111111111111111", "[CARD_1]"),
        ("amex 378282246310005.", "amex [CARD_1]."),
        ("amex 3782 822463 10005", "amex [CARD_1]"),
        ("5555555555554444", "[CARD_1]"),
        ("6011111111111117", "[CARD_1]"),
        ("4111 1111 1111 1111 2024", "[CARD_1] 2024"),
    ] {
        assert_scrubbed(&s, text, expected);
    }
    for text in [
        "4111111111111112",
        "4111 1111 1111 1112",
        "1722945600000",
        "1722945600000000000",
        "4111 1111-1111 1111",
        "12345678901234567890123",
        "00000000000000000",
        "id 7777777777777777",
        "+4111111111111111",
        "v4111111111111111",
    ] {
        assert_untouched(&s, text);
    }
}

#[test]
fn ssn() {
    let s = only(PiiClass::Ssn);
    assert_scrubbed(&s, "ssn 123-45-6789.", "ssn [SSN_1].");
    assert_scrubbed(&s, "(078-05-1120)", "([SSN_1])");
    for text in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "1123-45-6789",
        "123-45-67890",
        "123-45-6789-1",
        "2024-08-06",
        "A123-45-6789",
    ] {
        assert_untouched(&s, text);
    }
}

#[test]
fn iban() {
    let s = only(PiiClass::Iban);
    assert_scrubbed(&s, "pay GB82 WEST 1234 5698 7654 32 now", "pay [IBAN_1] now");
    assert_scrubbed(&s, "DE89370400440532013000", "[IBAN_1]");
    assert_scrubbed(&s, "DE89 3704 0044 0532 0130 00, thanks", "[IBAN_1], thanks");
    assert_scrubbed(&s, "FR1420041010050500013M02606", "[IBAN_1]");
    assert_scrubbed(&s, "BE68 5390 0754 7034 CODE", "[IBAN_1] CODE");
    for text in [
        "GB82 WEST 1234 5698 7654 33",
        "DE89370400440532013001",
        "XX89370400440532013000",
        "DE8937040044053201300",
        "DE893704004405320130000",
        "ISO8601 TIMESTAMP",
        "AB12CD34EF56GH78IJ90",
    ] {
        assert_untouched(&s, text);
    }
}

#[test]
fn ip() {
    let s = only(PiiClass::Ip);
    for (text, expected) in [
        ("host 192.168.1.10 up", "host [IP_1] up"),
        ("dns 8.8.8.8:53", "dns [IP_1]:53"),
        ("net 10.0.0.0/8.", "net [IP_1]/8."),
        ("v6 2001:db8::8a2e:370:7334", "v6 [IP_1]"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[IP_1]"),
        ("[fe80::1]:8080", "[[IP_1]]:8080"),
        ("::ffff:192.0.2.1", "[IP_1]"),
        ("prefix 2001:db8::/32", "prefix [IP_1]/32"),
        ("ula fdab:cdef::1 and fd12::9", "ula [IP_1] and [IP_2]"),
    ] {
        assert_scrubbed(&s, text, expected);
    }
    for text in [
        "1.2.3.4.5",
        "v1.2.3",
        "v1.2.3.4",
        "version 1.2.3",
        "256.1.1.1",
        "1.02.3.4",
        "12:30:45",
        "at 10:30",
        "::",
        "::1",
        "127.0.0.1:8080",
        "0.0.0.0",
        "255.255.255.0",
        "std::collections::HashMap",
        "a::b",
        "dead::beef",
        "use serde::de::DeserializeOwned; impl Add::add for a::b::c",
        "cafe:babe::",
        "00:1a:2b:3c:4d:5e",
        "550e8400-e29b-41d4-a716-446655440000",
        "claude-sonnet-4-5-20250929",
        "node_modules/foo/1.2.3.4.tgz",
    ] {
        assert_untouched(&s, text);
    }
}

#[test]
fn aws_key() {
    let s = only(PiiClass::AwsKey);
    assert_scrubbed(&s, "key AKIAIOSFODNN7EXAMPLE.", "key [AWS_KEY_1].");
    assert_scrubbed(&s, "ASIAY34FZKBOKMUTVV7A", "[AWS_KEY_1]");
    assert_scrubbed(
        &s,
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        "aws_secret_access_key = [AWS_KEY_1]\n",
    );
    assert_scrubbed(
        &s,
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "export AWS_SECRET_ACCESS_KEY=[AWS_KEY_1]",
    );
    assert_scrubbed(
        &s,
        r#"{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}"#,
        r#"{"SecretAccessKey": "[AWS_KEY_1]"}"#,
    );
    for text in [
        "AKIAIOSFODNN7EXAMPL",
        "AKIAIOSFODNN7EXAMPLEX",
        "XAKIAIOSFODNN7EXAMPLE",
        "akiaiosfodnn7example",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1",
        "aws_secret_access_key = short",
    ] {
        assert_untouched(&s, text);
    }
    // A secret sitting directly under a labelled object key.
    let mut v = json!({"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "other": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"});
    let found = s.scrub_value(&mut v);
    assert_eq!(v, json!({"aws_secret_access_key": "[AWS_KEY_1]", "other": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}));
    assert_eq!(found, findings(&[("AWS_KEY", 1)]));
}

const GHP: &str = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";

#[test]
fn github_token() {
    let s = only(PiiClass::GithubToken);
    assert_scrubbed(&s, &format!("token {GHP}."), "token [GITHUB_TOKEN_1].");
    for prefix in ["gho", "ghu", "ghs", "ghr"] {
        assert_scrubbed(&s, &format!("{prefix}_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"), "[GITHUB_TOKEN_1]");
    }
    assert_scrubbed(
        &s,
        "GH_TOKEN=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
        "GH_TOKEN=[GITHUB_TOKEN_1]",
    );
    for text in ["ghp_short", "ghx_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "xghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"] {
        assert_untouched(&s, text);
    }
}

#[test]
fn gitlab_token() {
    let s = only(PiiClass::GitlabToken);
    assert_scrubbed(&s, "PRIVATE-TOKEN: glpat-AbCdEf1234567890xYzW", "PRIVATE-TOKEN: [GITLAB_TOKEN_1]");
    for text in ["glpat-short", "see glpat-docs", "xglpat-AbCdEf1234567890xYzW"] {
        assert_untouched(&s, text);
    }
}

#[test]
fn slack_token() {
    let s = only(PiiClass::SlackToken);
    assert_scrubbed(&s, "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "[SLACK_TOKEN_1]");
    assert_scrubbed(&s, "xoxp-1234567890-abcdefghij", "[SLACK_TOKEN_1]");
    assert_scrubbed(
        &s,
        "POST https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX now",
        "POST [SLACK_TOKEN_1] now",
    );
    for text in ["xoxb-abcdefghijkl", "xoxb-1", "xoxz-123456789012-1234567890123", "https://hooks.slack.com/"] {
        assert_untouched(&s, text);
    }
}

const OPENAI_LEGACY: &str = "sk-AbCdEfGhIjKlMnOpQrStT3BlbkFJuVwXyZ0123456789AbCd";
const OPENAI_PROJ: &str = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl_Mn-Op12Qr34St56Uv78Wx90YzAbCdEf1234";
const ANTHROPIC: &str = "sk-ant-api03-Ab12Cd34Ef56Gh78Ij90Kl-Mn_Op12Qr34St56Uv78Wx90YzAbCdEf1234-AA";

#[test]
fn openai_key() {
    let s = only(PiiClass::OpenaiKey);
    assert_scrubbed(&s, &format!("OPENAI_API_KEY={OPENAI_LEGACY}"), "OPENAI_API_KEY=[OPENAI_KEY_1]");
    assert_scrubbed(&s, &format!("Bearer {OPENAI_PROJ}\n"), "Bearer [OPENAI_KEY_1]\n");
    for text in [
        "sk-learn",
        "pip install scikit-learn",
        "task-abcdefghijklmnopqrstuvwxyz-0123",
        "risk-AbCdEfGhIjKlMnOpQrStUv1234",
        "sk-this-is-a-long-kebab-case-identifier",
        "sk-1234",
        ANTHROPIC,
    ] {
        assert_untouched(&s, text);
    }
}

#[test]
fn anthropic_key() {
    let s = all();
    assert_scrubbed(s, &format!("x-api-key: {ANTHROPIC}"), "x-api-key: [ANTHROPIC_KEY_1]");
    let (_, found) = scrub_with(s, ANTHROPIC);
    assert_eq!(found, findings(&[("ANTHROPIC_KEY", 1)]), "never also counted as an OpenAI key");
    for text in ["sk-ant-short", "sk-ant-", "the sk-ant- prefix"] {
        assert_untouched(&only(PiiClass::AnthropicKey), text);
    }
}

const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumrhCc3Da0Oc3ICA\nbobalice@example.com 192.168.1.1 4111111111111111\n-----END RSA PRIVATE KEY-----";

#[test]
fn private_key() {
    let s = all();
    let (out, found) = scrub_with(s, &format!("key:\n{PEM}\ndone"));
    assert_eq!(out, "key:\n[PRIVATE_KEY_1]\ndone");
    assert_eq!(found, findings(&[("PRIVATE_KEY", 1)]), "the block is claimed whole, nothing inside it counted");
    assert_scrubbed(
        s,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        "[PRIVATE_KEY_1]\n",
    );
    assert_scrubbed(s, "truncated: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq", "truncated: [PRIVATE_KEY_1]");
    for text in [
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "the PRIVATE KEY header",
    ] {
        assert_untouched(s, text);
    }
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

#[test]
fn jwt() {
    let s = only(PiiClass::Jwt);
    assert_scrubbed(&s, &format!("Authorization: Bearer {JWT}"), "Authorization: Bearer [JWT_1]");
    assert_scrubbed(&s, &format!("{JWT}."), "[JWT_1].");
    for text in [
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
        "xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
        "eyJ.a.b",
    ] {
        assert_untouched(&s, text);
    }
}

// ------------------------------------------------------------------------------------------
// Ordering, numbering, counts.

#[test]
fn secrets_are_not_cut_by_shorter_classes() {
    let s = all();
    let (out, found) = scrub_with(s, &format!("{ANTHROPIC} {OPENAI_PROJ} {JWT}"));
    assert_eq!(out, "[ANTHROPIC_KEY_1] [OPENAI_KEY_1] [JWT_1]");
    assert_eq!(found.total(), 3);
}

#[test]
fn same_value_gets_same_placeholder() {
    let s = all();
    let mut v = json!({
        "messages": [
            {"content": "mail alice@example.com or bob@example.com"},
            {"content": ["again ALICE@example.com", "card 4111 1111 1111 1111 = 4111111111111111"]}
        ]
    });
    let found = s.scrub_value(&mut v);
    assert_eq!(
        v,
        json!({
            "messages": [
                {"content": "mail [EMAIL_1] or [EMAIL_2]"},
                {"content": ["again [EMAIL_1]", "card [CARD_1] = [CARD_1]"]}
            ]
        })
    );
    assert_eq!(found, findings(&[("CARD", 2), ("EMAIL", 3)]));
    assert_eq!(found.total(), 5);
    assert!(!found.is_empty());
    assert!(Findings::default().is_empty());
    assert_eq!(Findings::default().total(), 0);
}

#[test]
fn numbering_restarts_per_call() {
    let s = all();
    assert_eq!(scrub_with(s, "a@example.com").0, "[EMAIL_1]");
    assert_eq!(scrub_with(s, "b@example.com").0, "[EMAIL_1]");
}

#[test]
fn disabled_classes_are_left_alone() {
    let s = only(PiiClass::Email);
    assert_untouched(&s, "call 415-555-0132 from 10.1.2.3 with AKIAIOSFODNN7EXAMPLE");
    let none = Scrubber::new(&[], &[]).expect("empty scrubber");
    assert_untouched(&none, "alice@example.com");
    assert_eq!(scrub_body(&none, br#"{"a":"alice@example.com"}"#).map(|s| s.body), Some(None));
}

#[test]
fn placeholders_never_match() {
    let s = all();
    for class in PiiClass::ALL {
        for n in [1, 2, 10, 4_294_967_295u32] {
            assert_untouched(s, &format!("[{}_{n}]", class.label()));
        }
    }
    assert_untouched(s, "[EMAIL_1][PHONE_2] [CARD_3]-[SSN_4].[IP_5]:[IP_6]");
}

#[test]
fn a_second_pass_finds_nothing_new() {
    let s = all();
    // The IP is glued to the address at first; once that is a placeholder it stands alone.
    let (out, _) = scrub_with(s, "alice@example.com.192.168.1.1");
    assert_eq!(out, "[EMAIL_1].[IP_1]");
    assert_untouched(s, &out);
}

// ------------------------------------------------------------------------------------------
// JSON structure.

#[test]
fn object_keys_are_not_scrubbed() {
    let s = all();
    let mut v = json!({"alice@example.com": "bob@example.com", "nested": {"415-555-0132": ["415-555-0132"]}});
    s.scrub_value(&mut v);
    assert_eq!(v, json!({"alice@example.com": "[EMAIL_1]", "nested": {"415-555-0132": ["[PHONE_1]"]}}));
}

#[test]
fn structural_keys_are_skipped() {
    let s = all();
    let mut object = serde_json::Map::new();
    for key in STRUCTURAL_KEYS {
        object.insert(key.to_owned(), json!("alice@example.com 192.168.1.10"));
    }
    object.insert("encrypted_content".to_owned(), json!("gAAAA alice@example.com"));
    object.insert("text".to_owned(), json!("alice@example.com"));
    object.insert("name_list".to_owned(), json!(["alice@example.com"]));
    let mut v = Value::Object(object.clone());
    let found = s.scrub_value(&mut v);
    assert_eq!(found, findings(&[("EMAIL", 2)]));
    object.insert("text".to_owned(), json!("[EMAIL_1]"));
    object.insert("name_list".to_owned(), json!(["[EMAIL_1]"]));
    assert_eq!(v, Value::Object(object));
    // A structural key whose value is a container is still walked.
    let mut v = json!({"name": {"description": "mail alice@example.com"}});
    s.scrub_value(&mut v);
    assert_eq!(v, json!({"name": {"description": "mail [EMAIL_1]"}}));
}

#[test]
fn base64_sources_and_data_urls_are_skipped() {
    let s = all();
    let blob = "iVBORw0KGgoAKIAIOSFODNN7EXAMPLE/alice@example.com+DE89370400440532013000==";
    let body = format!(
        r#"{{"content":[{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{blob}"}}}},{{"type":"document","source":{{"data":"{blob}","type":"base64"}}}},{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{blob}"}}}},{{"type":"redacted_thinking","data":"{blob}"}},{{"type":"text","data":"alice@example.com"}}]}}"#
    );
    let out = scrub_body(s, body.as_bytes()).expect("json");
    assert_eq!(out.findings, findings(&[("EMAIL", 1)]));
    let scrubbed = String::from_utf8(out.body.expect("changed")).expect("utf-8");
    // The body is compact and in serde_json's spelling already, so it comes back byte for byte
    // but for the one string.
    assert_eq!(scrubbed, body.replace(r#""data":"alice@example.com""#, r#""data":"[EMAIL_1]""#));
}

#[test]
fn extra_patterns() {
    let extra = vec![("employee_id".to_owned(), r"EMP-[0-9]{6}".to_owned())];
    let s = Scrubber::new(&PiiClass::ALL, &extra).expect("valid");
    let (out, found) = scrub_with(&s, "EMP-123456 and EMP-654321 and EMP-123456 mail a@example.com");
    assert_eq!(out, "[EMPLOYEE_ID_1] and [EMPLOYEE_ID_2] and [EMPLOYEE_ID_1] mail [EMAIL_1]");
    assert_eq!(found, findings(&[("EMAIL", 1), ("EMPLOYEE_ID", 3)]));
    // Extra patterns never eat placeholders, even ones that would match them.
    let greedy = vec![("tag".to_owned(), r"\[[A-Z]+_[0-9]+\]|[a-z]+".to_owned())];
    let s = Scrubber::new(&[PiiClass::Email], &greedy).expect("valid");
    let (out, found) = scrub_with(&s, "a@example.com");
    assert_eq!(out, "[EMAIL_1]");
    assert_eq!(found, findings(&[("EMAIL", 1)]));
    // An empty-matching pattern does not loop or replace anything.
    let empty = vec![("nothing".to_owned(), r"x*".to_owned())];
    let s = Scrubber::new(&[], &empty).expect("valid");
    assert_eq!(scrub_with(&s, "abc xx d").0, "abc [NOTHING_1] d");
}

#[test]
fn bad_extra_patterns() {
    let bad = vec![("broken".to_owned(), "([a-z".to_owned())];
    match Scrubber::new(&PiiClass::ALL, &bad) {
        Err(PiiError::BadPattern { name, source }) => {
            assert_eq!(name, "broken");
            assert!(!source.to_string().is_empty());
        }
        other => panic!("expected BadPattern, got {other:?}"),
    }
    let err = Scrubber::new(&[], &bad).expect_err("bad regex");
    assert_eq!(err.to_string(), r#"pii pattern "broken" is not a valid regex"#);
    assert!(std::error::Error::source(&err).is_some());
    // Case-insensitive extra patterns work.
    let ci = Scrubber::new(&[], &[("ci".to_owned(), "(?i-u:project-x)".to_owned())]).expect("ASCII case folding");
    assert_eq!(scrub_with(&ci, "about Project-X.").0, "about [CI_1].");
    for name in ["", "has space", "dash-ed", "dot.ted", "ünï"] {
        let extra = vec![(name.to_owned(), "x".to_owned())];
        assert!(matches!(Scrubber::new(&[], &extra), Err(PiiError::BadName(n)) if n == name), "{name:?}");
    }
}

#[test]
fn bodies_that_are_not_json_are_not_scrubbed() {
    let s = all();
    // serde_json refuses them, so the hook leaves them alone (policy's tests check the record).
    for body in [
        &b"not json alice@example.com"[..],
        b"",
        br#"{"a": "alice@example.com"} trailing"#,
        b"{\"a\": \"\xff alice@example.com\"}",
        br#"{"text": "\ud800 alice@example.com"}"#,
        br#"["\udc00x alice@example.com"]"#,
    ] {
        assert_eq!(scrub_body(s, body), None, "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn bodies_without_findings_are_not_serialised_again() {
    let s = all();
    let unchanged = scrub_body(s, br#"{"a": [1, 2.5e3, true, null, "hello"]}"#).expect("json");
    assert_eq!(unchanged, Scrubbed { body: None, findings: Findings::default() });
}

#[test]
fn escapes_are_decoded_before_matching_and_written_again() {
    let s = all();
    let top = scrub_body(s, br#""mail a@example.com""#).expect("json");
    assert_eq!(top.body.as_deref(), Some(&br#""mail [EMAIL_1]""#[..]), "a top-level string is scrubbed too");
    let escaped = scrub_body(s, br#"{"t": "line\n\"a\u0040example.com\"\tend \u00e9\ud83d\ude00"}"#).expect("json");
    assert_eq!(escaped.body.as_deref(), Some("{\"t\":\"line\\n\\\"[EMAIL_1]\\\"\\tend é😀\"}".as_bytes()));
}

#[test]
fn a_scrubbed_body_keeps_key_order_and_number_values() {
    let s = all();
    let body = "{\n  \"zeta\": 1.50,\n  \"alpha\": \"415-555-0132\",\n  \"big\": 123456789012345678901234567890,\n  \"m\": {\"b\": 1e3, \"a\": \"x\"}\n}\n";
    let out = scrub_body(s, body.as_bytes()).expect("json");
    assert_eq!(out.findings, findings(&[("PHONE", 1)]));
    let scrubbed: Value = serde_json::from_slice(&out.body.expect("changed")).expect("still JSON");
    let original: Value = serde_json::from_str(body).expect("json");
    assert!(same_shape(&original, &scrubbed), "same keys in the same order, numbers equal as JSON values");
    let keys = |v: &Value| v.as_object().expect("object").keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&scrubbed), ["zeta", "alpha", "big", "m"]);
    assert_eq!(keys(&scrubbed["m"]), ["b", "a"]);
    let mut expected = original;
    expected["alpha"] = json!("[PHONE_1]");
    assert_eq!(scrubbed, expected, "only the PII string changed");
    // Whitespace and number spelling (`1.50`, `1e3`) are serde_json's now, not the client's.
}

#[test]
fn anthropic_messages_body() {
    let s = all();
    let body = json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "system": [{"type": "text", "text": "You are Claude Code. Today is 2025-10-06.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{
            "name": "Bash",
            "description": "Runs a command. Timeout 120000 ms; see https://docs.example.com/v1.2.3/bash",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}
        }],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Deploy as alice@example.com, please"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUgAKIAIOSFODNN7EXAMPLE"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Need the credentials.", "signature": "EqQBCkYIBxgCKkAKIAIOSFODNN7EXAMPLE"},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "Bash", "input": {"command": "cat ~/.aws/credentials", "timeout": 120000}}
            ]},
            {"role": "user", "content": [{
                "type": "tool_result",
                "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                "content": "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n# owner: alice@example.com\n"
            }]}
        ],
        "metadata": {"user_id": "user_3f2a9c_account_8d1e_session_550e8400-e29b-41d4-a716-446655440000"},
        "stream": true
    });
    let raw = serde_json::to_vec(&body).expect("serialise");
    let out = scrub_body(s, &raw).expect("json");
    assert_eq!(out.findings, findings(&[("AWS_KEY", 2), ("EMAIL", 2)]));
    let scrubbed: Value = serde_json::from_slice(&out.body.expect("changed")).expect("still JSON");
    assert!(same_shape(&body, &scrubbed));
    assert_eq!(scrubbed["messages"][0]["content"][0]["text"], "Deploy as [EMAIL_1], please");
    assert_eq!(
        scrubbed["messages"][2]["content"][0]["content"],
        "[default]\naws_access_key_id = [AWS_KEY_1]\naws_secret_access_key = [AWS_KEY_2]\n# owner: [EMAIL_1]\n"
    );
    // Everything else is unchanged.
    let mut expected = body;
    expected["messages"][0]["content"][0]["text"] = scrubbed["messages"][0]["content"][0]["text"].clone();
    expected["messages"][2]["content"][0]["content"] = scrubbed["messages"][2]["content"][0]["content"].clone();
    assert_eq!(scrubbed, expected);
}

#[test]
fn openai_chat_body() {
    let s = all();
    let body = json!({
        "model": "gpt-4o-2024-08-06",
        "messages": [
            {"role": "system", "content": "You are a coding agent."},
            {"role": "user", "content": "Why does the deploy fail?"},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_abc123", "type": "function",
                "function": {"name": "read_file", "arguments": "{\"path\": \"/home/alice/.env\", \"notify\": \"ops@corp.example.com\"}"}
            }]},
            {"role": "tool", "tool_call_id": "call_abc123", "content": "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nCONTACT=ops@corp.example.com\nREGION=us-east-1"}
        ],
        "tools": [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}],
        "temperature": 0.2
    });
    let raw = serde_json::to_vec(&body).expect("serialise");
    let out = scrub_body(s, &raw).expect("json");
    assert_eq!(out.findings, findings(&[("AWS_KEY", 1), ("EMAIL", 2)]));
    let scrubbed: Value = serde_json::from_slice(&out.body.expect("changed")).expect("still JSON");
    assert!(same_shape(&body, &scrubbed));
    assert_eq!(
        scrubbed["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{\"path\": \"/home/alice/.env\", \"notify\": \"[EMAIL_1]\"}"
    );
    assert_eq!(
        scrubbed["messages"][3]["content"],
        "AWS_ACCESS_KEY_ID=[AWS_KEY_1]\nCONTACT=[EMAIL_1]\nREGION=us-east-1"
    );
    assert_eq!(scrubbed["model"], "gpt-4o-2024-08-06");
    assert_eq!(scrubbed["messages"][3]["tool_call_id"], "call_abc123");
}

// ------------------------------------------------------------------------------------------
// Performance: a Claude-Code-sized body without PII.

/// Prose and code of the kind found in coding-agent prompts: paths, versions, dates, times,
/// hashes, uuids, ports, Rust paths, URLs, numbers. None of it is PII.
const FILLER: &str = "Use the Read tool to open /home/user/project/src/main.rs before editing; \
prefer std::collections::HashMap over BTreeMap when order does not matter. Version v1.2.3 of \
the crate (released 2024-08-06T10:30:45Z, commit 3f2a9c8d1e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39) \
fixed issue #12345. The server listens on port 8080; request id 550e8400-e29b-41d4-a716-446655440000 \
took 12:30:45.123 to finish. Run `cargo test -- --nocapture` and `npm i @types/node@20.11.5`. \
Model claude-sonnet-4-5-20250929 costs $3.00 per 1,000,000 tokens; budget 32000 tokens, timeout \
120000 ms, max file size 262144 bytes, see https://docs.example.com/en/docs/tools#bash-tool. \
Line 42: fn parse(input: &str) -> Result<Vec<u8>, Error> { let x = a::b::c(1, 2.5, 0x1F); } \
Unicode text: naïve café, 日本語のテキスト, emoji 🚀. Ratio 16:9, score 3-1, range 10-20, \
ticket ABC-1234, hash sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08. \
End commits with Co-Authored-By: Claude <noreply@anthropic.com>; the dev server is on 127.0.0.1:3000 \
and logs epoch-ms 1722945600000; impl<'de> serde::de::Deserialize<'de> for Add::add. ";

fn big_body() -> Vec<u8> {
    let tools: Vec<Value> = (0..25)
        .map(|i| {
            json!({
                "name": format!("Tool{i}"),
                "description": FILLER,
                "input_schema": {
                    "type": "object",
                    "properties": {
                        "file_path": {"type": "string", "description": "The absolute path to the file, e.g. /tmp/a.txt"},
                        "limit": {"type": "number", "description": "How many lines to read (default 2000)"},
                        "mode": {"type": "string", "enum": ["fast", "slow"], "description": FILLER}
                    },
                    "required": ["file_path"],
                    "additionalProperties": false,
                    "$schema": "http://json-schema.org/draft-07/schema#"
                }
            })
        })
        .collect();
    let messages: Vec<Value> = (0..6)
        .map(|i| {
            json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": [
                {"type": "text", "text": FILLER},
                {"type": "tool_result", "tool_use_id": format!("toolu_{i:024}"), "content": FILLER}
            ]})
        })
        .collect();
    let body = json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "system": [{"type": "text", "text": FILLER.repeat(4), "cache_control": {"type": "ephemeral"}}],
        "tools": tools,
        "messages": messages,
        "metadata": {"user_id": "user_0123456789abcdef_account__session_550e8400-e29b-41d4-a716-446655440000"},
        "stream": true
    });
    serde_json::to_vec(&body).expect("serialise")
}

#[test]
fn scrub_time_for_an_85_kb_body() {
    let s = all();
    let body = big_body();
    assert!((70_000..110_000).contains(&body.len()), "body is {} bytes", body.len());
    let first = scrub_body(s, &body).expect("json");
    assert_eq!(first, Scrubbed { body: None, findings: Findings::default() }, "no false positives");
    let mut times: Vec<f64> = (0..20)
        .map(|_| {
            let start = Instant::now();
            let out = scrub_body(s, &body);
            let elapsed = start.elapsed().as_secs_f64() * 1e3;
            assert!(out.is_some_and(|o| o.body.is_none()));
            elapsed
        })
        .collect();
    times.sort_by(f64::total_cmp);
    // Not asserted (timing is machine-dependent). Measured in release on a 2-core shared dev box:
    // 0.45-0.75 ms for this 85 KB body (min of 20 runs, varying with load); aim: well under 2 ms.
    eprintln!(
        "parse + scrub_value on {} bytes: min {:.3} ms, median {:.3} ms (no findings)",
        body.len(),
        times[0],
        times[times.len() / 2]
    );
}

// ------------------------------------------------------------------------------------------
// Properties.

/// Text pieces that look like PII, like near-misses, or stress JSON escaping.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "alice@example.com",
            "icon@2x.png",
            "(415) 555-0132",
            "415-555-0132",
            "+1 415 555 0132",
            "+44 20 7946 0958",
            "2024-08-06",
            "12:30:45",
            "4111 1111 1111 1111",
            "4111111111111111",
            "4111111111111112",
            "123-45-6789",
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "192.168.1.10",
            "1.2.3.4.5",
            "2001:db8::8a2e:370:7334",
            "::",
            "::ffff:10.0.0.1",
            "AKIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            GHP,
            "glpat-AbCdEf1234567890xYzW",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKl",
            OPENAI_PROJ,
            ANTHROPIC,
            PEM,
            "-----BEGIN PRIVATE KEY-----\n",
            JWT,
            "[EMAIL_1]",
            "[IP_2]",
            "data:",
            "\"",
            "\\",
            "\\u0040",
            "é",
            "日本",
            "🚀",
            "\u{0}",
            "\u{1f}",
            "\n",
            "\u{2028}",
            " ",
            ".",
            ":",
            "-",
            "+",
            "@",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z0-9 .:@+/_-]{0,12}",
        1 => any::<String>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..6).prop_map(|parts| parts.concat())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "type",
            "data",
            "text",
            "content",
            "name",
            "id",
            "model",
            "input",
            "alice@example.com"
        ])
        .prop_map(str::to_owned),
        text(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        1 => Just(json!("base64")),
        8 => text().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn scrubbed_json_keeps_its_shape_and_is_stable(v in json_value()) {
        let s = all();
        let raw = serde_json::to_vec(&v).expect("serialise");
        let out = scrub_body(s, &raw);
        prop_assert!(out.is_some(), "serde_json's own output is JSON");
        let out = out.expect("checked");
        let Some(body) = out.body else {
            prop_assert!(out.findings.is_empty());
            return Ok(());
        };
        prop_assert!(!out.findings.is_empty());
        let parsed: Value = serde_json::from_slice(&body).expect("scrubbed body parses");
        // Numbers come back exactly (serde_json's float_roundtrip): a scrubbed request never
        // changes a client's temperature or top_p by an ulp.
        prop_assert!(same_shape(&v, &parsed), "{} -> {}", String::from_utf8_lossy(&raw), String::from_utf8_lossy(&body));
        // Scrubbing again finds nothing: placeholders stay as they are.
        let again = scrub_body(s, &body).expect("json");
        prop_assert_eq!(again.body, None);
        prop_assert!(again.findings.is_empty(), "{:?}", again.findings);
    }

    #[test]
    fn pretty_printed_bodies_are_handled_too(v in json_value()) {
        let s = all();
        let compact = scrub_body(s, &serde_json::to_vec(&v).expect("serialise")).expect("json");
        let pretty = scrub_body(s, &serde_json::to_vec_pretty(&v).expect("serialise")).expect("json");
        // Whitespace changes neither what is found nor the body sent on.
        prop_assert_eq!(pretty, compact);
    }
}
