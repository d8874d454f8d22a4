//! Payments through Stripe Connect: Express accounts for experts, destination-charge
//! PaymentIntents with manual capture for bookings, refunds, disputes, and webhook
//! verification. One adapter (`StripeGateway`) whether it talks to Stripe or to our Stripe
//! test server: only the base URL and the keys differ.

pub mod dispute;
mod gateway;
pub(crate) mod intent;
mod service;
pub mod webhook;

pub use dispute::DisputeSummary;
pub use gateway::{
    AuthorizationRequest, CaptureTiming, PaymentError, StripeGateway, StripeSettings,
};
pub use intent::{ChargeSummary, PaymentIntentState, PaymentIntentSummary};
pub use service::{EventOutcome, Onboarding, PaymentService};

/// The Stripe API version the client library speaks (and our test server claims).
pub fn api_version() -> &'static str {
    stripe_shared::version::VERSION.as_str()
}
