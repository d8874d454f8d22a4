//! Notifications: what the people concerned are told when an appointment changes. Today: the
//! calendar invites; the emails around them and their sending come with the notifier.

pub mod ics;
