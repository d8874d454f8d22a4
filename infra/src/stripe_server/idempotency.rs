//! Idempotency keys as Stripe keeps them: the first answer to a key (declines and 5xx
//! included) is replayed for 24 hours to a request with the same parameters, a request with
//! other parameters is refused, and a request that arrives while the first is still running
//! gets 409 `idempotency_key_in_use`. After 24 hours the key is forgotten and a request with it
//! runs again, as a new one.

use std::collections::HashMap;

use http::StatusCode;
use serde_json::Value;

/// How long Stripe keeps a key (at least 24 hours, it says; we forget at exactly 24).
pub const KEPT_SECONDS: i64 = 24 * 60 * 60;

/// What a request with a key meets.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// Unknown (or forgotten) key: the request runs, and its answer is kept.
    New,
    /// The first request with this key is still running.
    InFlight,
    /// The first answer, to send again.
    Replay(StatusCode, Value),
    /// The key was used with other parameters.
    Mismatch,
}

struct Entry {
    fingerprint: String,
    first_seen: i64,
    answer: Option<(StatusCode, Value)>,
}

#[derive(Default)]
pub struct IdempotencyKeys {
    entries: HashMap<String, Entry>,
}

impl IdempotencyKeys {
    /// Looks the key up at `now` (epoch seconds); a new key is marked as running.
    pub fn begin(&mut self, key: &str, fingerprint: &str, now: i64) -> Lookup {
        if let Some(entry) = self.entries.get(key)
            && now - entry.first_seen < KEPT_SECONDS
        {
            return match (&entry.answer, entry.fingerprint == fingerprint) {
                (_, false) => Lookup::Mismatch,
                (None, true) => Lookup::InFlight,
                (Some((status, body)), true) => Lookup::Replay(*status, body.clone()),
            };
        }
        self.entries.insert(
            key.to_owned(),
            Entry {
                fingerprint: fingerprint.to_owned(),
                first_seen: now,
                answer: None,
            },
        );
        Lookup::New
    }

    /// The status kept under `key`, if an answer is.
    pub fn kept(&self, key: &str) -> Option<StatusCode> {
        self.entries
            .get(key)
            .and_then(|e| e.answer.as_ref())
            .map(|(status, _)| *status)
    }

    /// Keeps the answer of the request that began with `key`. Stripe saves no answer for a
    /// request whose parameters failed validation (it never began executing): such a key is
    /// free again.
    pub fn finish(&mut self, key: &str, status: StatusCode, body: &Value) {
        let validation_failure = status == StatusCode::BAD_REQUEST
            && body["error"]["code"]
                .as_str()
                .is_some_and(|code| code.starts_with("parameter_"));
        if validation_failure {
            self.entries.remove(key);
        } else if let Some(entry) = self.entries.get_mut(key) {
            entry.answer = Some((status, body.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_key_replays_its_first_answer_for_a_day_then_is_forgotten() {
        let mut keys = IdempotencyKeys::default();
        assert_eq!(keys.begin("k", "a=1", 0), Lookup::New);
        assert_eq!(keys.begin("k", "a=1", 1), Lookup::InFlight);
        keys.finish(
            "k",
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": {}}),
        );
        assert_eq!(
            keys.begin("k", "a=1", KEPT_SECONDS - 1),
            Lookup::Replay(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": {}})),
            "a 5xx is kept like any answer"
        );
        assert_eq!(keys.begin("k", "a=2", 10), Lookup::Mismatch);
        assert_eq!(keys.begin("k", "a=2", KEPT_SECONDS), Lookup::New);
    }

    #[test]
    fn a_request_that_failed_validation_leaves_its_key_free() {
        let mut keys = IdempotencyKeys::default();
        assert_eq!(keys.begin("k", "", 0), Lookup::New);
        keys.finish(
            "k",
            StatusCode::BAD_REQUEST,
            &json!({"error": {"code": "parameter_missing", "param": "amount"}}),
        );
        assert_eq!(keys.begin("k", "amount=1", 1), Lookup::New);
    }
}
