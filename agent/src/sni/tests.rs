use super::*;

/// A ClientHello made by rustls itself, so the parser is checked against a real encoder.
fn client_hello(server_name: &str) -> Vec<u8> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

#[tokio::test]
async fn finds_the_sni_of_a_real_client_hello() {
    let hello = client_hello("API.OpenAI.com");
    let mut reader = &hello[..];
    let got = read_hello(&mut reader).await.unwrap();
    assert_eq!(got.sni.as_deref(), Some("api.openai.com"));
    assert_eq!(&got.bytes[..], &hello[..], "every byte read is kept for replay");
}

#[tokio::test]
async fn a_hello_split_across_reads_is_reassembled() {
    let hello = client_hello("api.anthropic.com");
    let (a, b) = hello.split_at(7);
    let mut reader = tokio::io::AsyncReadExt::chain(a, b);
    let got = read_hello(&mut reader).await.unwrap();
    assert_eq!(got.sni.as_deref(), Some("api.anthropic.com"));
}

#[tokio::test]
async fn an_ip_literal_hello_has_no_sni() {
    // rustls sends no SNI for an IP address.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    let got = read_hello(&mut &hello[..]).await.unwrap();
    assert_eq!(got.sni, None);
}

#[tokio::test]
async fn plain_http_and_garbage_have_no_sni_and_lose_no_bytes() {
    for input in [&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..], b"\x16\x03\x01\xff\xff", b"\x16\x03"] {
        let got = read_hello(&mut &input[..]).await.unwrap();
        assert_eq!(got.sni, None);
        assert_eq!(&got.bytes[..], input);
    }
    assert!(matches!(read_hello(&mut &b""[..]).await, Err(SniError::Closed)));
}

#[test]
fn truncated_hellos_never_panic() {
    let hello = client_hello("api.openai.com");
    for cut in 0..hello.len() {
        let _ = parse_sni(&hello[5.min(cut)..cut]);
    }
}
