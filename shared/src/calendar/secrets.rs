//! Calendar credentials at rest (DESIGN.md section 4): envelope encryption. KMS makes a fresh
//! AES-256 data key per secret and hands it back twice, in clear (used here once, then dropped)
//! and wrapped under the calendar key (stored). The secret is sealed with AES-256-GCM; the
//! connection's id is the associated data and the KMS encryption context, so a sealed secret
//! copied onto another connection does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

const CONTEXT_KEY: &str = "calendar_connection";

/// What is stored: never the secret itself.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// The data key, wrapped by KMS (base64).
    pub wrapped_key: String,
    pub nonce: String,
    /// AES-256-GCM output, tag included (base64).
    pub ciphertext: String,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSecret(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("KMS {operation} failed: {message}")]
    Kms {
        operation: &'static str,
        message: String,
    },
    #[error("the sealed secret does not open (tampered, or sealed for another connection)")]
    Corrupt,
}

/// Seals and opens secrets under one KMS key; built once per cold start.
#[derive(Clone, Debug)]
pub struct SecretSealer {
    kms: aws_sdk_kms::Client,
    key_id: String,
}

impl SecretSealer {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        SecretSealer {
            kms,
            key_id: key_id.into(),
        }
    }

    pub async fn seal(&self, secret: &str, connection: &str) -> Result<SealedSecret, SecretError> {
        let output = self
            .kms
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, connection)
            .send()
            .await
            .map_err(|e| kms("GenerateDataKey", e))?;
        let (Some(plain_key), Some(wrapped)) = (output.plaintext, output.ciphertext_blob) else {
            return Err(SecretError::Kms {
                operation: "GenerateDataKey",
                message: "no key in the answer".into(),
            });
        };
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SecretError::Corrupt)?;
        let mut sealed = secret.as_bytes().to_vec();
        cipher(plain_key.as_ref())?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(connection.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SecretError::Corrupt)?;
        Ok(SealedSecret {
            wrapped_key: BASE64.encode(wrapped.as_ref()),
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(sealed),
        })
    }

    pub async fn open(
        &self,
        sealed: &SealedSecret,
        connection: &str,
    ) -> Result<String, SecretError> {
        let decode = |text: &str| BASE64.decode(text).map_err(|_| SecretError::Corrupt);
        let nonce: [u8; NONCE_LEN] = decode(&sealed.nonce)?
            .try_into()
            .map_err(|_| SecretError::Corrupt)?;
        let output = self
            .kms
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(decode(&sealed.wrapped_key)?))
            .encryption_context(CONTEXT_KEY, connection)
            .send()
            .await
            .map_err(|e| kms("Decrypt", e))?;
        let plain_key = output.plaintext.ok_or(SecretError::Corrupt)?;
        let mut data = decode(&sealed.ciphertext)?;
        let opened = cipher(plain_key.as_ref())?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(connection.as_bytes()),
                &mut data,
            )
            .map_err(|_| SecretError::Corrupt)?;
        String::from_utf8(opened.to_vec()).map_err(|_| SecretError::Corrupt)
    }
}

fn cipher(key: &[u8]) -> Result<LessSafeKey, SecretError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| SecretError::Corrupt)
}

fn kms<E: std::error::Error + 'static>(
    operation: &'static str,
    error: aws_sdk_kms::error::SdkError<E>,
) -> SecretError {
    SecretError::Kms {
        operation,
        message: aws_sdk_kms::error::DisplayErrorContext(error).to_string(),
    }
}

/// 32 random bytes, base64url without padding (43 characters): OAuth states, push channel
/// tokens and Graph's clientState (at most 128 characters).
pub fn random_secret() -> Result<String, SecretError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SecretError::Corrupt)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
