//! A booking's money, from the PaymentIntent made at booking to its capture: starting the
//! payment, the sweeps (unpaid holds, captures before an authorisation lapses, automatic
//! completion, reminders), and bringing an appointment in line with what Stripe holds.
//!
//! Stripe's objects are the truth and its events only triggers: every change here starts
//! from the PaymentIntent (or dispute) read back from Stripe, and applies only when that
//! intent is the one stored on the appointment, for its amount, currency and expert.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::service::{BookingService, Change};
use super::{
    AUTO_COMPLETE_HOURS, Appointment, AppointmentStatus, Booked, Completion, DisputeState,
    ForeignPayment,
};
use crate::error::ServiceError;
use crate::events::{DomainEvent, EventKind};
use crate::ids::AppointmentId;
use crate::money::Money;
use crate::payments::{
    AuthorizationRequest, CaptureTiming, DisputeSummary, PaymentIntentState, PaymentIntentSummary,
};
use crate::store::StoreError;
use crate::store::dynamo::keys;

/// Due items looked at per sweep and kind; the schedule runs every two minutes.
const SWEEP_BATCH: i32 = 100;

/// Whether a payment that could not be started gives the hold back: only the request that
/// made the hold does (a replay of it must not end the original's booking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OnPaymentFailure {
    ReleaseHold,
    KeepHold,
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub expired: usize,
    /// Sessions completed (and captured) automatically.
    pub completed: usize,
    /// Authorisations captured ahead of completion, before they would lapse.
    pub captured: usize,
    /// Reminders fired (emailed by the notifier).
    pub reminders: usize,
    /// Holds that were in fact paid (a missed or late webhook).
    pub confirmed: usize,
    /// Items that failed; each is logged and looked at again by the next sweep.
    pub failed: usize,
}

/// What reconciling a PaymentIntent (or dispute) came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconciliation {
    Applied,
    /// Not one of ours: no appointment by that id, or not the intent it stores.
    Ignored(Option<ForeignPayment>),
}

impl BookingService {
    /// The PaymentIntent for a held appointment, its id stored before the client sees it:
    /// only that intent ever moves the appointment, and Stripe forgets our Idempotency-Key
    /// after 24 hours, so the id is never to be found again by creating it again.
    pub(super) async fn start_payment(
        &self,
        appointment: Appointment,
        on_failure: OnPaymentFailure,
    ) -> Result<Booked, ServiceError> {
        let started = async {
            let destination = appointment
                .payment_destination
                .clone()
                .ok_or(ServiceError::NotBookable)?;
            let intent = self
                .gateway
                .authorize(&authorization(&appointment, destination))
                .await?;
            if !self
                .store
                .set_payment_intent(appointment.id, &intent.id)
                .await?
            {
                return Err(ServiceError::from(StoreError::corrupt(
                    appointment.id.to_string(),
                    "another PaymentIntent is stored for this appointment",
                )));
            }
            Ok(intent)
        }
        .await;
        match started {
            Ok(intent) => Ok(Booked {
                appointment: Appointment {
                    payment_intent: Some(intent.id),
                    ..appointment
                },
                payment_client_secret: intent.client_secret,
            }),
            Err(error) => {
                if on_failure == OnPaymentFailure::ReleaseHold {
                    tracing::warn!(appointment_id = %appointment.id, error = %crate::error::chain(&error), "payment setup failed; releasing the hold");
                    self.move_to(appointment.id, AppointmentStatus::Cancelled)
                        .await?;
                }
                Err(error)
            }
        }
    }

    /// The appointment's PaymentIntent as Stripe holds it now; `None` before one was stored
    /// (its payment never started, so nobody could have paid it).
    pub(super) async fn current_intent(
        &self,
        appointment: &Appointment,
    ) -> Result<Option<PaymentIntentSummary>, ServiceError> {
        match &appointment.payment_intent {
            Some(id) => Ok(Some(self.gateway.retrieve(id).await?)),
            None => Ok(None),
        }
    }

    /// The reminders function's sweep, run on a schedule: confirmed sessions whose
    /// authorisation must be captured before it lapses or that complete themselves, due
    /// reminders, and unpaid holds whose time is up. Each item is handled on its own: one that
    /// fails is logged and found again by the next sweep; the others go ahead.
    pub async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        for id in self
            .store
            .sweep_due(keys::SESSIONS_DUE, now, SWEEP_BATCH)
            .await?
        {
            match self.sweep_session(id, now).await {
                Ok((captured, completed)) => {
                    report.captured += usize::from(captured);
                    report.completed += usize::from(completed);
                }
                Err(error) => failed(&mut report, id, "session", &error),
            }
        }
        for (id, kind) in self.store.due_reminders(now, SWEEP_BATCH).await? {
            match self.fire_reminder(id, kind, now).await {
                Ok(fired) => report.reminders += usize::from(fired),
                Err(error) => failed(&mut report, id, "reminder", &error),
            }
        }
        for id in self.store.sweep_due(keys::HOLDS, now, SWEEP_BATCH).await? {
            match self.sweep_hold(id, now).await {
                Ok(HoldSwept::Confirmed) => report.confirmed += 1,
                Ok(HoldSwept::Expired) => report.expired += 1,
                Ok(HoldSwept::Untouched) => {}
                Err(error) => failed(&mut report, id, "hold", &error),
            }
        }
        Ok(report)
    }

    /// A confirmed session due for the sweep: its authorisation is captured in full once its
    /// deadline is near (whether or not the session has happened: a captured payment can
    /// still be refunded under the policy, a lapsed one cannot be taken again), and it is
    /// completed a day after its end unless the client reported a problem. Answers (captured,
    /// completed).
    async fn sweep_session(
        &self,
        id: AppointmentId,
        now: DateTime<Utc>,
    ) -> Result<(bool, bool), ServiceError> {
        let Some(mut appointment) = self.store.appointment(id).await? else {
            return Ok((false, false));
        };
        if appointment.status != AppointmentStatus::Confirmed {
            return Ok((false, false));
        }
        let captured = appointment.capture_due().is_some_and(|due| due <= now)
            && appointment.cancelling.is_none()
            && self.capture_before_deadline(&mut appointment, now).await?;
        let completed = appointment.problem.is_none()
            && appointment.end + Duration::hours(AUTO_COMPLETE_HOURS) <= now
            && self
                .finish(
                    appointment,
                    Completion {
                        automatic: true,
                        client_no_show: false,
                        at: now,
                    },
                )
                .await?;
        Ok((captured, completed))
    }

    /// Captures a held payment in full ahead of completion, because its authorisation would
    /// lapse first.
    async fn capture_before_deadline(
        &self,
        appointment: &mut Appointment,
        now: DateTime<Utc>,
    ) -> Result<bool, ServiceError> {
        let Some(intent) = self.current_intent(appointment).await? else {
            return Ok(false);
        };
        match intent.state {
            PaymentIntentState::Authorized if appointment.money_may_move() => {
                self.capture_in_full(appointment, &intent.id).await?;
            }
            PaymentIntentState::Captured => {}
            // Too late (or cancelled at Stripe): what its webhook would have done.
            PaymentIntentState::Canceled => {
                self.reconcile_payment(&intent).await?;
                return Ok(false);
            }
            _ => return Ok(false),
        }
        appointment.captured_at = Some(now);
        self.store
            .save_payment_state(appointment, appointment.status, None)
            .await?;
        tracing::info!(appointment_id = %appointment.id, payment_intent = intent.id, "captured before the authorisation's deadline");
        Ok(true)
    }

    /// Fires a reminder once: the reminder item is removed in the transaction that writes its
    /// event, so an overlapping or repeated sweep finds nothing left to fire.
    async fn fire_reminder(
        &self,
        id: AppointmentId,
        kind: EventKind,
        now: DateTime<Utc>,
    ) -> Result<bool, ServiceError> {
        let Some(appointment) = self.store.appointment(id).await? else {
            return Ok(false);
        };
        let event = DomainEvent::about(kind, &appointment, now);
        Ok(appointment.status == AppointmentStatus::Confirmed
            && self.store.fire_reminder(id, &event).await?)
    }

    /// Ends an unpaid hold whose time is up. Its PaymentIntent is read back first, so a
    /// payment whose webhook was missed or is late confirms the booking instead of losing it;
    /// one still processing is left for the next sweep (a late success for time taken
    /// meanwhile is given back).
    async fn sweep_hold(
        &self,
        id: AppointmentId,
        now: DateTime<Utc>,
    ) -> Result<HoldSwept, ServiceError> {
        let Some(appointment) = self.store.appointment(id).await? else {
            return Ok(HoldSwept::Untouched);
        };
        if appointment.status != AppointmentStatus::PendingPayment
            || appointment.hold_expires_at > now
        {
            return Ok(HoldSwept::Untouched);
        }
        let intent = self.current_intent(&appointment).await?;
        match intent.as_ref().map(|i| i.state) {
            Some(PaymentIntentState::Authorized | PaymentIntentState::Captured) => {
                if let Some(intent) = &intent {
                    self.reconcile_payment(intent).await?;
                }
                return Ok(HoldSwept::Confirmed);
            }
            Some(PaymentIntentState::Processing) => return Ok(HoldSwept::Untouched),
            Some(PaymentIntentState::Canceled) | None => {}
            Some(PaymentIntentState::AwaitingPayment | PaymentIntentState::AwaitingAction) => {
                if let Some(intent) = &intent {
                    self.gateway.cancel(&intent.id).await?;
                }
            }
        }
        self.move_to(id, AppointmentStatus::Expired).await?;
        Ok(HoldSwept::Expired)
    }

    /// Captures what is still only authorised, then records the completion. Safe to run twice
    /// at once: the capture's Idempotency-Key makes Stripe capture once, and only one status
    /// change from `confirmed` wins. A payment Stripe cancelled is reported, and the session
    /// completes all the same. Returns whether this call completed it.
    pub(super) async fn finish(
        &self,
        appointment: Appointment,
        completion: Completion,
    ) -> Result<bool, ServiceError> {
        if let Some(intent) = self.current_intent(&appointment).await? {
            match intent.state {
                PaymentIntentState::Authorized if appointment.money_may_move() => {
                    self.capture_in_full(&appointment, &intent.id).await?;
                }
                PaymentIntentState::Canceled if appointment.payment_incident.is_none() => {
                    self.reconcile_payment(&intent).await?;
                }
                _ => {}
            }
        }
        self.transition_with(
            appointment.id,
            AppointmentStatus::Completed,
            Change {
                completion: Some(completion),
                ..Change::default()
            },
        )
        .await
    }

    /// Captures a confirmed appointment's payment in full, with the platform fee sent again
    /// (Stripe caps a capture's fee but never recomputes it). Idempotent per PaymentIntent.
    pub async fn capture(&self, id: AppointmentId) -> Result<PaymentIntentSummary, ServiceError> {
        let appointment = self
            .store
            .appointment(id)
            .await?
            .filter(|a| a.status == AppointmentStatus::Confirmed && a.money_may_move())
            .ok_or(ServiceError::NotFound("confirmed payment"))?;
        let current = self
            .current_intent(&appointment)
            .await?
            .ok_or(ServiceError::NotFound("confirmed payment"))?;
        if current.state == PaymentIntentState::Captured {
            return Ok(current);
        }
        self.capture_in_full(&appointment, &current.id).await
    }

    /// Captures the whole total with its fee sent again: Stripe caps a capture's fee but
    /// never recomputes it.
    async fn capture_in_full(
        &self,
        appointment: &Appointment,
        payment_intent: &str,
    ) -> Result<PaymentIntentSummary, ServiceError> {
        Ok(self
            .gateway
            .capture(
                payment_intent,
                appointment.price.total.amount,
                appointment.price.platform_fee.amount,
            )
            .await?)
    }

    /// Brings the appointment `intent` names in line with it (as read back from Stripe):
    /// authorised or charged confirms a hold (with the capture deadline), cancelled ends a
    /// hold or a cancellation in progress, and on a confirmed booking is a payment incident.
    /// The intent must be the appointment's own; anything else is ignored and logged.
    pub async fn reconcile_payment(
        &self,
        intent: &PaymentIntentSummary,
    ) -> Result<Reconciliation, ServiceError> {
        let appointment = match self.own_appointment(intent).await? {
            Ok(appointment) => appointment,
            Err(ignored) => return Ok(ignored),
        };
        let id = appointment.id;
        self.store.record_payment(id, intent).await?;
        match (intent.state, appointment.status) {
            (
                PaymentIntentState::Authorized | PaymentIntentState::Captured,
                AppointmentStatus::PendingPayment,
            ) => {
                self.transition_with(
                    id,
                    AppointmentStatus::Confirmed,
                    Change {
                        capture_deadline: intent.capture_deadline(),
                        ..Change::default()
                    },
                )
                .await?;
            }
            // Captured by someone else (a partial capture while cancelling, another instance's
            // sweep): no deadline left to meet.
            (PaymentIntentState::Captured, AppointmentStatus::Confirmed)
                if appointment.capture_due().is_some() =>
            {
                let captured = Appointment {
                    captured_at: Some(self.clock.now()),
                    ..appointment.clone()
                };
                self.store
                    .save_payment_state(&captured, appointment.status, None)
                    .await?;
            }
            (PaymentIntentState::Canceled, AppointmentStatus::PendingPayment) => {
                self.move_to(id, AppointmentStatus::Expired).await?;
            }
            (PaymentIntentState::Canceled, AppointmentStatus::Confirmed)
                if appointment.cancelling.is_some() =>
            {
                self.move_to(id, AppointmentStatus::Cancelled).await?;
            }
            (PaymentIntentState::Canceled, AppointmentStatus::Confirmed)
                if appointment.payment_incident.is_none() =>
            {
                self.report_incident(appointment, intent).await?;
            }
            _ => {}
        }
        Ok(Reconciliation::Applied)
    }

    /// The appointment `intent` belongs to, or why it belongs to none (logged).
    async fn own_appointment(
        &self,
        intent: &PaymentIntentSummary,
    ) -> Result<Result<Appointment, Reconciliation>, ServiceError> {
        let id: Option<AppointmentId> = intent
            .appointment_id
            .as_deref()
            .and_then(|id| id.parse().ok());
        let appointment = match id {
            Some(id) => self.store.appointment(id).await?,
            None => None,
        };
        let Some(appointment) = appointment else {
            tracing::warn!(payment_intent = intent.id, appointment_id = ?intent.appointment_id, "a PaymentIntent of no appointment of ours; ignored");
            return Ok(Err(Reconciliation::Ignored(None)));
        };
        if let Err(reason) = appointment.owns_payment(intent) {
            tracing::warn!(
                payment_intent = intent.id,
                appointment_id = %appointment.id,
                stored = ?appointment.payment_intent,
                amount = intent.amount,
                currency = intent.currency,
                reason = %reason,
                "a PaymentIntent that is not the appointment's own; ignored"
            );
            return Ok(Err(Reconciliation::Ignored(Some(reason))));
        }
        Ok(Ok(appointment))
    }

    /// A confirmed booking whose payment Stripe cancelled (lapsed, or cancelled outside the
    /// marketplace): flagged on the appointment, announced to the expert and the operators,
    /// never a cancellation. The session stays on.
    async fn report_incident(
        &self,
        appointment: Appointment,
        intent: &PaymentIntentSummary,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let from = appointment.status;
        let flagged = Appointment {
            payment_incident: Some(appointment.incident_for(intent, now)),
            ..appointment
        };
        let event = DomainEvent::about(EventKind::PaymentIncident, &flagged, now);
        if self
            .store
            .save_payment_state(&flagged, from, Some(&event))
            .await?
        {
            tracing::warn!(appointment_id = %flagged.id, payment_intent = intent.id, reason = ?intent.cancellation_reason, "payment incident: Stripe cancelled a confirmed booking's payment");
        }
        Ok(())
    }

    /// Records where a dispute on the appointment's charge stands (read back from Stripe,
    /// with the intent it disputes), and announces it opening and closing. A stored dispute
    /// only moves forward: a stale event changes nothing.
    pub async fn reconcile_dispute(
        &self,
        dispute: &DisputeSummary,
        intent: &PaymentIntentSummary,
    ) -> Result<Reconciliation, ServiceError> {
        for _ in 0..super::service::ATTEMPTS {
            let appointment = match self.own_appointment(intent).await? {
                Ok(appointment) => appointment,
                Err(ignored) => return Ok(ignored),
            };
            let state = DisputeState::from_summary(
                dispute,
                Money::new(dispute.amount, appointment.price.total.currency),
            );
            let previous = appointment.dispute.clone();
            match &previous {
                Some(stored) if stored.rank() > state.rank() || *stored == state => {
                    return Ok(Reconciliation::Applied);
                }
                _ => {}
            }
            let now = self.clock.now();
            let kind = match &previous {
                None => Some(EventKind::PaymentDisputed),
                Some(stored) if stored.is_open() && !state.is_open() => {
                    Some(EventKind::DisputeClosed)
                }
                Some(_) => None,
            };
            let disputed = Appointment {
                dispute: Some(state),
                ..appointment
            };
            let event = kind.map(|kind| DomainEvent::about(kind, &disputed, now));
            if self
                .store
                .record_dispute(&disputed, previous.as_ref(), event.as_ref())
                .await?
            {
                tracing::warn!(appointment_id = %disputed.id, dispute = dispute.id, status = dispute.status, "dispute recorded");
                return Ok(Reconciliation::Applied);
            }
        }
        Err(StoreError::Contention(dispute.id.clone()).into())
    }

    /// Money for a slot that was lost: an authorisation is released, a charge refunded in full
    /// (with the transfer and the fee reversed).
    pub(super) async fn give_back(&self, intent: &str) -> Result<(), ServiceError> {
        let current = self.gateway.retrieve(intent).await?;
        match current.state {
            PaymentIntentState::Authorized
            | PaymentIntentState::AwaitingPayment
            | PaymentIntentState::AwaitingAction => {
                self.gateway.cancel(intent).await?;
            }
            PaymentIntentState::Captured if !current.disputed() => {
                self.gateway.refund(intent, None).await?
            }
            PaymentIntentState::Captured
            | PaymentIntentState::Canceled
            | PaymentIntentState::Processing => {}
        }
        Ok(())
    }
}

/// What the sweep did to one hold.
enum HoldSwept {
    Confirmed,
    Expired,
    Untouched,
}

fn failed(report: &mut SweepReport, id: AppointmentId, what: &str, error: &ServiceError) {
    tracing::error!(appointment_id = %id, what, error = %crate::error::chain(error), "sweep item failed; the next sweep tries again");
    report.failed += 1;
}

/// As decided at booking: a later reschedule does not change how the payment was made.
pub(super) fn capture_timing(appointment: &Appointment) -> CaptureTiming {
    if appointment.charged_at_booking {
        CaptureTiming::AtBooking
    } else {
        CaptureTiming::AfterSession
    }
}

/// The PaymentIntent request of an appointment, the same every time it is built.
fn authorization(appointment: &Appointment, destination: String) -> AuthorizationRequest {
    AuthorizationRequest {
        appointment_id: appointment.id,
        amount: appointment.price.total,
        application_fee: appointment.price.platform_fee,
        destination_account: destination,
        capture: capture_timing(appointment),
    }
}
