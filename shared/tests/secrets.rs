//! Envelope encryption of calendar secrets against moto's KMS (started by `infra/test.sh`).

use marketplace::calendar::secrets::{SecretError, SecretSealer};

async fn sealer() -> SecretSealer {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "AWS_ENDPOINT_URL must be the local moto (run through infra/test.sh), not {endpoint:?}"
    );
    let kms = aws_sdk_kms::Client::new(&marketplace::config::aws_sdk_config().await);
    let key = kms
        .create_key()
        .description("calendar secrets (test)")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    SecretSealer::new(kms, key)
}

#[tokio::test]
async fn a_sealed_password_opens_only_for_its_own_connection() {
    let sealer = sealer().await;
    let password = "abcd-efgh-ijkl-mnop";
    let sealed = sealer.seal(password, "cal_1").await.unwrap();
    let stored = serde_json::to_string(&sealed).unwrap();
    assert!(!stored.contains(password), "{stored}");
    assert_eq!(format!("{sealed:?}"), "SealedSecret(..)");
    assert_eq!(sealer.open(&sealed, "cal_1").await.unwrap(), password);

    // Copied onto another connection: KMS refuses the context (or GCM the data).
    assert!(sealer.open(&sealed, "cal_2").await.is_err());
    // Tampered with: refused.
    let mut tampered = sealed.clone();
    tampered.ciphertext.replace_range(0..4, "AAAA");
    assert!(matches!(
        sealer.open(&tampered, "cal_1").await,
        Err(SecretError::Corrupt)
    ));
    // Sealed twice: different keys and nonces.
    let again = sealer.seal(password, "cal_1").await.unwrap();
    assert_ne!(again.ciphertext, sealed.ciphertext);
}
