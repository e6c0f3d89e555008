//! The SNI gate: a connection to a target address whose ClientHello names a host that is
//! not a configured provider is spliced untouched to the original destination: the
//! client sees the provider's own certificate and nothing is recorded.

use glassbox_tests::certs::TEST_CA_CN;
use glassbox_tests::check::leaf_issuer;

use crate::world::{MODELS_URL, OTHER, World, http_code};

#[test]
fn other_sni_on_target_address_is_spliced_untouched() {
    let w = World::new("other_sni");
    // Trusting the test CA too, so the client would accept either certificate.
    let bundle = w.agent.ca_bundle(true);
    let spliced = w.curl_with(
        w.client_trusting(&bundle),
        &["-o", "/dev/null", "-w", "%{http_code}\n%{certs}", "https://other.example/v1/models"],
    );
    spliced.assert_success();
    assert_eq!(http_code(&spliced), "200", "{}", spliced.stdout_str());
    let issuer = leaf_issuer(&spliced.stdout_str()).map(str::to_owned);
    assert!(
        issuer.as_deref().is_some_and(|i| i.contains(TEST_CA_CN)),
        "other.example should see the fake's own certificate (issuer {TEST_CA_CN}), got issuer {issuer:?}"
    );
    let seen = w.fake.requests();
    assert!(
        seen.iter().any(|r| r.sni.as_deref() == Some(OTHER) && r.path == "/v1/models"),
        "the fake should see the client's own request for other.example: {seen:#?}"
    );
    w.agent.wait_for_status("a passed-through connection", |s| {
        s["connections"]["passed_through"].as_u64().is_some_and(|n| n >= 1)
    });

    // The same client to a provider name is intercepted (glassbox's certificate) …
    let intercepted =
        w.curl_with(w.client_trusting(&bundle), &["-o", "/dev/null", "-w", "%{http_code}\n%{certs}", MODELS_URL]);
    intercepted.assert_success();
    let issuer = leaf_issuer(&intercepted.stdout_str()).map(str::to_owned);
    assert!(
        issuer.as_deref().is_some_and(|i| !i.contains(TEST_CA_CN)),
        "api.openai.com should see glassbox's certificate, got issuer {issuer:?}"
    );
    // … and once its record is in, there is still none for other.example.
    w.agent.wait_for_request("the intercepted GET /v1/models", |r| r["path"] == "/v1/models");
    let records = w.agent.requests_json();
    assert!(
        records.iter().all(|r| r["host"] != OTHER),
        "a spliced connection must not be recorded as a request: {records:#?}"
    );
}
