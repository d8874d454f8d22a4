//! Booking use cases: hold a slot and start its payment, dashboards, cancel, reschedule,
//! complete, the conversation; the payment's own lifecycle is in `settlement`.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::settlement::{OnPaymentFailure, capture_timing};
use super::{
    Appointment, AppointmentPage, AppointmentStatus, AppointmentView, BookingInput, CancelInput,
    Cancellation, Canceller, ClaimDay, CompleteInput, Completion, DashboardInput, EarningsInput,
    EarningsLine, HOLD_AND_CAPTURE_DAYS, Message, MessageInput, MessagePage, PageInput,
    ProblemInput, ProblemReport, RescheduleInput, Review, ReviewInput, Role, Settlement,
    days_touched, encode_cursor, price, summarize,
};
use crate::accounts::AccountDraft;
use crate::auth::{Caller, Group};
use crate::availability::{AvailabilitySettings, Interval, SlotRequest, free_slots};
use crate::calendar::event::BookingEvent;
use crate::calendar::freshness::CalendarVerdict;
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::events::{DomainEvent, EventKind};
use crate::ids::AppointmentId;
use crate::money::Money;
use crate::notifications::ics::{Invite, Method};
use crate::payments::{CaptureTiming, PaymentIntentState, PaymentIntentSummary, StripeGateway};
use crate::store::StoreError;
use crate::store::dynamo::{BookOutcome, DashboardOwner, DynamoStore};
use crate::validation::ValidationErrors;

/// Reads and retries of one booking or transition before giving up.
pub(super) const ATTEMPTS: usize = 6;

/// Whether a booking may be placed over imported busy time that no read confirmed recently
/// (see `calendar::freshness`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleBusyTime {
    /// Answer `CalendarsStale`, so the caller reads those calendars first.
    ReadFirst,
    /// They were just read (or could not be): go ahead on what is stored.
    Accept,
}
/// Bookings start on a 5-minute grid: every step the slot search offers lies on it.
const BOOKING_GRID_MINUTES: u32 = 5;
/// The longest buffer, so that the one Query also reads claims that reach into the slot.
const LOOKBACK_MINUTES: i64 = crate::availability::MAX_BUFFER_MINUTES;

/// The answer to a booking: the held appointment and what the client needs to pay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Booked {
    #[serde(flatten)]
    pub appointment: Appointment,
    /// For Stripe.js `confirmCardPayment`; only the booking client ever sees it.
    pub payment_client_secret: Option<String>,
}

#[derive(Clone)]
pub struct BookingService {
    pub(super) store: DynamoStore,
    pub(super) gateway: StripeGateway,
    pub(super) clock: Arc<dyn Clock>,
    /// Meeting rooms live under this URL (Jitsi Meet by default: no account needed).
    meeting_base_url: String,
    /// The address invites and emails come from.
    mail_from: String,
}

impl BookingService {
    pub fn new(
        store: DynamoStore,
        gateway: StripeGateway,
        clock: Arc<dyn Clock>,
        meeting_base_url: String,
        mail_from: String,
    ) -> Self {
        Self {
            store,
            gateway,
            clock,
            meeting_base_url,
            mail_from,
        }
    }

    /// The caller's appointments in start order, as client (default for clients) or expert.
    pub async fn dashboard(
        &self,
        caller: &Caller,
        input: DashboardInput,
    ) -> Result<AppointmentPage, ServiceError> {
        let query = input.parse()?;
        let role = query.role.unwrap_or(if caller.is_in(Group::Clients) {
            Role::Client
        } else {
            Role::Expert
        });
        let owner = match role {
            Role::Client => DashboardOwner::Client(caller.user_id.clone()),
            Role::Expert => {
                caller.require(Group::Experts)?;
                let expert = self
                    .store
                    .expert_id_of(&caller.user_id)
                    .await?
                    .ok_or(ServiceError::ProfileRequired)?;
                DashboardOwner::Expert(expert)
            }
        };
        let zone = self.viewer_zone(caller, query.zone).await?;
        let after = match query.after {
            Some((_, id)) => self.store.appointment(id).await?,
            None => None,
        };
        let (appointments, more) = self
            .store
            .appointments_page(
                &owner,
                (query.from, query.to),
                query.status,
                after.as_ref(),
                query.limit,
            )
            .await?;
        let next_cursor = appointments.last().filter(|_| more).map(encode_cursor);
        Ok(AppointmentPage {
            appointments: appointments
                .into_iter()
                .map(|a| AppointmentView::new(a, role, zone, &self.meeting_base_url))
                .collect(),
            next_cursor,
        })
    }

    /// One appointment, for its two parties only; anyone else gets "not found", so ids reveal
    /// nothing.
    pub async fn appointment_for(
        &self,
        caller: &Caller,
        id: &str,
        zone: Option<Tz>,
    ) -> Result<AppointmentView, ServiceError> {
        let id: AppointmentId = id
            .parse()
            .map_err(|_| ServiceError::NotFound("appointment"))?;
        let appointment = self
            .store
            .appointment(id)
            .await?
            .ok_or(ServiceError::NotFound("appointment"))?;
        let own_expert = if caller.is_in(Group::Experts) {
            self.store.expert_id_of(&caller.user_id).await?
        } else {
            None
        };
        if !appointment.involves(&caller.user_id, own_expert) {
            return Err(ServiceError::NotFound("appointment"));
        }
        let role = if appointment.client == caller.user_id {
            Role::Client
        } else {
            Role::Expert
        };
        let zone = self.viewer_zone(caller, zone).await?;
        Ok(AppointmentView::new(
            appointment,
            role,
            zone,
            &self.meeting_base_url,
        ))
    }

    /// The zone asked for, else the one in the caller's account, else UTC.
    async fn viewer_zone(&self, caller: &Caller, asked: Option<Tz>) -> Result<Tz, ServiceError> {
        if let Some(zone) = asked {
            return Ok(zone);
        }
        Ok(self
            .store
            .account(&caller.user_id)
            .await?
            .and_then(|a| a.settings)
            .map_or(chrono_tz::UTC, |s| s.time_zone))
    }

    /// Holds the slot (one Query, one transaction) and creates its PaymentIntent (one Stripe
    /// call). The same Idempotency-Key again gives the same answer and holds nothing more.
    /// With `StaleBusyTime::ReadFirst`, busy time not confirmed recently is answered with
    /// `CalendarsStale` (read those calendars, then book again with `Accept`).
    pub async fn book(
        &self,
        caller: &Caller,
        idempotency_key: Option<&str>,
        input: BookingInput,
        stale: StaleBusyTime,
    ) -> Result<Booked, ServiceError> {
        caller.require(Group::Clients)?;
        let key = idempotency_key
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()))
            .ok_or_else(|| {
                ServiceError::Invalid(ValidationErrors::single(
                    "",
                    "an Idempotency-Key header (1-255 printable characters) is required",
                ))
            })?;
        let request = input.parse()?;
        let fingerprint = format!(
            "{}|{}|{}|{}",
            request.expert_id,
            request.start.timestamp(),
            request.duration_minutes,
            request.notes
        );
        for _ in 0..ATTEMPTS {
            let now = self.clock.now();
            let schedule = self
                .store
                .expert_schedule(
                    request.expert_id,
                    request.start - Duration::minutes(LOOKBACK_MINUTES),
                    now,
                )
                .await?
                .ok_or(ServiceError::NotFound("expert"))?;
            match schedule.calendar_verdict(now) {
                CalendarVerdict::Unreadable => return Err(ServiceError::CalendarUnreadable),
                CalendarVerdict::Stale(connections) if stale == StaleBusyTime::ReadFirst => {
                    return Err(ServiceError::CalendarsStale {
                        expert: request.expert_id,
                        connections,
                    });
                }
                CalendarVerdict::Fresh | CalendarVerdict::Stale(_) => {}
            }
            let settings = schedule
                .settings
                .as_ref()
                .filter(|_| schedule.profile.is_bookable(schedule.settings.as_ref()));
            let (Some(settings), Some(destination)) =
                (settings, schedule.profile.stripe_account.clone())
            else {
                return Err(ServiceError::NotBookable);
            };
            if !settings.slot_durations.contains(&request.duration_minutes) {
                return Err(ServiceError::Invalid(ValidationErrors::single(
                    "/duration_minutes",
                    format!("this expert offers {:?} minutes", settings.slot_durations),
                )));
            }
            let free = free_slots(
                schedule.profile.time_zone,
                settings,
                &schedule.busy,
                &SlotRequest {
                    from: request.start,
                    to: request.start + Duration::seconds(1),
                    duration_minutes: request.duration_minutes,
                    step_minutes: BOOKING_GRID_MINUTES,
                    now,
                },
            );
            if free.first().map(|s| s.start) != Some(request.start) {
                return match self.store.idempotent_booking(&caller.user_id, key).await? {
                    Some(_) => self.replay(caller, key, &fingerprint).await,
                    None => Err(ServiceError::SlotUnavailable),
                };
            }
            let price =
                price(schedule.profile.hourly_rate, request.duration_minutes).map_err(|e| {
                    ServiceError::Invalid(ValidationErrors::single(
                        "/duration_minutes",
                        e.to_string(),
                    ))
                })?;
            let appointment = Appointment::hold(
                &request,
                caller.user_id.clone(),
                caller.email.clone(),
                settings,
                price,
                destination,
                now,
            );
            let occupancy = appointment.occupancy;
            let days = claim_lists(&schedule.claim_days, &appointment, now);
            if days
                .iter()
                .any(|d| d.clashes(&occupancy, appointment.id, now))
            {
                return Err(ServiceError::SlotUnavailable);
            }
            match self
                .store
                .book(&appointment, key, &fingerprint, &days)
                .await?
            {
                BookOutcome::DayChanged => continue,
                BookOutcome::KeyUsed => return self.replay(caller, key, &fingerprint).await,
                BookOutcome::Booked => {
                    tracing::info!(appointment_id = %appointment.id, "slot held");
                    return self
                        .start_payment(appointment, OnPaymentFailure::ReleaseHold)
                        .await;
                }
            }
        }
        Err(StoreError::Contention("booking".into()).into())
    }

    /// A booking sent again with the same Idempotency-Key: the same appointment, and the same
    /// PaymentIntent (the one stored on it; or, while the first request is still creating it,
    /// the answer Stripe keeps for our key).
    async fn replay(
        &self,
        caller: &Caller,
        key: &str,
        fingerprint: &str,
    ) -> Result<Booked, ServiceError> {
        let (id, seen) = self
            .store
            .idempotent_booking(&caller.user_id, key)
            .await?
            .ok_or_else(|| {
                ServiceError::from(StoreError::corrupt(key, "idempotency record vanished"))
            })?;
        if seen != fingerprint {
            return Err(ServiceError::IdempotencyKeyReused);
        }
        let appointment = self.store.appointment(id).await?.ok_or_else(|| {
            ServiceError::from(StoreError::corrupt(
                id.to_string(),
                "booked appointment missing",
            ))
        })?;
        if appointment.status != AppointmentStatus::PendingPayment {
            return Ok(Booked {
                appointment,
                payment_client_secret: None,
            });
        }
        match self.current_intent(&appointment).await? {
            Some(intent) => Ok(Booked {
                appointment,
                payment_client_secret: intent.client_secret,
            }),
            None => {
                self.start_payment(appointment, OnPaymentFailure::KeepHold)
                    .await
            }
        }
    }

    /// Cancels an appointment for one of its parties. Money follows the booking's policy
    /// (the expert cancelling always refunds in full): an authorisation is cancelled, or
    /// captured in part with the fee recomputed, never captured and then refunded; a charge
    /// is refunded with the transfer and the fee reversed in proportion. The time is released
    /// in the same transaction as the state change.
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &str,
        input: CancelInput,
    ) -> Result<AppointmentView, ServiceError> {
        let reason = input.parse()?;
        let view = self.appointment_for(caller, id, None).await?;
        let appointment = view.appointment;
        if !appointment.status.holds_time() {
            return Err(ServiceError::NotCancellable);
        }
        let by = match view.role {
            Role::Client => Canceller::Client,
            Role::Expert => Canceller::Expert,
        };
        let now = self.clock.now();
        let settlement = appointment.cancellation_policy.settle(
            appointment.price.total.amount,
            by,
            now,
            appointment.start,
        );
        let intent = self.current_intent(&appointment).await?;
        // While a dispute is open (or lost) the bank decides about the money: nothing moves.
        // The fresh read catches one opened since the last webhook.
        let intent = intent.filter(|i| appointment.money_may_move() && !i.disputed());
        let refund = match intent.as_ref().map(|i| i.state) {
            Some(PaymentIntentState::Authorized) | Some(PaymentIntentState::Captured) => {
                settlement.refund
            }
            _ => 0,
        };
        let cancellation = Cancellation {
            by,
            reason,
            refund: Money::new(refund, appointment.price.total.currency),
            at: now,
        };
        // Recorded before the money moves: the webhook our Stripe call sets off may end the
        // appointment before this request does, and must end it the same way.
        if !self
            .store
            .set_cancelling(appointment.id, appointment.status, &cancellation)
            .await?
        {
            return Err(ServiceError::NotCancellable);
        }
        if let Err(error) = self.settle(intent.as_ref(), &settlement).await {
            self.store
                .withdraw_cancelling(appointment.id, appointment.status, &cancellation)
                .await?;
            return Err(error);
        }
        self.transition_with(
            appointment.id,
            AppointmentStatus::Cancelled,
            Change {
                cancellation: Some(cancellation),
                ..Change::default()
            },
        )
        .await?;
        self.appointment_for(caller, id, None).await
    }

    /// Moves a cancelled booking's money: an authorisation is cancelled or captured in part,
    /// a charge refunded in part; nothing to do for an intent already settled.
    async fn settle(
        &self,
        intent: Option<&PaymentIntentSummary>,
        settlement: &Settlement,
    ) -> Result<(), ServiceError> {
        let Some(intent) = intent else {
            return Ok(());
        };
        match intent.state {
            PaymentIntentState::AwaitingPayment | PaymentIntentState::AwaitingAction => {
                self.gateway.cancel(&intent.id).await?;
            }
            // Stripe cannot cancel it while the card network decides; the client is told to
            // try again in a moment.
            PaymentIntentState::Processing => return Err(ServiceError::NotCancellable),
            PaymentIntentState::Authorized if settlement.kept == 0 => {
                self.gateway.cancel(&intent.id).await?;
            }
            PaymentIntentState::Authorized => {
                self.gateway
                    .capture(&intent.id, settlement.kept, settlement.fee_on_kept)
                    .await?;
            }
            PaymentIntentState::Captured if settlement.refund > 0 => {
                self.gateway
                    .refund(&intent.id, Some(settlement.refund))
                    .await?;
            }
            PaymentIntentState::Captured | PaymentIntentState::Canceled => {}
        }
        Ok(())
    }

    /// Moves an appointment to another free start, same duration: the new time is claimed
    /// and the old one released in one transaction, or nothing changes (409). The client may
    /// move it while a cancellation would still be refunded in full; the expert until it
    /// starts. The payment stays; an authorisation must not outlive its card, so a held
    /// payment cannot move beyond six days after booking.
    pub async fn reschedule(
        &self,
        caller: &Caller,
        id: &str,
        input: RescheduleInput,
    ) -> Result<AppointmentView, ServiceError> {
        let new_start = input.parse()?;
        for _ in 0..ATTEMPTS {
            let view = self.appointment_for(caller, id, None).await?;
            let appointment = view.appointment;
            let now = self.clock.now();
            if !appointment.status.holds_time() {
                return Err(ServiceError::NotReschedulable(
                    "only a booked session can be moved",
                ));
            }
            let client_deadline = appointment.start
                - Duration::hours(appointment.cancellation_policy.full_refund_hours.into());
            match view.role {
                Role::Client if now > client_deadline => {
                    return Err(ServiceError::NotReschedulable(
                        "too close to the session: clients may move it while a cancellation is fully refunded",
                    ));
                }
                Role::Expert if now >= appointment.start => {
                    return Err(ServiceError::NotReschedulable("the session has started"));
                }
                _ => {}
            }
            if capture_timing(&appointment) == CaptureTiming::AfterSession
                && new_start - appointment.created_at > Duration::days(HOLD_AND_CAPTURE_DAYS)
            {
                return Err(ServiceError::NotReschedulable(
                    "the card authorisation would lapse before that date; cancel and book again",
                ));
            }
            let schedule = self
                .store
                .expert_schedule(
                    appointment.expert_id,
                    new_start - Duration::minutes(LOOKBACK_MINUTES),
                    now,
                )
                .await?
                .ok_or(ServiceError::NotFound("expert"))?;
            let settings = schedule
                .settings
                .clone()
                .unwrap_or_else(AvailabilitySettings::closed);
            let mut moved = appointment.moved_to(new_start);
            moved.revision += 1;
            // The slot is checked against everything but this appointment's own claim.
            let mut busy = schedule.external_busy.clone();
            busy.extend(schedule.claim_days.iter().flat_map(|d| {
                d.claims
                    .iter()
                    .filter(|c| c.appointment_id != appointment.id && c.is_live(now))
                    .map(|c| Interval {
                        start: c.start,
                        end: c.end,
                    })
            }));
            let free = free_slots(
                schedule.profile.time_zone,
                &settings,
                &busy,
                &SlotRequest {
                    from: new_start,
                    to: new_start + Duration::seconds(1),
                    duration_minutes: appointment.duration_minutes,
                    step_minutes: BOOKING_GRID_MINUTES,
                    now,
                },
            );
            if free.first().map(|s| s.start) != Some(new_start) {
                return Err(ServiceError::SlotUnavailable);
            }
            let mut dates = days_touched(&appointment.occupancy);
            dates.extend(days_touched(&moved.occupancy));
            dates.sort_unstable();
            dates.dedup();
            let new_dates = days_touched(&moved.occupancy);
            let days = self.store.claim_days(appointment.expert_id, &dates).await?;
            if days
                .iter()
                .any(|d| d.clashes(&moved.occupancy, moved.id, now))
            {
                return Err(ServiceError::SlotUnavailable);
            }
            let rewritten: Vec<ClaimDay> = days
                .iter()
                .map(|d| {
                    let claim = new_dates.contains(&d.date).then(|| moved.claim());
                    d.with(moved.id, claim, now)
                })
                .collect();
            if self
                .store
                .transition(
                    &moved,
                    appointment.status,
                    &rewritten,
                    &DomainEvent::about(EventKind::BookingRescheduled, &moved, now),
                )
                .await?
            {
                tracing::info!(appointment_id = %moved.id, "appointment rescheduled");
                return self.appointment_for(caller, id, None).await;
            }
        }
        Err(StoreError::Contention(id.to_owned()).into())
    }

    /// The expert's earnings for sessions starting in `[from, to)`, by currency, from the
    /// payment records (one gsi2 Query per 100 appointments, one BatchGetItem per 100 records).
    pub async fn earnings(
        &self,
        caller: &Caller,
        input: EarningsInput,
    ) -> Result<Vec<EarningsLine>, ServiceError> {
        caller.require(Group::Experts)?;
        let (from, to) = input.parse()?;
        let expert = self
            .store
            .expert_id_of(&caller.user_id)
            .await?
            .ok_or(ServiceError::ProfileRequired)?;
        let owner = DashboardOwner::Expert(expert);
        let mut appointments = Vec::new();
        let mut after: Option<Appointment> = None;
        loop {
            let (page, more) = self
                .store
                .appointments_page(&owner, (from, to), None, after.as_ref(), 100)
                .await?;
            after = page.last().cloned();
            appointments.extend(page);
            if !more || after.is_none() {
                break;
            }
        }
        let ids: Vec<AppointmentId> = appointments.iter().map(|a| a.id).collect();
        let records = self.store.payment_records(&ids).await?;
        Ok(summarize(appointments.iter().filter_map(|a| {
            records
                .get(&a.id)
                .map(|record| (a.price.total.currency, record.clone()))
        })))
    }

    /// The platform's totals for sessions starting in `[from, to)`, all experts, by currency
    /// (admins only): one gsi3 Query per month of the window.
    pub async fn platform_report(
        &self,
        caller: &Caller,
        input: EarningsInput,
    ) -> Result<Vec<EarningsLine>, ServiceError> {
        caller.require(Group::Admins)?;
        let (from, to) = match input.parse()? {
            (Some(from), Some(to)) if to - from <= Duration::days(366) => (from, to),
            _ => {
                return Err(ServiceError::Invalid(ValidationErrors::single(
                    "/to",
                    "the platform report needs from and to, at most 366 days apart",
                )));
            }
        };
        let mut records = Vec::new();
        let mut month = from.date_naive().with_day(1).unwrap_or(from.date_naive());
        while month <= to.date_naive() {
            records.extend(
                self.store
                    .payments_of_month(&month.format("%Y-%m").to_string(), from, to)
                    .await?,
            );
            month = month
                .checked_add_months(chrono::Months::new(1))
                .ok_or_else(|| {
                    ServiceError::Invalid(ValidationErrors::single("/to", "out of range"))
                })?;
        }
        Ok(summarize(
            records
                .into_iter()
                .filter_map(|r| r.currency.map(|currency| (currency, r))),
        ))
    }

    /// The appointment's calendar invite for one of its parties: a request while it is on, a
    /// cancellation once cancelled; the same UID throughout, SEQUENCE = its revision.
    pub async fn invite(&self, caller: &Caller, id: &str) -> Result<String, ServiceError> {
        let view = self
            .appointment_for(caller, id, Some(chrono_tz::UTC))
            .await?;
        self.invite_details(&view.appointment)
            .await?
            .map(|details| details.calendar)
            .ok_or(ServiceError::NotFound(
                "invite (the booking is not confirmed)",
            ))
    }

    /// The two parties of an appointment: names, addresses (the client's from the booking),
    /// zones.
    pub async fn parties(&self, appointment: &Appointment) -> Result<Parties, ServiceError> {
        let expert = self
            .store
            .profile(appointment.expert_id)
            .await?
            .ok_or(ServiceError::NotFound("expert"))?;
        let client = self.store.account(&appointment.client).await?;
        let expert_account = self.store.account(&expert.owner).await?;
        let client_settings = client.as_ref().and_then(|a| a.settings.clone());
        Ok(Parties {
            client: Party {
                name: client_settings
                    .as_ref()
                    .map_or_else(|| "Client".to_owned(), |s| s.display_name.clone()),
                email: appointment
                    .client_email
                    .clone()
                    .or_else(|| client.as_ref().and_then(|a| a.email.clone())),
                zone: client_settings
                    .as_ref()
                    .map_or(chrono_tz::UTC, |s| s.time_zone),
                sms: client_settings.as_ref().and_then(AccountDraft::sms_number),
            },
            expert: Party {
                name: expert.display_name.clone(),
                email: expert_account.as_ref().and_then(|a| a.email.clone()),
                zone: expert.time_zone,
                sms: expert_account
                    .as_ref()
                    .and_then(|a| a.settings.as_ref())
                    .and_then(AccountDraft::sms_number),
            },
        })
    }

    /// The invite and the two parties it is for (names, addresses, zones); `None` while the
    /// booking is not confirmed (or has expired).
    pub async fn invite_details(
        &self,
        appointment: &Appointment,
    ) -> Result<Option<InviteDetails>, ServiceError> {
        let method = match appointment.status {
            AppointmentStatus::Confirmed | AppointmentStatus::Completed => Method::Request,
            AppointmentStatus::Cancelled => Method::Cancel,
            AppointmentStatus::PendingPayment | AppointmentStatus::Expired => return Ok(None),
        };
        let Parties {
            client: client_party,
            expert: expert_party,
        } = self.parties(appointment).await?;
        let attendees: Vec<(&str, &str)> = [&client_party, &expert_party]
            .iter()
            .filter_map(|p| p.email.as_deref().map(|email| (p.name.as_str(), email)))
            .collect();
        let summary = format!(
            "Consultation: {} with {}",
            expert_party.name, client_party.name
        );
        let meeting_url = appointment.meeting_url(&self.meeting_base_url);
        let description = match &meeting_url {
            Some(link) => format!("Join: {link}\n\n{}", appointment.notes),
            None => appointment.notes.clone(),
        };
        let calendar = self
            .event_of(
                appointment,
                method,
                (&summary, &description),
                meeting_url.as_deref(),
                &attendees,
            )
            .render();
        Ok(Some(InviteDetails {
            method,
            calendar,
            client: client_party,
            expert: expert_party,
            meeting_url,
        }))
    }

    /// The booking as an event in the expert's own calendar: the title, the client's name,
    /// the meeting link and the times in UTC; no payment data and no notes.
    pub async fn calendar_event(
        &self,
        appointment: &Appointment,
    ) -> Result<BookingEvent, ServiceError> {
        let client = self.parties(appointment).await?.client;
        let summary = format!("Consultation with {}", client.name);
        let meeting_url = appointment.meeting_url(&self.meeting_base_url);
        let description = match &meeting_url {
            Some(link) => format!("Client: {}\nJoin: {link}", client.name),
            None => format!("Client: {}", client.name),
        };
        let ics = self
            .event_of(
                appointment,
                Method::Request,
                (&summary, &description),
                meeting_url.as_deref(),
                &[],
            )
            .render_stored();
        Ok(BookingEvent {
            appointment_id: appointment.id,
            sequence: appointment.revision,
            summary,
            description,
            meeting_url,
            start: appointment.start,
            end: appointment.end,
            ics,
        })
    }

    /// The appointment as an iCalendar event: its UID, revision and times, with `text`
    /// (summary, description).
    fn event_of<'a>(
        &'a self,
        appointment: &Appointment,
        method: Method,
        text: (&'a str, &'a str),
        location: Option<&'a str>,
        attendees: &'a [(&'a str, &'a str)],
    ) -> Invite<'a> {
        Invite {
            method,
            appointment: appointment.id,
            sequence: appointment.revision,
            start: appointment.start,
            end: appointment.end,
            summary: text.0,
            description: text.1,
            location,
            organizer: ("Expert Marketplace", &self.mail_from),
            attendees,
            now: self.clock.now(),
        }
    }

    /// A message from one party to the other about this appointment.
    pub async fn post_message(
        &self,
        caller: &Caller,
        id: &str,
        input: MessageInput,
    ) -> Result<Message, ServiceError> {
        let body = input.parse()?;
        let view = self
            .appointment_for(caller, id, Some(chrono_tz::UTC))
            .await?;
        let message = Message {
            id: ulid::Ulid::new().to_string(),
            appointment_id: view.appointment.id,
            author: view.role,
            body,
            created_at: self.clock.now(),
        };
        let event = DomainEvent::about(
            EventKind::MessagePosted,
            &view.appointment,
            message.created_at,
        )
        .by(view.role);
        self.store.add_message(&message, &event).await?;
        Ok(message)
    }

    /// The conversation, oldest first.
    pub async fn messages(
        &self,
        caller: &Caller,
        id: &str,
        page: PageInput,
    ) -> Result<MessagePage, ServiceError> {
        let (limit, after) = page.parse()?;
        let view = self
            .appointment_for(caller, id, Some(chrono_tz::UTC))
            .await?;
        let (messages, more) = self
            .store
            .messages(view.appointment.id, after.as_deref(), limit)
            .await?;
        let next_cursor = messages.last().filter(|_| more).map(|m| m.id.clone());
        Ok(MessagePage {
            messages,
            next_cursor,
        })
    }

    /// The client reviews a completed session, once; the expert's rating follows atomically.
    pub async fn review(
        &self,
        caller: &Caller,
        id: &str,
        input: ReviewInput,
    ) -> Result<Review, ServiceError> {
        let (rating, comment) = input.parse()?;
        let view = self
            .appointment_for(caller, id, Some(chrono_tz::UTC))
            .await?;
        if view.role != Role::Client {
            return Err(ServiceError::Forbidden(
                "only the client reviews a session".into(),
            ));
        }
        if view.appointment.status != AppointmentStatus::Completed {
            return Err(ServiceError::NotReviewable(
                "only a completed session can be reviewed",
            ));
        }
        let author_name = self
            .store
            .account(&caller.user_id)
            .await?
            .and_then(|a| a.settings)
            .map(|s| s.display_name);
        let review = Review {
            appointment_id: view.appointment.id,
            expert_id: view.appointment.expert_id,
            rating,
            comment,
            author_name,
            created_at: self.clock.now(),
        };
        let event = DomainEvent::about(
            EventKind::ReviewPosted,
            &view.appointment,
            review.created_at,
        );
        if self.store.add_review(&review, &event).await? {
            Ok(review)
        } else {
            Err(ServiceError::NotReviewable(
                "this session has been reviewed already",
            ))
        }
    }

    /// The client reports a problem with a session that has started: it will not complete
    /// (nor capture) by itself; the expert, or support, decides.
    pub async fn report_problem(
        &self,
        caller: &Caller,
        id: &str,
        input: ProblemInput,
    ) -> Result<AppointmentView, ServiceError> {
        let description = input.parse()?;
        let view = self.appointment_for(caller, id, None).await?;
        if view.role != Role::Client {
            return Err(ServiceError::Forbidden(
                "only the client reports a problem".into(),
            ));
        }
        let now = self.clock.now();
        if now < view.appointment.start {
            return Err(ServiceError::ProblemNotAccepted(
                "the session has not started; message the expert or cancel",
            ));
        }
        let reported = Appointment {
            problem: Some(ProblemReport {
                description,
                at: now,
            }),
            ..view.appointment
        };
        if !self.store.report_problem(&reported).await? {
            return Err(ServiceError::ProblemNotAccepted(
                "only a confirmed session, once, can have a problem reported",
            ));
        }
        self.appointment_for(caller, id, None).await
    }

    /// The expert marks a session done (from its scheduled start), optionally reporting that
    /// the client did not show up; the payment is captured.
    pub async fn complete(
        &self,
        caller: &Caller,
        id: &str,
        input: CompleteInput,
    ) -> Result<AppointmentView, ServiceError> {
        let view = self.appointment_for(caller, id, None).await?;
        if view.role != Role::Expert {
            return Err(ServiceError::Forbidden(
                "only the expert marks a session complete".into(),
            ));
        }
        let now = self.clock.now();
        let appointment = view.appointment;
        if appointment.status != AppointmentStatus::Confirmed {
            return Err(ServiceError::NotCompletable(
                "only a confirmed session can be completed",
            ));
        }
        if now < appointment.start {
            return Err(ServiceError::NotCompletable(
                "a session can be completed from its start",
            ));
        }
        let completion = Completion {
            automatic: false,
            client_no_show: input.client_no_show,
            at: now,
        };
        self.finish(appointment, completion).await?;
        self.appointment_for(caller, id, None).await
    }

    /// Moves an appointment to `target`, rewriting its claims (permanent when confirmed, gone
    /// when cancelled), retried while other writers win.
    pub(super) async fn move_to(
        &self,
        id: AppointmentId,
        target: AppointmentStatus,
    ) -> Result<(), ServiceError> {
        self.transition_with(id, target, Change::default())
            .await
            .map(drop)
    }

    /// `move_to`, recording `change` with the state change; answers whether this call moved
    /// it.
    pub(super) async fn transition_with(
        &self,
        id: AppointmentId,
        target: AppointmentStatus,
        change: Change,
    ) -> Result<bool, ServiceError> {
        let Change {
            cancellation,
            completion,
            capture_deadline,
        } = change;
        for _ in 0..ATTEMPTS {
            let now = self.clock.now();
            let Some(mut appointment) = self.store.appointment(id).await? else {
                tracing::warn!(appointment_id = %id, "no such appointment to move");
                return Ok(false);
            };
            let from = appointment.status;
            // A party's cancellation in progress decides how the appointment ends, whoever
            // writes the end.
            let (target, cancellation) = match &appointment.cancelling {
                Some(pending)
                    if cancellation.is_none()
                        && matches!(
                            target,
                            AppointmentStatus::Cancelled | AppointmentStatus::Expired
                        ) =>
                {
                    (AppointmentStatus::Cancelled, Some(pending.clone()))
                }
                _ => (target, cancellation.clone()),
            };
            if target == AppointmentStatus::Cancelled {
                appointment.cancelling = None;
            }
            let allowed = match target {
                AppointmentStatus::Confirmed | AppointmentStatus::Expired => {
                    from == AppointmentStatus::PendingPayment
                }
                AppointmentStatus::Cancelled => from.holds_time(),
                AppointmentStatus::Completed => from == AppointmentStatus::Confirmed,
                _ => false,
            };
            if !allowed {
                return Ok(false);
            }
            appointment.status = target;
            if target == AppointmentStatus::Cancelled {
                appointment.revision += 1;
            }
            if capture_deadline.is_some() {
                appointment.capture_deadline = capture_deadline;
            }
            if cancellation.is_some() {
                appointment.cancellation = cancellation;
            }
            if completion.is_some() {
                appointment.completion = completion.clone();
            }
            let dates = days_touched(&appointment.occupancy);
            let days = self.store.claim_days(appointment.expert_id, &dates).await?;
            if target == AppointmentStatus::Confirmed
                && days
                    .iter()
                    .any(|d| d.clashes(&appointment.occupancy, id, now))
            {
                // The hold lapsed and someone else took the time before the payment arrived.
                tracing::warn!(appointment_id = %id, "payment arrived after the slot was lost");
                appointment.status = AppointmentStatus::Cancelled;
            }
            let claim = appointment.status.holds_time().then(|| appointment.claim());
            let rewritten: Vec<ClaimDay> = days
                .iter()
                .map(|d| d.with(id, claim.clone(), now))
                .collect();
            if self
                .store
                .transition(
                    &appointment,
                    from,
                    &rewritten,
                    &DomainEvent::about(event_kind(appointment.status), &appointment, now),
                )
                .await?
            {
                tracing::info!(appointment_id = %id, status = ?appointment.status, "appointment moved");
                if target == AppointmentStatus::Confirmed
                    && appointment.status == AppointmentStatus::Cancelled
                    && let Some(intent) = &appointment.payment_intent
                {
                    self.give_back(intent).await?;
                }
                return Ok(true);
            }
        }
        Err(StoreError::Contention(id.to_string()).into())
    }
}

/// What a status change records besides the status.
#[derive(Clone, Debug, Default)]
pub(super) struct Change {
    pub cancellation: Option<Cancellation>,
    pub completion: Option<Completion>,
    /// Set when a payment is confirmed as an authorisation.
    pub capture_deadline: Option<DateTime<Utc>>,
}

/// One of the two parties, as an invite and an email address them.
#[derive(Clone, Debug, PartialEq)]
pub struct Party {
    pub name: String,
    pub email: Option<String>,
    pub zone: Tz,
    /// The phone number, when they opted in to SMS reminders.
    pub sms: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Parties {
    pub client: Party,
    pub expert: Party,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InviteDetails {
    pub method: Method,
    pub calendar: String,
    pub client: Party,
    pub expert: Party,
    pub meeting_url: Option<String>,
}

/// The event a status change announces. (`pending_payment` is never a transition's target:
/// bookings start there.)
fn event_kind(status: AppointmentStatus) -> EventKind {
    match status {
        AppointmentStatus::Confirmed | AppointmentStatus::PendingPayment => {
            EventKind::BookingConfirmed
        }
        AppointmentStatus::Cancelled => EventKind::BookingCancelled,
        AppointmentStatus::Expired => EventKind::BookingExpired,
        AppointmentStatus::Completed => EventKind::BookingCompleted,
    }
}

/// The claim lists the booking writes: every day its occupancy touches, read versions kept,
/// lapsed holds dropped, this appointment's claim added.
fn claim_lists(read: &[ClaimDay], appointment: &Appointment, now: DateTime<Utc>) -> Vec<ClaimDay> {
    days_touched(&appointment.occupancy)
        .into_iter()
        .map(|date| {
            read.iter()
                .find(|d| d.date == date)
                .cloned()
                .unwrap_or_else(|| ClaimDay::empty(date))
                .with(appointment.id, Some(appointment.claim()), now)
        })
        .collect()
}
