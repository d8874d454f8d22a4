//! The reminders function, run by an EventBridge schedule (and by the dev server on a
//! timer): it queues the calendar syncs that are due, ends unpaid holds (reading each
//! PaymentIntent back from Stripe first, so that a missed webhook never loses a paid booking),
//! captures authorisations before they lapse, completes finished sessions, and relays the
//! outbox's domain events to the bus. Expiry is also enforced by the claims themselves, so a
//! late sweep never blocks a new booking.

use marketplace::booking::SweepReport;
use marketplace::error::ServiceError;
use marketplace::services::Services;

/// One run; the scheduled event carries nothing we need.
pub async fn run(services: &Services) -> Result<SweepReport, ServiceError> {
    let report = services.bookings.sweep().await?;
    if let Some(calendars) = &services.calendars {
        let queued = calendars.enqueue_due().await?;
        if queued > 0 {
            tracing::info!(queued, "calendar syncs queued");
        }
    }
    if let Some(relay) = &services.relay {
        let relayed = relay.run().await?;
        if relayed.published + relayed.failed > 0 {
            tracing::info!(
                published = relayed.published,
                failed = relayed.failed,
                "events relayed"
            );
        }
    }
    if report != SweepReport::default() {
        tracing::info!(
            expired = report.expired,
            confirmed = report.confirmed,
            captured = report.captured,
            completed = report.completed,
            reminders = report.reminders,
            failed = report.failed,
            "swept"
        );
    }
    Ok(report)
}
