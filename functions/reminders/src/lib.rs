//! The reminders function, run by an EventBridge schedule (and by the dev server on a
//! timer): it queues the calendar syncs that are due, ends unpaid holds (reading each
//! PaymentIntent back from Stripe first, so that a missed webhook never loses a paid booking),
//! captures authorisations before they lapse, completes finished sessions, and relays the
//! outbox's domain events to the bus. Expiry is also enforced by the claims themselves, so a
//! late sweep never blocks a new booking.

use marketplace::booking::SweepReport;
use marketplace::error::ServiceError;
use marketplace::services::Services;

/// One run; the scheduled event carries nothing we need. Each part runs whatever became of
/// the others (a failed calendar queue must not hold up the outbox relay); the run fails if
/// any part did, after all of them ran.
pub async fn run(services: &Services) -> Result<SweepReport, ServiceError> {
    let report = services.bookings.sweep().await;
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
    let queued = match &services.calendars {
        Some(calendars) => calendars.enqueue_due().await.map(|queued| {
            if queued > 0 {
                tracing::info!(queued, "calendar syncs queued");
            }
        }),
        None => Ok(()),
    };
    let relayed = match &services.relay {
        Some(relay) => relay.run().await.map(|relayed| {
            if relayed.published + relayed.failed > 0 {
                tracing::info!(
                    published = relayed.published,
                    failed = relayed.failed,
                    "events relayed"
                );
            }
        }),
        None => Ok(()),
    };
    queued.and(relayed).map(|()| report)
}
