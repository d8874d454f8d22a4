//! Every partition and sort key the code writes, in one place. The README's key-design table
//! mirrors this file.
//!
//! | entity                | pk                 | sk         |
//! |-----------------------|--------------------|------------|
//! | account of a user     | `USER#<sub>`       | `ACCOUNT`  |
//! | expert profile        | `EXPERT#<exp_id>`  | `PROFILE`  |
//! | availability settings | `EXPERT#<exp_id>`  | `SETTINGS` |
//! | busy time             | `EXPERT#<exp_id>`  | `BUSY#<end>#<source>#<ref>` |
//!
//! The expert partition is the slot search's one Query: later busy items (bookings, holds,
//! imported calendar time) get sort keys `BUSY#<end>#...`, which sort before `PROFILE` and
//! `SETTINGS`, so `sk >= BUSY#<window start>` returns the profile, the settings and every busy
//! interval that ends inside or after the window, in one request.

use chrono::{DateTime, Utc};

use crate::ids::{ExpertId, UserId};

pub const PK: &str = "pk";
pub const SK: &str = "sk";

pub const ACCOUNT: &str = "ACCOUNT";
pub const PROFILE: &str = "PROFILE";
pub const SETTINGS: &str = "SETTINGS";
pub const BUSY_PREFIX: &str = "BUSY#";

pub fn user(user: &UserId) -> String {
    format!("USER#{user}")
}

pub fn expert(expert: &ExpertId) -> String {
    format!("EXPERT#{expert}")
}

/// The lowest busy sort key whose interval ends at or after `end`: the key of a busy item
/// starts with its end instant, fixed width, so the sort order is the time order.
pub fn busy_ending_from(end: DateTime<Utc>) -> String {
    format!("{BUSY_PREFIX}{}", end.format("%Y-%m-%dT%H:%M:%SZ"))
}
