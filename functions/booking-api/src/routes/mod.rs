//! Route handlers, one module per resource.

pub mod accounts;
pub mod experts;
