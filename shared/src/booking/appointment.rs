//! The appointment: the request as a client sends it, the record it becomes, and the states it
//! moves through. Transitions are pure; the store applies each one conditionally on the state
//! it was computed from.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::policy::{CancellationPolicy, Canceller};
use super::pricing::Price;
use crate::availability::{AvailabilitySettings, Interval};
use crate::ids::{AppointmentId, ExpertId, UserId};
use crate::money::Money;
use crate::validation::{self, ValidationErrors};

/// How long an unpaid booking holds its time.
pub const HOLD_MINUTES: i64 = 15;
/// Sessions starting within this many days of booking are authorised and captured after the
/// session; later ones are charged at booking (an authorisation lapses after about 7 days).
pub const HOLD_AND_CAPTURE_DAYS: i64 = 6;
/// A confirmed session completes by itself this long after its end, unless the expert did
/// it before (or, later, the client reports a problem).
pub const AUTO_COMPLETE_HOURS: i64 = 24;
pub const MAX_NOTES_CHARS: usize = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    /// Time held, payment not yet authorised; lapses at `hold_expires_at`.
    PendingPayment,
    /// Payment authorised (seen in a verified webhook): the session will happen.
    Confirmed,
    /// The hold lapsed unpaid; the time is free again.
    Expired,
    Cancelled,
    Completed,
}

impl AppointmentStatus {
    /// Whether the appointment still owns its time.
    pub fn holds_time(self) -> bool {
        matches!(
            self,
            AppointmentStatus::PendingPayment | AppointmentStatus::Confirmed
        )
    }
}

/// `POST /v1/appointments` as sent.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BookingInput {
    pub expert_id: String,
    pub start: String,
    pub duration_minutes: i64,
    #[serde(default)]
    pub notes: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BookingRequest {
    pub expert_id: ExpertId,
    pub start: DateTime<Utc>,
    pub duration_minutes: u32,
    pub notes: String,
}

impl BookingInput {
    pub fn parse(&self) -> Result<BookingRequest, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let expert_id = self.expert_id.parse().unwrap_or_else(|_| {
            errors.add("/expert_id", "is not an expert id (exp_...)");
            ExpertId::default()
        });
        let start = DateTime::parse_from_rfc3339(&self.start)
            .map(|t| t.to_utc())
            .unwrap_or_else(|_| {
                errors.add(
                    "/start",
                    "must be an RFC 3339 instant such as 2026-12-01T09:00:00Z",
                );
                DateTime::UNIX_EPOCH
            });
        validation::in_range(
            &mut errors,
            "/duration_minutes",
            self.duration_minutes,
            1,
            24 * 60,
        );
        let notes = validation::text(&mut errors, "/notes", &self.notes, false, MAX_NOTES_CHARS);
        errors.finish(BookingRequest {
            expert_id,
            start,
            duration_minutes: u32::try_from(self.duration_minutes).unwrap_or_default(),
            notes,
        })
    }
}

impl BookingRequest {
    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::minutes(self.duration_minutes.into())
    }

    /// The time the booking takes from the expert: the session plus both buffers.
    pub fn occupancy(&self, settings: &AvailabilitySettings) -> Interval {
        Interval {
            start: self.start - Duration::minutes(settings.buffer_before_minutes.into()),
            end: self.end() + Duration::minutes(settings.buffer_after_minutes.into()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Appointment {
    pub id: AppointmentId,
    pub expert_id: ExpertId,
    #[serde(skip)]
    pub client: UserId,
    /// Where the client is reached, from their token at booking time.
    #[serde(skip)]
    pub client_email: Option<String>,
    pub status: AppointmentStatus,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub duration_minutes: u32,
    #[serde(skip)]
    pub occupancy: Interval,
    pub notes: String,
    #[serde(flatten)]
    pub price: Price,
    pub hold_expires_at: DateTime<Utc>,
    /// The Stripe PaymentIntent, stored as soon as Stripe created it: only events and reads
    /// of this very intent move the appointment.
    #[serde(skip)]
    pub payment_intent: Option<String>,
    /// The expert's connected account when booked: where the intent's money must go.
    #[serde(skip)]
    pub payment_destination: Option<String>,
    /// The last moment the authorisation can be captured (set when it is confirmed).
    #[serde(skip)]
    pub capture_deadline: Option<DateTime<Utc>>,
    /// When the held money was captured ahead of completion (its deadline came first).
    #[serde(skip)]
    pub captured_at: Option<DateTime<Utc>>,
    /// A confirmed booking whose payment Stripe cancelled: reported, never a silent
    /// cancellation.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::payment::show_incident"
    )]
    pub payment_incident: Option<super::payment::PaymentIncident>,
    /// The client's bank disputes the charge: while it is open (or lost) no money moves.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::payment::show_dispute"
    )]
    pub dispute: Option<super::payment::DisputeState>,
    /// The unguessable meeting room name (80 random bits); the link is shown to the two
    /// parties once the appointment is confirmed.
    #[serde(skip)]
    pub meeting_room: String,
    /// Charged when booked (the session was too far ahead for an authorisation to last), or
    /// authorised now and captured after the session. Decided once, at booking.
    pub charged_at_booking: bool,
    /// The expert's policy when the booking was made: it governs this booking's refunds.
    pub cancellation_policy: CancellationPolicy,
    pub cancellation: Option<Cancellation>,
    /// A party's cancellation while its money moves at Stripe. Whichever writer ends the
    /// appointment (that request, or the webhook its Stripe call sets off) records it, so the
    /// outcome does not depend on who gets there first.
    #[serde(skip)]
    pub cancelling: Option<Cancellation>,
    pub completion: Option<Completion>,
    /// Reported by the client after the session started: stops automatic completion.
    pub problem: Option<ProblemReport>,
    /// The booking's event in the expert's calendar, once written.
    #[serde(skip)]
    pub calendar_event: Option<crate::calendar::connection::WrittenEvent>,
    /// Something the expert did to that event in their calendar that needs their decision
    /// (the booking itself is never changed silently).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::calendar::connection::show_attention"
    )]
    pub calendar_attention: Option<crate::calendar::connection::CalendarAttention>,
    /// The provider's meeting link, when the expert chose Meet or Teams (or why there is
    /// none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conference: Option<crate::calendar::connection::Conference>,
    /// Raised by every change the parties' calendars must follow (move, cancel): the invite's
    /// SEQUENCE.
    #[serde(skip)]
    pub revision: u32,
    /// How many writes the stored appointment has seen: a write conditional on it holds only
    /// if nothing else was written since the read.
    #[serde(skip)]
    pub version: u64,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemReport {
    pub description: String,
    pub at: DateTime<Utc>,
}

/// `POST /v1/appointments/{id}/problem` as sent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemInput {
    pub description: String,
}

impl ProblemInput {
    pub fn parse(&self) -> Result<String, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let text = validation::text(&mut errors, "/description", &self.description, true, 2_000);
        errors.finish(text)
    }
}

/// How a session ended: marked by the expert (who may report a no-show) or completed
/// automatically after `AUTO_COMPLETE_HOURS`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub automatic: bool,
    pub client_no_show: bool,
    pub at: DateTime<Utc>,
}

/// `POST /v1/appointments/{id}/reschedule` as sent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleInput {
    pub start: String,
}

impl RescheduleInput {
    pub fn parse(&self) -> Result<DateTime<Utc>, ValidationErrors> {
        DateTime::parse_from_rfc3339(&self.start)
            .map(|t| t.to_utc())
            .map_err(|_| {
                ValidationErrors::single(
                    "/start",
                    "must be an RFC 3339 instant such as 2026-12-01T09:00:00Z",
                )
            })
    }
}

/// `POST /v1/appointments/{id}/complete` as sent.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteInput {
    /// The client did not show up: the session is paid as held (no refund).
    #[serde(default)]
    pub client_no_show: bool,
}

/// What the sweep has to look at an appointment for, and from when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepDue {
    /// An unpaid hold that lapses.
    HoldExpiry(DateTime<Utc>),
    /// A confirmed session: its authorisation to capture before it lapses, or the session to
    /// complete automatically, whichever comes first.
    Session(DateTime<Utc>),
}

/// `POST /v1/appointments/{id}/cancel` as sent.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    #[serde(default)]
    pub reason: String,
}

impl CancelInput {
    pub fn parse(&self) -> Result<String, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let reason = validation::text(&mut errors, "/reason", &self.reason, false, 1_000);
        errors.finish(reason)
    }
}

/// Who cancelled, why, and what went back to the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub by: Canceller,
    pub reason: String,
    pub refund: Money,
    pub at: DateTime<Utc>,
}

impl Appointment {
    /// When the reminders sweep must act on this appointment, if ever.
    pub fn sweep_due(&self) -> Option<SweepDue> {
        match self.status {
            AppointmentStatus::PendingPayment => Some(SweepDue::HoldExpiry(self.hold_expires_at)),
            AppointmentStatus::Confirmed => {
                let completion = self
                    .problem
                    .is_none()
                    .then(|| self.end + Duration::hours(AUTO_COMPLETE_HOURS));
                [completion, self.capture_due()]
                    .into_iter()
                    .flatten()
                    .min()
                    .map(SweepDue::Session)
            }
            _ => None,
        }
    }

    /// The join link, for a confirmed or completed appointment: the provider's (Meet, Teams)
    /// once made, else the room under `base`.
    pub fn meeting_url(&self, base: &str) -> Option<String> {
        matches!(
            self.status,
            AppointmentStatus::Confirmed | AppointmentStatus::Completed
        )
        .then(
            || match self.conference.as_ref().and_then(|c| c.join_url.clone()) {
                Some(link) => link,
                None => format!(
                    "{}/expert-session-{}",
                    base.trim_end_matches('/'),
                    self.meeting_room
                ),
            },
        )
    }

    /// Whether `user` is one of the two parties (the client, or the expert behind `expert`).
    pub fn involves(&self, user: &UserId, expert: Option<ExpertId>) -> bool {
        &self.client == user || expert == Some(self.expert_id)
    }

    /// The same appointment at another start: same duration, same buffers around it.
    pub fn moved_to(&self, start: DateTime<Utc>) -> Appointment {
        let shift = start - self.start;
        Appointment {
            start,
            end: self.end + shift,
            occupancy: Interval {
                start: self.occupancy.start + shift,
                end: self.occupancy.end + shift,
            },
            ..self.clone()
        }
    }

    /// This appointment's claim: a hold until paid, then permanent.
    pub fn claim(&self) -> Claim {
        Claim {
            appointment_id: self.id,
            start: self.occupancy.start,
            end: self.occupancy.end,
            expires_at: (self.status == AppointmentStatus::PendingPayment)
                .then_some(self.hold_expires_at),
        }
    }

    pub fn hold(
        request: &BookingRequest,
        client: UserId,
        client_email: Option<String>,
        settings: &AvailabilitySettings,
        price: Price,
        destination: String,
        now: DateTime<Utc>,
    ) -> Appointment {
        let occupancy = request.occupancy(settings);
        Appointment {
            id: AppointmentId::new(),
            expert_id: request.expert_id,
            client,
            client_email,
            status: AppointmentStatus::PendingPayment,
            start: request.start,
            end: request.end(),
            duration_minutes: request.duration_minutes,
            occupancy,
            notes: request.notes.clone(),
            price,
            hold_expires_at: now + Duration::minutes(HOLD_MINUTES),
            payment_intent: None,
            payment_destination: Some(destination),
            capture_deadline: None,
            captured_at: None,
            payment_incident: None,
            dispute: None,
            meeting_room: format!("{:020x}", ulid::Ulid::new().random()),
            charged_at_booking: request.start - now > Duration::days(HOLD_AND_CAPTURE_DAYS),
            cancellation_policy: settings.cancellation_policy,
            cancellation: None,
            cancelling: None,
            calendar_event: None,
            calendar_attention: None,
            conference: None,
            completion: None,
            problem: None,
            revision: 0,
            version: 0,
            created_at: now,
        }
    }
}

/// One appointment's claim on an expert's time (its occupancy, buffers included), as kept in
/// the per-day claim lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub appointment_id: AppointmentId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Set while the appointment is an unpaid hold: the claim lapses at that instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The claims on one UTC day of one expert, with the version they were read at. Every
/// booking rewrites the lists of the days its occupancy touches under a condition on these
/// versions, so two overlapping bookings always meet on at least one list and one of them
/// fails: no double booking, whatever the concurrency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimDay {
    pub date: NaiveDate,
    pub version: u64,
    pub claims: Vec<Claim>,
}

impl ClaimDay {
    pub fn empty(date: NaiveDate) -> ClaimDay {
        ClaimDay {
            date,
            version: 0,
            claims: Vec::new(),
        }
    }

    /// Whether a live claim of another appointment overlaps `occupancy`.
    pub fn clashes(&self, occupancy: &Interval, own: AppointmentId, now: DateTime<Utc>) -> bool {
        self.claims
            .iter()
            .any(|c| c.appointment_id != own && c.is_live(now) && c.overlaps(occupancy))
    }

    /// The list with lapsed holds dropped and `own` replaced by `claim` (or removed, for None).
    pub fn with(&self, own: AppointmentId, claim: Option<Claim>, now: DateTime<Utc>) -> ClaimDay {
        let mut claims: Vec<Claim> = self
            .claims
            .iter()
            .filter(|c| c.appointment_id != own && c.is_live(now))
            .cloned()
            .collect();
        claims.extend(claim);
        claims.sort_by_key(|c| c.start);
        ClaimDay {
            date: self.date,
            version: self.version,
            claims,
        }
    }
}

/// The UTC dates an interval touches (its end is exclusive).
pub fn days_touched(interval: &Interval) -> Vec<NaiveDate> {
    let last = (interval.end - Duration::seconds(1)).date_naive();
    interval
        .start
        .date_naive()
        .iter_days()
        .take_while(|d| *d <= last)
        .collect()
}

impl Claim {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }

    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> BookingInput {
        BookingInput {
            expert_id: ExpertId::new().to_string(),
            start: "2026-12-07T09:00:00+01:00".into(),
            duration_minutes: 60,
            notes: "  About my tax return.  ".into(),
        }
    }

    #[test]
    fn a_booking_request_parses_to_utc_with_trimmed_notes() {
        let request = input().parse().unwrap();
        assert_eq!(request.start.to_rfc3339(), "2026-12-07T08:00:00+00:00");
        assert_eq!(request.notes, "About my tax return.");
        assert_eq!(request.end() - request.start, Duration::hours(1));
    }

    #[test]
    fn each_bad_field_is_named() {
        type Case = (&'static str, fn(&mut BookingInput), &'static str);
        let cases: &[Case] = &[
            ("bad expert", |i| i.expert_id = "bob".into(), "/expert_id"),
            ("bad start", |i| i.start = "monday".into(), "/start"),
            (
                "zero duration",
                |i| i.duration_minutes = 0,
                "/duration_minutes",
            ),
            ("long notes", |i| i.notes = "x".repeat(2_001), "/notes"),
        ];
        for (name, mutate, pointer) in cases {
            let mut bad = input();
            mutate(&mut bad);
            let errors = bad.parse().expect_err(name);
            assert_eq!(errors.errors()[0].pointer, *pointer, "{name}");
        }
    }

    #[test]
    fn an_occupancy_across_midnight_touches_both_days() {
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().to_utc();
        let days = |a: &str, b: &str| {
            days_touched(&Interval {
                start: at(a),
                end: at(b),
            })
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
        };
        assert_eq!(
            days("2026-12-07T23:00:00Z", "2026-12-08T00:30:00Z"),
            ["2026-12-07", "2026-12-08"]
        );
        assert_eq!(
            days("2026-12-07T23:00:00Z", "2026-12-08T00:00:00Z"),
            ["2026-12-07"]
        );
        assert_eq!(
            days("2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z"),
            ["2026-12-07"]
        );
    }

    #[test]
    fn claims_lapse_at_their_expiry_and_overlap_half_open() {
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().to_utc();
        let claim = Claim {
            appointment_id: AppointmentId::new(),
            start: at("2026-12-07T09:00:00Z"),
            end: at("2026-12-07T10:00:00Z"),
            expires_at: Some(at("2026-12-01T12:00:00Z")),
        };
        assert!(claim.is_live(at("2026-12-01T11:59:59Z")));
        assert!(!claim.is_live(at("2026-12-01T12:00:00Z")));
        let touching = Interval {
            start: at("2026-12-07T10:00:00Z"),
            end: at("2026-12-07T11:00:00Z"),
        };
        let overlapping = Interval {
            start: at("2026-12-07T09:59:00Z"),
            end: at("2026-12-07T11:00:00Z"),
        };
        assert!(!claim.overlaps(&touching));
        assert!(claim.overlaps(&overlapping));
    }
}
