//! Route handlers, one module per resource.

pub mod accounts;
pub mod appointments;
pub mod experts;
