//! Domain events: what happened to an appointment, written to an outbox in the same DynamoDB
//! transaction as the change itself, then relayed to the EventBridge bus at least once
//! (`events::relay`). A crash between the write and the publish loses nothing; a relay that
//! runs twice publishes twice, so consumers dedupe by event id.

mod relay;

pub use relay::{EventRelay, RelayReport};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::booking::{Appointment, Role};
use crate::ids::{AppointmentId, ExpertId};

/// The EventBridge `source` of every event we publish.
pub const SOURCE: &str = "expert-marketplace.booking";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "booking.confirmed")]
    BookingConfirmed,
    #[serde(rename = "booking.cancelled")]
    BookingCancelled,
    #[serde(rename = "booking.expired")]
    BookingExpired,
    #[serde(rename = "booking.rescheduled")]
    BookingRescheduled,
    #[serde(rename = "booking.completed")]
    BookingCompleted,
    #[serde(rename = "message.posted")]
    MessagePosted,
    #[serde(rename = "review.posted")]
    ReviewPosted,
    #[serde(rename = "booking.reminder_24h")]
    Reminder24h,
    #[serde(rename = "booking.reminder_1h")]
    Reminder1h,
    /// Stripe cancelled a confirmed booking's payment (a lapsed authorisation).
    #[serde(rename = "payment.incident")]
    PaymentIncident,
    /// The client's bank disputes a booking's charge.
    #[serde(rename = "payment.disputed")]
    PaymentDisputed,
    #[serde(rename = "payment.dispute_closed")]
    DisputeClosed,
    /// Stripe stopped an expert's charges until they provide what it asks for.
    #[serde(rename = "payouts.restricted")]
    PayoutsRestricted,
}

impl EventKind {
    /// The EventBridge `detail-type`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::BookingConfirmed => "booking.confirmed",
            EventKind::BookingCancelled => "booking.cancelled",
            EventKind::BookingExpired => "booking.expired",
            EventKind::BookingRescheduled => "booking.rescheduled",
            EventKind::BookingCompleted => "booking.completed",
            EventKind::MessagePosted => "message.posted",
            EventKind::ReviewPosted => "review.posted",
            EventKind::Reminder24h => "booking.reminder_24h",
            EventKind::Reminder1h => "booking.reminder_1h",
            EventKind::PaymentIncident => "payment.incident",
            EventKind::PaymentDisputed => "payment.disputed",
            EventKind::DisputeClosed => "payment.dispute_closed",
            EventKind::PayoutsRestricted => "payouts.restricted",
        }
    }
}

/// Version 1 of the event document; consumers read `version` first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub id: String,
    pub version: u32,
    pub kind: EventKind,
    /// The appointment it is about; absent for events about an expert alone
    /// (`payouts.restricted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_id: Option<AppointmentId>,
    pub expert_id: ExpertId,
    pub occurred_at: DateTime<Utc>,
    /// Who acted, where the event has an author (`message.posted`: `client` or `expert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Role>,
}

impl DomainEvent {
    pub fn about(kind: EventKind, appointment: &Appointment, now: DateTime<Utc>) -> DomainEvent {
        DomainEvent {
            id: format!("evt_{}", ulid::Ulid::new()),
            version: 1,
            kind,
            appointment_id: Some(appointment.id),
            expert_id: appointment.expert_id,
            occurred_at: now,
            actor: None,
        }
    }

    /// An event about an expert, not one of their appointments.
    pub fn about_expert(kind: EventKind, expert: ExpertId, now: DateTime<Utc>) -> DomainEvent {
        DomainEvent {
            id: format!("evt_{}", ulid::Ulid::new()),
            version: 1,
            kind,
            appointment_id: None,
            expert_id: expert,
            occurred_at: now,
            actor: None,
        }
    }

    pub fn by(self, actor: Role) -> DomainEvent {
        DomainEvent {
            actor: Some(actor),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialise_as_their_detail_types() {
        for kind in [
            EventKind::BookingConfirmed,
            EventKind::BookingCancelled,
            EventKind::BookingExpired,
            EventKind::BookingRescheduled,
            EventKind::BookingCompleted,
            EventKind::MessagePosted,
            EventKind::ReviewPosted,
            EventKind::Reminder24h,
            EventKind::Reminder1h,
            EventKind::PaymentIncident,
            EventKind::PaymentDisputed,
            EventKind::DisputeClosed,
            EventKind::PayoutsRestricted,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
    }
}
