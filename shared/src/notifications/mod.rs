//! Notifications: what the people concerned are told when an appointment changes: emails
//! (SES) in each party's zone, with the calendar invite attached.

pub mod email;
pub mod ics;
mod service;
pub mod templates;

pub use service::NotificationService;
pub use templates::CalendarAlert;
