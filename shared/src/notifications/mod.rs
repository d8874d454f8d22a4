//! Notifications: what the people concerned are told when an appointment changes: emails
//! (SES) in each party's zone, with the calendar invite attached; and what the expert and the
//! operators are told when a payment goes wrong.

pub mod email;
pub mod ics;
pub mod payment_alerts;
mod service;
pub mod templates;

pub use service::{Correspondence, NotificationService};
pub use templates::CalendarAlert;
