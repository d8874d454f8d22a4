//! Payments through Stripe Connect: Express accounts for experts, destination-charge
//! PaymentIntents with manual capture for bookings, refunds, and webhook verification.
//! One adapter (`StripeGateway`) whether it talks to Stripe or to our Stripe test server:
//! only the base URL and the keys differ.

mod gateway;
mod service;
pub mod webhook;

pub use gateway::{
    AuthorizationRequest, CaptureTiming, PaymentError, PaymentIntentState, PaymentIntentSummary,
    StripeGateway, StripeSettings,
};
pub use service::{Onboarding, PaymentService};

/// The Stripe API version the client library speaks (and our test server claims).
pub fn api_version() -> &'static str {
    stripe_shared::version::VERSION.as_str()
}
