//! Sends the emails a domain event calls for, each party in their own words, zone and amounts,
//! with the calendar invite attached. At least once per event: a recipient already sent to for
//! this event is skipped, so a retried batch sends only what had not gone out.

use std::sync::Arc;

use aws_sdk_ses::primitives::Blob;
use aws_sdk_ses::types::RawMessage;
use chrono::DateTime;
use chrono_tz::Tz;

use super::email::{Email, html_escape};
use super::ics::Method;
use crate::booking::{Appointment, BookingService, InviteDetails, Party, Role};
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::events::{DomainEvent, EventKind};
use crate::store::StoreError;
use crate::store::dynamo::DynamoStore;

#[derive(Clone)]
pub struct NotificationService {
    store: DynamoStore,
    bookings: BookingService,
    ses: aws_sdk_ses::Client,
    mail_from: String,
    clock: Arc<dyn Clock>,
}

impl NotificationService {
    pub fn new(
        store: DynamoStore,
        bookings: BookingService,
        ses: aws_sdk_ses::Client,
        mail_from: String,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            bookings,
            ses,
            mail_from,
            clock,
        }
    }

    /// Emails for `event`; returns how many went out now.
    pub async fn handle(&self, event: &DomainEvent) -> Result<usize, ServiceError> {
        if event.kind == EventKind::MessagePosted {
            return self.message_posted(event).await;
        }
        let headline = match event.kind {
            EventKind::BookingConfirmed => "Booked",
            EventKind::BookingRescheduled => "Moved",
            EventKind::BookingCancelled => "Cancelled",
            EventKind::Reminder24h => "Tomorrow",
            EventKind::Reminder1h => "In one hour",
            _ => return Ok(0),
        };
        let Some(appointment) = self.store.appointment(event.appointment_id).await? else {
            return Ok(0);
        };
        let Some(details) = self.bookings.invite_details(&appointment).await? else {
            return Ok(0);
        };
        let mut sent = 0;
        for (role, party, other) in [
            (Role::Client, &details.client, &details.expert),
            (Role::Expert, &details.expert, &details.client),
        ] {
            let Some(address) = &party.email else {
                continue;
            };
            let recipient = format!("{}:{role:?}", event.id);
            if self.store.notified(&recipient).await? {
                continue;
            }
            let email = render(
                headline,
                role,
                &appointment,
                &details,
                party,
                other,
                address,
            );
            let now = self.clock.now();
            self.send(&email, &format!("part-{}", event.id), now)
                .await?;
            self.store.mark_notified(&recipient, now).await?;
            sent += 1;
        }
        Ok(sent)
    }
}

impl NotificationService {
    /// A new message: the other party is told (not the text: they read it in the app, behind
    /// their sign-in).
    async fn message_posted(&self, event: &DomainEvent) -> Result<usize, ServiceError> {
        let Some(author) = event.actor else {
            return Ok(0);
        };
        let Some(appointment) = self.store.appointment(event.appointment_id).await? else {
            return Ok(0);
        };
        let details = self.bookings.parties(&appointment).await?;
        let (reader, writer) = match author {
            Role::Client => (&details.expert, &details.client),
            Role::Expert => (&details.client, &details.expert),
        };
        let Some(address) = &reader.email else {
            return Ok(0);
        };
        let recipient = format!("{}:reader", event.id);
        if self.store.notified(&recipient).await? {
            return Ok(0);
        }
        let when = local(appointment.start, reader.zone);
        let text = format!(
            "Hello {},\n\n{} wrote to you about your consultation on {when}. Read and answer it in the app.",
            reader.name, writer.name
        );
        let email = Email {
            to: address.clone(),
            subject: format!("New message from {}", writer.name),
            html: format!(
                "<html><body><p>{}</p></body></html>",
                html_escape(&text).replace('\n', "<br>")
            ),
            text,
            invite: None,
        };
        let now = self.clock.now();
        self.send(&email, &format!("part-{}", event.id), now)
            .await?;
        self.store.mark_notified(&recipient, now).await?;
        Ok(1)
    }

    async fn send(
        &self,
        email: &Email,
        boundary: &str,
        now: DateTime<chrono::Utc>,
    ) -> Result<(), ServiceError> {
        let raw = email.raw(&self.mail_from, now, boundary);
        self.ses
            .send_raw_email()
            .source(&self.mail_from)
            .destinations(&email.to)
            .raw_message(
                RawMessage::builder()
                    .data(Blob::new(raw.into_bytes()))
                    .build()
                    .map_err(|e| StoreError::request("SendRawEmail", e))?,
            )
            .send()
            .await
            .map_err(|e| StoreError::request("SendRawEmail", e))?;
        Ok(())
    }
}

fn local(at: DateTime<chrono::Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%A %-d %B %Y, %H:%M (%Z)")
        .to_string()
}

/// One party's email: their zone, their side of the money.
fn render(
    headline: &str,
    role: Role,
    appointment: &Appointment,
    details: &InviteDetails,
    party: &Party,
    other: &Party,
    address: &str,
) -> Email {
    let when = local(appointment.start, party.zone);
    let subject = format!("{headline}: consultation with {} on {when}", other.name);
    let money = match role {
        Role::Client => format!(
            "Price: {} {}",
            appointment.price.total.amount, appointment.price.total.currency
        ),
        Role::Expert => format!(
            "Your earnings: {} {} (after the platform's 10%)",
            appointment.price.expert_earnings.amount, appointment.price.expert_earnings.currency
        ),
    };
    let refund = appointment.cancellation.as_ref().map(|c| {
        format!(
            "Refund to the client: {} {}",
            c.refund.amount, c.refund.currency
        )
    });
    let link = details
        .meeting_url
        .as_deref()
        .filter(|_| details.method == Method::Request);
    let mut lines = vec![
        format!("Hello {},", party.name),
        String::new(),
        format!(
            "{headline}: your consultation with {} on {when}.",
            other.name
        ),
        format!("Duration: {} minutes", appointment.duration_minutes),
        money,
    ];
    lines.extend(refund);
    if let Some(link) = link {
        lines.push(format!("Join: {link}"));
    }
    let text = lines.join("\n");
    let html = format!(
        "<html><body>{}</body></html>",
        lines
            .iter()
            .map(|l| format!("<p>{}</p>", html_escape(l)))
            .collect::<String>()
    );
    Email {
        to: address.to_owned(),
        subject,
        text,
        html,
        invite: Some((details.method, details.calendar.clone())),
    }
}
