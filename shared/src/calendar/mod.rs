//! External calendars: what their events mean for an expert's availability (pure), and the
//! providers they are read from and written to.

pub mod caldav;
pub mod connection;
pub mod freshness;
pub mod guard;
pub mod ical;
mod multistatus;
pub mod secrets;
pub mod service;
pub mod sync;
