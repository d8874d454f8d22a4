//! The account document, its input form and its validation.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Group};
use crate::ids::{ExpertId, UserId};
use crate::validation::{self, ValidationErrors};

pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// `PUT /v1/me` as sent.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    pub display_name: String,
    pub time_zone: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub notifications: NotificationInput,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationInput {
    /// Email is how confirmations and receipts arrive, so it cannot be switched off; `false`
    /// is refused rather than silently ignored.
    #[serde(default)]
    pub email: Option<bool>,
    #[serde(default)]
    pub sms: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AccountDraft {
    pub display_name: String,
    pub time_zone: Tz,
    pub phone: Option<String>,
    pub sms_opt_in: bool,
}

impl AccountDraft {
    /// Where SMS reminders go: the phone, only when they opted in.
    pub fn sms_number(&self) -> Option<String> {
        self.phone.clone().filter(|_| self.sms_opt_in)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Notifications {
    pub email: bool,
    pub sms: bool,
}

/// What `GET /v1/me` shows. A user who never saved settings gets the defaults: no name, UTC,
/// email notifications only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Account {
    pub user_id: UserId,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub time_zone: Tz,
    pub phone: Option<String>,
    pub notifications: Notifications,
    pub groups: Vec<Group>,
    pub expert_id: Option<ExpertId>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The account item as stored. `settings` is absent until the user first saves them (an
/// expert who created a profile but never called `PUT /v1/me`).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAccount {
    pub email: Option<String>,
    pub settings: Option<AccountDraft>,
    pub expert_id: Option<ExpertId>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Account {
    /// The caller's view of their account; the token's email wins over a stored one.
    pub fn new(caller: &Caller, stored: Option<StoredAccount>) -> Account {
        let stored = stored.unwrap_or(StoredAccount {
            email: None,
            settings: None,
            expert_id: None,
            created_at: None,
            updated_at: None,
        });
        let settings = stored.settings;
        Account {
            user_id: caller.user_id.clone(),
            email: caller.email.clone().or(stored.email),
            display_name: settings.as_ref().map(|s| s.display_name.clone()),
            time_zone: settings.as_ref().map_or(chrono_tz::UTC, |s| s.time_zone),
            phone: settings.as_ref().and_then(|s| s.phone.clone()),
            notifications: Notifications {
                email: true,
                sms: settings.as_ref().is_some_and(|s| s.sms_opt_in),
            },
            groups: caller.groups.clone(),
            expert_id: stored.expert_id,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

impl AccountInput {
    pub fn parse(self) -> Result<AccountDraft, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let display_name = validation::text(
            &mut errors,
            "/display_name",
            &self.display_name,
            true,
            MAX_DISPLAY_NAME_CHARS,
        );
        let time_zone = validation::time_zone(&mut errors, "/time_zone", &self.time_zone);
        let phone = self.phone.filter(|p| !p.is_empty());
        if let Some(phone) = &phone
            && !is_e164(phone)
        {
            errors.add("/phone", "must be an E.164 number such as +14155550123");
        }
        if self.notifications.email == Some(false) {
            errors.add(
                "/notifications/email",
                "email notifications cannot be turned off: confirmations and receipts go by email",
            );
        }
        if self.notifications.sms && phone.is_none() {
            errors.add("/notifications/sms", "SMS needs a phone number");
        }
        errors.finish(AccountDraft {
            display_name,
            time_zone,
            phone,
            sms_opt_in: self.notifications.sms,
        })
    }
}

/// `+` and 2 to 15 digits, the first not 0 (ITU-T E.164).
fn is_e164(phone: &str) -> bool {
    phone.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AccountInput {
        AccountInput {
            display_name: "Bob".into(),
            time_zone: "America/New_York".into(),
            phone: Some("+14155550123".into()),
            notifications: NotificationInput {
                email: Some(true),
                sms: true,
            },
        }
    }

    #[test]
    fn a_valid_account_parses() {
        let draft = input().parse().unwrap();
        assert_eq!(draft.time_zone, chrono_tz::America::New_York);
        assert!(draft.sms_opt_in);
    }

    #[test]
    fn phone_numbers_must_be_e164() {
        for good in ["+14155550123", "+44", "+819012345678"] {
            assert!(is_e164(good), "{good}");
        }
        for bad in [
            "14155550123",
            "+0123",
            "+1 415 555",
            "+1234567890123456",
            "+",
            "+1a",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn each_bad_field_is_reported_at_its_pointer() {
        type Case = (&'static str, fn(&mut AccountInput), &'static str);
        let cases: &[Case] = &[
            (
                "empty name",
                |i| i.display_name = "".into(),
                "/display_name",
            ),
            (
                "bad zone",
                |i| i.time_zone = "Moon/Base".into(),
                "/time_zone",
            ),
            ("bad phone", |i| i.phone = Some("555-1234".into()), "/phone"),
            (
                "email off",
                |i| i.notifications.email = Some(false),
                "/notifications/email",
            ),
            (
                "sms without phone",
                |i| i.phone = None,
                "/notifications/sms",
            ),
        ];
        for (name, mutate, pointer) in cases {
            let mut bad = input();
            mutate(&mut bad);
            let errors = bad.parse().expect_err(name);
            let pointers: Vec<_> = errors.errors().iter().map(|e| e.pointer.as_str()).collect();
            assert_eq!(pointers, [*pointer], "case: {name}");
        }
    }
}
