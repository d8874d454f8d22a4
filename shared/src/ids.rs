//! Identifiers: prefixed ULIDs for our own entities, Cognito subjects for users.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// Declares a newtype over a ULID that prints as `<prefix>_<ulid>`, so an id says what it names
/// and one kind of id can never be passed where another is expected.
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn new() -> Self {
                Self(Ulid::new())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", Self::PREFIX, self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.strip_prefix(Self::PREFIX)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .and_then(|ulid| Ulid::from_string(ulid).ok())
                    .map(Self)
                    .ok_or(InvalidId { expected: Self::PREFIX })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// An expert's public id (`exp_...`), distinct from the Cognito subject of the user behind it.
    ExpertId,
    "exp"
);

prefixed_id!(
    /// An appointment (`apt_...`), from the moment its time is held.
    AppointmentId,
    "apt"
);

prefixed_id!(
    /// An expert's connection to an external calendar account (`cal_...`).
    ConnectionId,
    "cal"
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid `{expected}_<ulid>` id")]
pub struct InvalidId {
    expected: &'static str,
}

/// A signed-in user: the `sub` claim of the verified JWT.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// Cognito subjects are UUIDs; anything printable up to 128 bytes is accepted so that
    /// other issuers (and dev tokens) work too.
    pub fn parse(raw: &str) -> Option<Self> {
        let valid =
            !raw.is_empty() && raw.len() <= 128 && raw.chars().all(|c| c.is_ascii_graphic());
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expert_id_round_trips_through_its_text_form() {
        let id = ExpertId::new();
        let text = id.to_string();
        assert!(text.starts_with("exp_"));
        assert_eq!(text.parse::<ExpertId>(), Ok(id));
    }

    #[test]
    fn expert_id_rejects_other_prefixes_and_garbage() {
        let ulid = Ulid::new();
        for bad in [
            format!("usr_{ulid}"),
            ulid.to_string(),
            "exp_".into(),
            "exp_zz".into(),
        ] {
            assert!(bad.parse::<ExpertId>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn user_ids_must_be_printable_and_bounded() {
        assert!(UserId::parse("3f1c-sub").is_some());
        assert!(UserId::parse("").is_none());
        assert!(UserId::parse("with space").is_none());
        assert!(UserId::parse(&"a".repeat(129)).is_none());
    }
}
