//! `local-stack emails`: every email the notifier sends, rendered from samples by the same
//! templates, written as `.eml` (opens in any mail client, invite included) and `.html`.

use std::path::{Path, PathBuf};

use crate::bootstrap::BoxError;

use chrono::{TimeZone, Utc};
use marketplace::booking::{Party, Role};
use marketplace::calendar::connection::Provider;
use marketplace::events::EventKind;
use marketplace::ids::AppointmentId;
use marketplace::money::{Currency, Money};
use marketplace::notifications::email::Email;
use marketplace::notifications::ics::{Invite, Method};
use marketplace::notifications::templates::{self, CalendarAlert, Session};

const FROM: &str = marketplace::config::DEFAULT_MAIL_FROM;

/// Renders each template for each reader into `dir`; returns the files written.
pub fn write_samples(dir: &Path) -> Result<Vec<PathBuf>, BoxError> {
    std::fs::create_dir_all(dir)?;
    let expert = Party {
        name: "Ada Lovelace".into(),
        email: Some("ada@example.com".into()),
        zone: chrono_tz::Europe::London,
        sms: None,
    };
    let client = Party {
        name: "Bob Smith".into(),
        email: Some("bob@example.com".into()),
        zone: chrono_tz::America::New_York,
        sms: Some("+12125550123".into()),
    };
    // The Monday after Europe moved its clocks, so the zones in the samples differ by four hours.
    let start = Utc
        .with_ymd_and_hms(2026, 3, 30, 13, 0, 0)
        .single()
        .ok_or("sample start")?;
    let now = start - chrono::Duration::days(3);
    let appointment = AppointmentId::new();
    let attendees = [
        ("Bob Smith", "bob@example.com"),
        ("Ada Lovelace", "ada@example.com"),
    ];
    let meeting = "https://meet.example.com/expert-marketplace-sample";
    let price = marketplace::booking::price(Money::new(18_000, Currency::Usd), 60)?;
    let mut written = Vec::new();
    for kind in [
        EventKind::BookingConfirmed,
        EventKind::BookingRescheduled,
        EventKind::BookingCancelled,
        EventKind::Reminder24h,
        EventKind::Reminder1h,
    ] {
        let headline = templates::headline(kind).ok_or("a session event has a headline")?;
        let cancelled = kind == EventKind::BookingCancelled;
        let method = if cancelled {
            Method::Cancel
        } else {
            Method::Request
        };
        let calendar = Invite {
            method,
            appointment,
            sequence: u32::from(kind != EventKind::BookingConfirmed),
            start,
            end: start + chrono::Duration::minutes(60),
            summary: "Consultation: Ada Lovelace with Bob Smith",
            description: "About my tax return.",
            location: Some(meeting),
            organizer: ("Expert Marketplace", FROM),
            attendees: &attendees,
            now,
        }
        .render();
        let session = Session {
            start,
            duration_minutes: 60,
            price,
            // Cancelled inside the default policy's 50% window.
            refund: cancelled.then_some(Money::new(9_000, Currency::Usd)),
            meeting_url: (!cancelled).then_some(meeting),
            invite: (method, &calendar),
        };
        for (role, reader, other) in [
            (Role::Client, &client, &expert),
            (Role::Expert, &expert, &client),
        ] {
            let address = reader.email.as_deref().unwrap_or_default();
            let email = templates::session_email(headline, role, &session, reader, other, address);
            let name = format!("{}-{}", kind.name(), format!("{role:?}").to_lowercase());
            written.extend(write(dir, &name, &email, now)?);
        }
    }
    let message = templates::message_email(&client, &expert, start, "bob@example.com");
    written.extend(write(dir, "message.posted-client", &message, now)?);
    // What an expert hears of their calendars.
    let calendar_emails = [
        (
            "calendar.refused-caldav",
            templates::calendar_alert_email(
                &expert.name,
                (
                    Provider::Caldav,
                    "ada@icloud.com",
                    "https://caldav.icloud.com/",
                ),
                CalendarAlert::Refused,
                "ada@example.com",
            ),
        ),
        (
            "calendar.refused-google",
            templates::calendar_alert_email(
                &expert.name,
                (Provider::Google, "ada@gmail.com", Provider::Google.label()),
                CalendarAlert::Refused,
                "ada@example.com",
            ),
        ),
        (
            "calendar.unreachable",
            templates::calendar_alert_email(
                &expert.name,
                (
                    Provider::Microsoft,
                    "ada@outlook.com",
                    Provider::Microsoft.label(),
                ),
                CalendarAlert::Unreachable { since: now },
                "ada@example.com",
            ),
        ),
        (
            "calendar.no-meet-link",
            templates::conferencing_failed_email(
                &expert.name,
                (start, expert.zone),
                (
                    "Google Meet",
                    "Google could not create a Meet link for this event",
                ),
                "ada@example.com",
            ),
        ),
    ];
    for (name, email) in &calendar_emails {
        written.extend(write(dir, name, email, now)?);
    }
    written.extend(payment_alerts(
        dir,
        (&expert, &client),
        (appointment, start),
        now,
    )?);
    Ok(written)
}

/// What the expert and the operators hear when a booking's money goes wrong, and what an
/// expert Stripe restricted hears.
fn payment_alerts(
    dir: &Path,
    (expert, client): (&Party, &Party),
    (appointment, start): (AppointmentId, chrono::DateTime<Utc>),
    now: chrono::DateTime<Utc>,
) -> Result<Vec<PathBuf>, BoxError> {
    use marketplace::booking::{DisputeState, IncidentKind, PaymentIncident};
    use marketplace::notifications::payment_alerts::{self, AlertedBooking, PaymentAlert};
    let booking = AlertedBooking {
        id: appointment,
        start,
        price: marketplace::booking::price(Money::new(18_000, Currency::Usd), 60)?,
        payment_intent: Some("pi_3SampleLapsed"),
    };
    let incident = PaymentIncident {
        kind: IncidentKind::AuthorizationLapsed,
        payment_intent: "pi_3SampleLapsed".into(),
        at: now,
    };
    let dispute = |status: &str, reinstated: i64| DisputeState {
        id: "dp_1SampleDispute".into(),
        status: status.into(),
        reason: "product_not_received".into(),
        amount: Money::new(18_000, Currency::Usd),
        opened_at: now,
        withdrawn: 18_000,
        reinstated,
    };
    let (opened, won) = (dispute("needs_response", 0), dispute("won", 18_000));
    let operations = marketplace::config::LOCAL_OPERATIONS_EMAIL;
    let mut written = Vec::new();
    for (name, alert) in [
        ("payment.incident", PaymentAlert::Incident(&incident)),
        ("payment.disputed", PaymentAlert::Disputed(&opened)),
        ("payment.dispute_closed", PaymentAlert::DisputeClosed(&won)),
    ] {
        let address = expert.email.as_deref().unwrap_or_default();
        let to_expert =
            payment_alerts::expert_alert_email(alert, &booking, expert, client, address);
        written.extend(write(dir, &format!("{name}-expert"), &to_expert, now)?);
        let to_operations =
            payment_alerts::operations_alert_email(alert, &booking, expert, client, operations);
        written.extend(write(
            dir,
            &format!("{name}-operations"),
            &to_operations,
            now,
        )?);
    }
    let restricted = payment_alerts::payouts_restricted_email(
        &expert.name,
        &["individual.verification.document".to_owned()],
        "http://localhost:5173/payouts/refresh",
        expert.email.as_deref().unwrap_or_default(),
    );
    written.extend(write(dir, "payouts.restricted-expert", &restricted, now)?);
    Ok(written)
}

fn write(
    dir: &Path,
    name: &str,
    email: &Email,
    now: chrono::DateTime<Utc>,
) -> std::io::Result<[PathBuf; 2]> {
    let eml = dir.join(format!("{name}.eml"));
    let html = dir.join(format!("{name}.html"));
    std::fs::write(&eml, email.raw(FROM, now, "sample-boundary"))?;
    std::fs::write(&html, &email.html)?;
    Ok([eml, html])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_written_for_every_reader() {
        let dir = std::env::temp_dir().join(format!("email-preview-{}", ulid::Ulid::new()));
        let files = write_samples(&dir).unwrap();
        // Five session events for two readers, the message notice, four about calendars,
        // three payment alerts for the expert and the operators, and a restricted account:
        // twenty-two emails.
        assert_eq!(files.len(), 44);
        let lapsed = std::fs::read_to_string(dir.join("payment.incident-operations.html")).unwrap();
        assert!(
            lapsed.contains("PaymentIntent: pi_3SampleLapsed"),
            "{lapsed}"
        );
        let google = std::fs::read_to_string(dir.join("calendar.refused-google.html")).unwrap();
        assert!(
            google.contains("Google Calendar no longer lets us read"),
            "{google}"
        );
        let cancel = std::fs::read_to_string(dir.join("booking.cancelled-client.eml")).unwrap();
        assert!(cancel.contains("method=CANCEL"), "{cancel}");
        let html = std::fs::read_to_string(dir.join("booking.confirmed-expert.html")).unwrap();
        assert!(html.contains("Your earnings: 162.00 USD"), "{html}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
