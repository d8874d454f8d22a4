//! The marketplace's common crate: domain types and rules, services, and the adapters
//! (DynamoDB today) that every Lambda function of the marketplace is a thin shell over.
//! No web framework and no Lambda runtime in here: handlers adapt events to these services.

pub mod accounts;
pub mod auth;
pub mod availability;
pub mod booking;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod experts;
pub mod ids;
pub mod money;
pub mod notifications;
pub mod payments;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod validation;
