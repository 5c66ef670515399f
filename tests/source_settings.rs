//! Per-source settings (issue #3 item 1): custom headers and basic auth reach the server,
//! an extra CA bundle makes a private-CA endpoint harvestable while TLS failures are their
//! own error class, per-source timeouts apply, and an oversized record is quarantined.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::db::TestDb;
use common::fake_provider::{FakeProvider, FakeRecord, Fault, ProviderConfig, When, utc};
use common::harness::*;
use sheaf::harvest::HarvestError;
use sheaf::oai::OaiError;
use sheaf::source_settings::{BasicAuth, SourceSettings};
use sheaf::store::Source;

async fn with_settings(db: &TestDb, url: &str, settings: &SourceSettings) -> Source {
    let src = add_source(&db.store, "fake", url, &[]).await;
    db.store
        .set_source_settings(src.id, &settings.to_json())
        .await
        .expect("settings");
    db.store.source_by_id(src.id).await.expect("source")
}

#[tokio::test]
async fn custom_headers_and_basic_auth_reach_the_server_and_stay_out_of_listings() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(3, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("password");
    std::fs::write(&pw, "open sesame\n").unwrap();
    let mut settings = SourceSettings {
        basic_auth: Some(BasicAuth {
            username: "harvester".into(),
            password_env: None,
            password_file: Some(pw),
        }),
        ..SourceSettings::default()
    };
    settings
        .headers
        .insert("X-Api-Key".into(), "k-12345".into());
    let src = with_settings(&db, &p.base_url(), &settings).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(run.records_new, 3);
    let reqs = p.requests();
    assert!(reqs.len() >= 2);
    for r in &reqs {
        assert_eq!(r.header("x-api-key"), Some("k-12345"));
        // base64("harvester:open sesame")
        assert_eq!(
            r.header("authorization"),
            Some("Basic aGFydmVzdGVyOm9wZW4gc2VzYW1l")
        );
        assert!(
            r.user_agent
                .as_deref()
                .is_some_and(|u| u.starts_with("sheaf/"))
        );
    }
    // Listings never show header values.
    let shown = serde_json::to_value(&src).unwrap();
    assert_eq!(shown["settings"]["headers"]["X-Api-Key"], "***");
    assert!(!shown.to_string().contains("k-12345"));
}

#[tokio::test]
async fn a_missing_password_variable_fails_before_any_request() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(ProviderConfig::default(), Vec::new()).await;
    let settings = SourceSettings {
        basic_auth: Some(BasicAuth {
            username: "harvester".into(),
            password_env: Some("HARVEST_TEST_UNSET_PASSWORD_VAR".into()),
            password_file: None,
        }),
        ..SourceSettings::default()
    };
    let src = with_settings(&db, &p.base_url(), &settings).await;
    let err = harvester(&db.store)
        .harvest(&src, &opts(), &sheaf::harvest::LogProgress)
        .await
        .expect_err("no password");
    assert!(matches!(err, HarvestError::Settings(_)), "{err:?}");
    assert!(err.to_string().contains("HARVEST_TEST_UNSET_PASSWORD_VAR"));
    assert!(p.requests().is_empty());
}

#[tokio::test]
async fn a_per_source_request_timeout_applies() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(3, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    p.inject_times(
        When::Verb("Identify".into()),
        Fault::Delay(Duration::from_secs(4)),
        1,
    );
    let settings = SourceSettings {
        request_timeout_secs: Some(1),
        ..SourceSettings::default()
    };
    let src = with_settings(&db, &p.base_url(), &settings).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(run.records_new, 3);
    assert_eq!(
        run.retries, 1,
        "the slow Identify timed out once and was retried"
    );
}

#[tokio::test]
async fn an_oversized_record_is_quarantined_and_the_rest_stored() {
    let db = TestDb::new().await;
    let mut records = FakeRecord::series(5, utc("2022-01-01T00:00:00Z"));
    let huge = format!(
        "<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Huge</dc:title>\
         <dc:description>{}</dc:description></oai_dc:dc>",
        "x".repeat(3000)
    );
    records[2].metadata = Some(huge);
    let p = FakeProvider::start(ProviderConfig::default(), records).await;
    let settings = SourceSettings {
        max_record_kib: Some(2),
        ..SourceSettings::default()
    };
    let src = with_settings(&db, &p.base_url(), &settings).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(run.records_new, 4);
    assert_eq!(run.records_failed, 1);
    let ids: Vec<String> = stored(&db.store, src.id)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert!(!ids.contains(&"oai:fake.example:3".to_owned()));
    let q: (Option<String>, String, i32) = sqlx::query_as(
        "SELECT oai_identifier, error, length(raw) FROM quarantine WHERE source_id = $1",
    )
    .bind(src.id)
    .fetch_one(db.store.pool())
    .await
    .expect("one quarantine row");
    assert_eq!(q.0.as_deref(), Some("oai:fake.example:3"));
    assert!(q.1.starts_with("record too large"), "{}", q.1);
    assert!(q.2 > 3000, "the raw metadata is kept for an operator");
    // The next run asks for it again, and it is still too large: still quarantined.
    let again = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(again.status, "completed");
    let unresolved: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM quarantine WHERE source_id = $1 AND resolved_at IS NULL",
    )
    .bind(src.id)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(unresolved, 1);
}

// ---------------------------------------------------------------------------------------------
// TLS: a terminating proxy with a certificate from a private CA in front of the fake provider
// ---------------------------------------------------------------------------------------------

struct PrivateCa {
    ca_pem: String,
    https_url: String,
    _task: tokio::task::JoinHandle<()>,
}

/// Serves `https://localhost:<port>/oai` with a leaf certificate signed by a fresh CA,
/// forwarding the bytes to `upstream`.
async fn tls_proxy(upstream: std::net::SocketAddr) -> PrivateCa {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sheaf test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                }
            });
        }
    });
    PrivateCa {
        ca_pem: ca.pem(),
        https_url: format!("https://localhost:{port}/oai"),
        _task: task,
    }
}

#[tokio::test]
async fn a_private_ca_endpoint_fails_as_tls_and_works_with_its_ca_bundle() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(4, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let proxy = tls_proxy(p.addr()).await;

    // Without the CA: a TLS error, not retried as a network blip, nothing stored.
    let plain = add_source(&db.store, "plain", &proxy.https_url, &[]).await;
    let err = harvester(&db.store)
        .harvest(&plain, &opts(), &sheaf::harvest::LogProgress)
        .await
        .expect_err("untrusted certificate");
    assert!(
        matches!(err, HarvestError::Oai(OaiError::Tls { .. })),
        "{err:?}"
    );
    assert!(p.requests().is_empty(), "no request got through");

    // With the CA bundle for this source only.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &proxy.ca_pem).unwrap();
    let src = add_source(&db.store, "private", &proxy.https_url, &[]).await;
    let settings = SourceSettings {
        ca_bundle: Some(ca),
        ..SourceSettings::default()
    };
    db.store
        .set_source_settings(src.id, &settings.to_json())
        .await
        .unwrap();
    let src = db.store.source_by_id(src.id).await.unwrap();
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(run.records_new, 4);
    // The other source still does not trust that CA.
    assert!(
        harvester(&db.store)
            .harvest(&plain, &opts(), &sheaf::harvest::LogProgress)
            .await
            .is_err()
    );
}
