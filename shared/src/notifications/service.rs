//! Sends the emails a domain event calls for, each party in their own words, zone and amounts,
//! with the calendar invite attached. At least once per event: a recipient already sent to for
//! this event is skipped, so a retried batch sends only what had not gone out.

use std::sync::Arc;

use aws_sdk_ses::primitives::Blob;
use aws_sdk_ses::types::RawMessage;

use super::email::Email;
use super::ics::Method;
use super::templates::{self, CalendarAlert, Session};
use crate::booking::{BookingService, Role};
use crate::calendar::connection::CalendarConnection;
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
    sns: aws_sdk_sns::Client,
    mail_from: String,
    clock: Arc<dyn Clock>,
}

impl NotificationService {
    pub fn new(
        store: DynamoStore,
        bookings: BookingService,
        ses: aws_sdk_ses::Client,
        sns: aws_sdk_sns::Client,
        mail_from: String,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            bookings,
            ses,
            sns,
            mail_from,
            clock,
        }
    }

    /// Emails for `event`; returns how many went out now.
    pub async fn handle(&self, event: &DomainEvent) -> Result<usize, ServiceError> {
        if event.kind == EventKind::MessagePosted {
            return self.message_posted(event).await;
        }
        let Some(headline) = templates::headline(event.kind) else {
            return Ok(0);
        };
        let Some(appointment) = self.store.appointment(event.appointment_id).await? else {
            return Ok(0);
        };
        let Some(details) = self.bookings.invite_details(&appointment).await? else {
            return Ok(0);
        };
        let session = Session {
            start: appointment.start,
            duration_minutes: appointment.duration_minutes,
            price: appointment.price,
            refund: appointment.cancellation.as_ref().map(|c| c.refund),
            meeting_url: details
                .meeting_url
                .as_deref()
                .filter(|_| details.method == Method::Request),
            invite: (details.method, &details.calendar),
        };
        let mut sent = 0;
        for (role, reader, other) in [
            (Role::Client, &details.client, &details.expert),
            (Role::Expert, &details.expert, &details.client),
        ] {
            if let Some(address) = &reader.email {
                let email =
                    templates::session_email(headline, role, &session, reader, other, address);
                let recipient = format!("{role:?}");
                sent += usize::from(
                    self.once(event, &recipient, self.send(&email, &event.id))
                        .await?,
                );
            }
            let is_reminder = matches!(event.kind, EventKind::Reminder24h | EventKind::Reminder1h);
            if let Some(phone) = reader.sms.as_deref().filter(|_| is_reminder) {
                let text = templates::reminder_sms(headline, &session, reader, other);
                let recipient = format!("{role:?}:sms");
                sent += usize::from(
                    self.once(event, &recipient, self.text(phone, &text))
                        .await?,
                );
            }
        }
        Ok(sent)
    }
}

impl NotificationService {
    /// A new message: the other party is told.
    async fn message_posted(&self, event: &DomainEvent) -> Result<usize, ServiceError> {
        let Some(author) = event.actor else {
            return Ok(0);
        };
        let Some(appointment) = self.store.appointment(event.appointment_id).await? else {
            return Ok(0);
        };
        let parties = self.bookings.parties(&appointment).await?;
        let (reader, writer) = match author {
            Role::Client => (&parties.expert, &parties.client),
            Role::Expert => (&parties.client, &parties.expert),
        };
        let Some(address) = &reader.email else {
            return Ok(0);
        };
        let email = templates::message_email(reader, writer, appointment.start, address);
        let sent = self
            .once(event, "reader", self.send(&email, &event.id))
            .await?;
        Ok(usize::from(sent))
    }

    /// Tells the expert, once per `occasion` (a refusal, a run of failed reads), that a
    /// calendar connection cannot be read. Answers whether the email went out now.
    pub async fn calendar_alert(
        &self,
        connection: &CalendarConnection,
        occasion: &str,
        alert: CalendarAlert,
    ) -> Result<bool, ServiceError> {
        let Some((profile, address)) = self.expert_with_address(connection.expert_id).await? else {
            return Ok(false);
        };
        let email = templates::calendar_alert_email(
            &profile.display_name,
            (
                connection.provider,
                &connection.account,
                connection
                    .server_url
                    .as_deref()
                    .unwrap_or(connection.provider.label()),
            ),
            alert,
            &address,
        );
        self.once_for(&format!("{occasion}:expert"), self.send(&email, occasion))
            .await
    }

    /// Tells the expert that the Meet or Teams link they chose could not be made for a
    /// booking (the default link stays), once per booking.
    pub async fn conferencing_failed(
        &self,
        appointment: &crate::booking::Appointment,
        connection: &CalendarConnection,
        why: &str,
    ) -> Result<bool, ServiceError> {
        let Some((profile, address)) = self.expert_with_address(connection.expert_id).await? else {
            return Ok(false);
        };
        let link = match connection.preferences.conferencing {
            crate::calendar::connection::Conferencing::Teams => "Microsoft Teams",
            _ => "Google Meet",
        };
        let email = templates::conferencing_failed_email(
            &profile.display_name,
            (appointment.start, profile.time_zone),
            (link, why),
            &address,
        );
        let occasion = format!("conference:{}", appointment.id);
        self.once_for(&format!("{occasion}:expert"), self.send(&email, &occasion))
            .await
    }

    /// The expert's profile and sign-in email, when they have one.
    async fn expert_with_address(
        &self,
        expert: crate::ids::ExpertId,
    ) -> Result<Option<(crate::experts::ExpertProfile, String)>, ServiceError> {
        let Some(profile) = self.store.profile(expert).await? else {
            return Ok(None);
        };
        let address = self
            .store
            .account(&profile.owner)
            .await?
            .and_then(|a| a.email);
        Ok(address.map(|address| (profile, address)))
    }

    /// Runs `deliver` unless this event already reached `recipient` (a party, by a channel);
    /// true when it went out now. Marked after delivery: a crash in between sends it again
    /// (at least once), never loses it.
    async fn once(
        &self,
        event: &DomainEvent,
        recipient: &str,
        deliver: impl Future<Output = Result<(), ServiceError>>,
    ) -> Result<bool, ServiceError> {
        self.once_for(&format!("{}:{recipient}", event.id), deliver)
            .await
    }

    /// `once` for any occasion named by `marker`.
    async fn once_for(
        &self,
        marker: &str,
        deliver: impl Future<Output = Result<(), ServiceError>>,
    ) -> Result<bool, ServiceError> {
        if self.store.notified(marker).await? {
            return Ok(false);
        }
        deliver.await?;
        self.store.mark_notified(marker, self.clock.now()).await?;
        Ok(true)
    }

    async fn text(&self, phone: &str, text: &str) -> Result<(), ServiceError> {
        self.sns
            .publish()
            .phone_number(phone)
            .message(text)
            .send()
            .await
            .map_err(|e| StoreError::request("Publish", e))?;
        Ok(())
    }

    async fn send(&self, email: &Email, tag: &str) -> Result<(), ServiceError> {
        let boundary = format!("part-{tag}");
        let raw = email.raw(&self.mail_from, self.clock.now(), &boundary);
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
