//! The reminders function, run by an EventBridge schedule (and by the dev server on a
//! timer): today it ends unpaid holds, reading each PaymentIntent back from Stripe first so
//! that a missed webhook never loses a paid booking. Expiry is also enforced by the claims
//! themselves, so a late sweep never blocks a new booking.

use marketplace::booking::SweepReport;
use marketplace::error::ServiceError;
use marketplace::services::Services;

/// One run; the scheduled event carries nothing we need.
pub async fn run(services: &Services) -> Result<SweepReport, ServiceError> {
    let report = services.bookings.expire_holds().await?;
    if report != SweepReport::default() {
        tracing::info!(
            expired = report.expired,
            confirmed = report.confirmed,
            "holds swept"
        );
    }
    Ok(report)
}
