//! Route handlers, one module per resource.

pub mod accounts;
pub mod admin;
pub mod appointments;
pub mod calendars;
pub mod experts;
