//! External calendars: what their events mean for an expert's availability (pure), and the
//! providers they are read from and written to (CalDAV, Google Calendar, Microsoft Graph).

pub mod caldav;
pub mod connect;
pub mod connection;
pub mod event;
pub mod freshness;
pub mod google;
pub mod graph;
pub mod guard;
pub mod ical;
mod multistatus;
pub mod oauth;
pub mod push;
pub mod remote;
pub mod rest;
pub mod secrets;
pub mod service;
pub mod sync;
