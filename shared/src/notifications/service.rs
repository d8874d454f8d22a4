//! Sends the emails a domain event calls for, each party in their own words, zone and amounts,
//! with the calendar invite attached. At least once per event: a recipient already sent to for
//! this event is skipped, so a retried batch sends only what had not gone out.

use std::sync::Arc;

use aws_sdk_ses::primitives::Blob;
use aws_sdk_ses::types::RawMessage;

use super::email::Email;
use super::ics::Method;
use super::payment_alerts::{self, AlertedBooking, PaymentAlert};
use super::templates::{self, CalendarAlert, Session};
use crate::booking::{BookingService, Role};
use crate::calendar::connection::CalendarConnection;
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::events::{DomainEvent, EventKind};
use crate::store::StoreError;
use crate::store::dynamo::DynamoStore;

/// Who is written to, from where, and where they are sent to act.
#[derive(Clone, Debug)]
pub struct Correspondence {
    pub mail_from: String,
    /// The operators' address for payment incidents and disputes (`OPERATIONS_EMAIL`).
    pub operations: Option<String>,
    /// The frontend, for links in emails.
    pub frontend_url: String,
}

#[derive(Clone)]
pub struct NotificationService {
    store: DynamoStore,
    bookings: BookingService,
    ses: aws_sdk_ses::Client,
    sns: aws_sdk_sns::Client,
    correspondence: Correspondence,
    clock: Arc<dyn Clock>,
}

impl NotificationService {
    pub fn new(
        store: DynamoStore,
        bookings: BookingService,
        (ses, sns): (aws_sdk_ses::Client, aws_sdk_sns::Client),
        correspondence: Correspondence,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            bookings,
            ses,
            sns,
            correspondence,
            clock,
        }
    }

    /// Emails for `event`; returns how many went out now.
    pub async fn handle(&self, event: &DomainEvent) -> Result<usize, ServiceError> {
        match event.kind {
            EventKind::MessagePosted => return self.message_posted(event).await,
            EventKind::PaymentIncident | EventKind::PaymentDisputed | EventKind::DisputeClosed => {
                return self.payment_alert(event).await;
            }
            EventKind::PayoutsRestricted => return self.payouts_restricted(event).await,
            _ => {}
        }
        let Some(headline) = templates::headline(event.kind) else {
            return Ok(0);
        };
        let Some(appointment) = self.appointment_of(event).await? else {
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
        let Some(appointment) = self.appointment_of(event).await? else {
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

    /// The appointment an event is about, if it names one that still exists.
    async fn appointment_of(
        &self,
        event: &DomainEvent,
    ) -> Result<Option<crate::booking::Appointment>, ServiceError> {
        match event.appointment_id {
            Some(id) => Ok(self.store.appointment(id).await?),
            None => Ok(None),
        }
    }

    /// A booking's payment went wrong (cancelled at Stripe, disputed, dispute closed): the
    /// expert and the operators are told, each once.
    async fn payment_alert(&self, event: &DomainEvent) -> Result<usize, ServiceError> {
        let Some(appointment) = self.appointment_of(event).await? else {
            return Ok(0);
        };
        let alert = match (
            event.kind,
            &appointment.payment_incident,
            &appointment.dispute,
        ) {
            (EventKind::PaymentIncident, Some(incident), _) => PaymentAlert::Incident(incident),
            (EventKind::PaymentDisputed, _, Some(dispute)) => PaymentAlert::Disputed(dispute),
            (EventKind::DisputeClosed, _, Some(dispute)) => PaymentAlert::DisputeClosed(dispute),
            _ => return Ok(0),
        };
        let parties = self.bookings.parties(&appointment).await?;
        let booking = AlertedBooking {
            id: appointment.id,
            start: appointment.start,
            price: appointment.price,
            payment_intent: appointment.payment_intent.as_deref(),
        };
        if self.correspondence.operations.is_none() {
            tracing::warn!(
                event_id = event.id,
                "no OPERATIONS_EMAIL: the operators are not told of this payment alert"
            );
        }
        let readers = [
            (
                "expert",
                parties.expert.email.as_deref(),
                payment_alerts::expert_alert_email as payment_alerts::AlertTemplate,
            ),
            (
                "operations",
                self.correspondence.operations.as_deref(),
                payment_alerts::operations_alert_email,
            ),
        ];
        let mut sent = 0;
        for (recipient, address, template) in readers {
            if let Some(address) = address {
                let email = template(alert, &booking, &parties.expert, &parties.client, address);
                sent += usize::from(
                    self.once(event, recipient, self.send(&email, &event.id))
                        .await?,
                );
            }
        }
        Ok(sent)
    }

    /// Stripe stopped the expert's account taking charges: they are told what it wants and
    /// where to continue.
    async fn payouts_restricted(&self, event: &DomainEvent) -> Result<usize, ServiceError> {
        let Some((profile, address)) = self.expert_with_address(event.expert_id).await? else {
            return Ok(0);
        };
        let base = self.correspondence.frontend_url.trim_end_matches('/');
        let email = payment_alerts::payouts_restricted_email(
            &profile.display_name,
            &profile.payouts.past_due,
            &format!("{base}/payouts/refresh"),
            &address,
        );
        let sent = self
            .once(event, "expert", self.send(&email, &event.id))
            .await?;
        Ok(usize::from(sent))
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
        let from = &self.correspondence.mail_from;
        let raw = email.raw(from, self.clock.now(), &boundary);
        self.ses
            .send_raw_email()
            .source(from)
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
