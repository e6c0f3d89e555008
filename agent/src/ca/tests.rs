use std::sync::Arc;

use rustls::{
    RootCertStore,
    client::WebPkiServerVerifier,
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("glassbox-ca-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn verify(ca: &Ca, host: &str) -> Result<(), rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
    let (leaf, _, _) = ca.mint(host).unwrap();
    rustls::client::danger::ServerCertVerifier::verify_server_cert(
        verifier.as_ref(),
        &CertificateDer::from(leaf),
        &[],
        &ServerName::try_from(host.to_owned()).unwrap(),
        &[],
        UnixTime::now(),
    )
    .map(|_| ())
}

#[test]
fn leaves_inside_the_constraints_verify_and_outside_do_not() {
    let dir = temp_dir("constraints");
    let ca = Ca::load_or_create(&dir, &["api.openai.com".to_owned()]).unwrap();
    verify(&ca, "api.openai.com").expect("a leaf for a provider host verifies");
    let err = verify(&ca, "www.example.com").expect_err("a leaf outside the constraints must fail");
    assert!(format!("{err:?}").contains("NameConstraint") || format!("{err:?}").contains("Name"), "{err:?}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_ca_is_kept_private_and_reloaded() {
    let dir = temp_dir("reload");
    let hosts = ["api.openai.com".to_owned(), "api.anthropic.com".to_owned()];
    let first = Ca::load_or_create(&dir, &hosts).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    let second = Ca::load_or_create(&dir, &hosts).unwrap();
    assert_eq!(first.cert_pem(), second.cert_pem(), "the CA survives a restart");
    verify(&second, "api.anthropic.com").expect("a reloaded CA still signs valid leaves");
    let third = Ca::load_or_create(&dir, &hosts[..1]).unwrap();
    assert_ne!(first.cert_pem(), third.cert_pem(), "changed hosts give a new CA");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn leaves_are_short_lived_and_backdated() {
    let dir = temp_dir("lifetime");
    let ca = Ca::load_or_create(&dir, &["api.openai.com".to_owned()]).unwrap();
    let now = OffsetDateTime::now_utc();
    let (_, _, not_after) = ca.mint("api.openai.com").unwrap();
    assert!(not_after <= now + LEAF_LIFETIME - LEAF_BACKDATE + Duration::minutes(1));
    assert!(not_after > now + Duration::days(6));
    fs::remove_dir_all(dir).unwrap();
}
