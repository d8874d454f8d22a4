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

/// Due items read per page; the schedule runs every two minutes.
const SWEEP_BATCH: i32 = 100;
/// How long a sweep pages on before leaving the rest to the next run (the reminders
/// function's timeout is 60 s).
const SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(40);

/// Whether a payment that could not be started gives the hold back: only the request that
/// made the hold does (a replay of it must not end the original's booking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OnPaymentFailure {
    ReleaseHold,
    KeepHold,
}

/// What the sweep did to one item.
#[derive(Clone, Copy, Debug, Default)]
struct Swept {
    expired: bool,
    completed: bool,
    captured: bool,
    confirmed: bool,
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
    /// Items (or whole kinds) that failed; each is logged and looked at again by the next
    /// sweep.
    pub failed: usize,
}

impl SweepReport {
    fn add(&mut self, swept: Swept) {
        self.expired += usize::from(swept.expired);
        self.completed += usize::from(swept.completed);
        self.captured += usize::from(swept.captured);
        self.confirmed += usize::from(swept.confirmed);
    }
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
    /// reminders, and unpaid holds whose time is up. Each item is handled on its own, and each
    /// kind too: what fails is logged and found again by the next sweep; the rest go ahead.
    /// Sessions and holds are paged through until [`SWEEP_BUDGET`] is spent, so items that
    /// cannot move yet (a capture that keeps failing, a payment still processing) never hide
    /// the ones behind them.
    pub async fn sweep(&self) -> SweepReport {
        let now = self.clock.now();
        let started = std::time::Instant::now();
        let mut report = SweepReport::default();
        self.sweep_kind(
            keys::SESSIONS_DUE,
            now,
            started,
            &mut report,
            |id| async move {
                let (captured, completed) = self.sweep_session(id, now).await?;
                Ok(Swept {
                    captured,
                    completed,
                    ..Swept::default()
                })
            },
        )
        .await;
        match self.store.due_reminders(now, SWEEP_BATCH).await {
            Ok(due) => {
                for (id, kind) in due {
                    match self.fire_reminder(id, kind, now).await {
                        Ok(fired) => report.reminders += usize::from(fired),
                        Err(error) => failed(&mut report, Some(id), "reminder", &error),
                    }
                }
            }
            Err(error) => failed(&mut report, None, "reminders", &error.into()),
        }
        self.sweep_kind(keys::HOLDS, now, started, &mut report, |id| async move {
            Ok(match self.sweep_hold(id, now).await? {
                HoldSwept::Confirmed => Swept {
                    confirmed: true,
                    ..Swept::default()
                },
                HoldSwept::Expired => Swept {
                    expired: true,
                    ..Swept::default()
                },
                HoldSwept::Untouched => Swept::default(),
            })
        })
        .await;
        report
    }

    /// Pages through the due items of gsi4 partition `kind`, handling each with `handle`.
    async fn sweep_kind<Handled>(
        &self,
        kind: &str,
        now: DateTime<Utc>,
        started: std::time::Instant,
        report: &mut SweepReport,
        handle: impl Fn(AppointmentId) -> Handled,
    ) where
        Handled: Future<Output = Result<Swept, ServiceError>>,
    {
        let mut cursor = None;
        loop {
            let (ids, next) = match self.store.sweep_due(kind, now, SWEEP_BATCH, cursor).await {
                Ok(page) => page,
                Err(error) => return failed(report, None, kind, &error.into()),
            };
            for id in ids {
                match handle(id).await {
                    Ok(swept) => report.add(swept),
                    Err(error) => failed(report, Some(id), kind, &error),
                }
            }
            match next {
                Some(next) if started.elapsed() < SWEEP_BUDGET => cursor = Some(next),
                _ => return,
            }
        }
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
        // A cancellation in progress decides the money; its request finishes or withdraws it.
        if appointment.status != AppointmentStatus::Confirmed || appointment.cancelling.is_some() {
            return Ok((false, false));
        }
        let captured = appointment.capture_due().is_some_and(|due| due <= now)
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
        self.mark_captured(appointment.id, now).await?;
        appointment.captured_at = Some(now);
        tracing::info!(appointment_id = %appointment.id, payment_intent = intent.id, "captured before the authorisation's deadline");
        Ok(true)
    }

    /// Records that the held money was captured, so its deadline no longer applies.
    async fn mark_captured(
        &self,
        id: AppointmentId,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        self.change_payment(id, |appointment| {
            if appointment.captured_at.is_some() {
                return None;
            }
            appointment.captured_at = Some(now);
            Some(Vec::new())
        })
        .await
        .map(drop)
    }

    /// Changes the appointment's payment fields with `change`, on a fresh read each try, and
    /// writes them only over that read's version: nothing another writer wrote meanwhile is
    /// undone, and the sweep index follows the result. `change` answers the events to write
    /// with it, or `None` for nothing to do. Answers whether this call wrote.
    async fn change_payment(
        &self,
        id: AppointmentId,
        change: impl Fn(&mut Appointment) -> Option<Vec<EventKind>>,
    ) -> Result<bool, ServiceError> {
        for _ in 0..super::service::ATTEMPTS {
            let Some(read) = self.store.appointment(id).await? else {
                return Ok(false);
            };
            let mut changed = read.clone();
            let Some(kinds) = change(&mut changed) else {
                return Ok(false);
            };
            let now = self.clock.now();
            let events: Vec<DomainEvent> = kinds
                .into_iter()
                .map(|kind| DomainEvent::about(kind, &changed, now))
                .collect();
            if self
                .store
                .save_payment_state(&changed, &read, &events)
                .await?
            {
                return Ok(true);
            }
        }
        Err(StoreError::Contention(id.to_string()).into())
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
        if appointment.cancelling.is_some() {
            return Err(ServiceError::NotCompletable(
                "a cancellation of this session is in progress",
            ));
        }
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
                self.mark_captured(id, self.clock.now()).await?;
            }
            // Paid for a slot that was lost meanwhile (no party cancelled it): its money goes
            // back, again on every event until it has (an earlier try may have failed).
            (
                PaymentIntentState::Authorized | PaymentIntentState::Captured,
                AppointmentStatus::Cancelled,
            ) if appointment.cancellation.is_none() => {
                self.give_back(&intent.id).await?;
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
        let incident = appointment.incident_for(intent, self.clock.now());
        let reported = self
            .change_payment(appointment.id, |appointment| {
                if appointment.status != AppointmentStatus::Confirmed
                    || appointment.payment_incident.is_some()
                {
                    return None;
                }
                appointment.payment_incident = Some(incident.clone());
                Some(vec![EventKind::PaymentIncident])
            })
            .await?;
        if reported {
            tracing::warn!(appointment_id = %appointment.id, payment_intent = intent.id, reason = ?intent.cancellation_reason, "payment incident: Stripe cancelled a confirmed booking's payment");
        }
        Ok(())
    }

    /// Records where a dispute on the appointment's charge stands (read back from Stripe,
    /// with the intent it disputes), and announces it opening and closing. A stored dispute
    /// only moves forward (a stale event changes nothing); a dispute of another id (a
    /// chargeback after a closed inquiry) is a new one.
    pub async fn reconcile_dispute(
        &self,
        dispute: &DisputeSummary,
        intent: &PaymentIntentSummary,
    ) -> Result<Reconciliation, ServiceError> {
        let appointment = match self.own_appointment(intent).await? {
            Ok(appointment) => appointment,
            Err(ignored) => return Ok(ignored),
        };
        let state = DisputeState::from_summary(
            dispute,
            Money::new(dispute.amount, appointment.price.total.currency),
        );
        let recorded = self
            .change_payment(appointment.id, |appointment| {
                let kinds = dispute_events(appointment.dispute.as_ref(), &state)?;
                appointment.dispute = Some(state.clone());
                Some(kinds)
            })
            .await?;
        if recorded {
            tracing::warn!(appointment_id = %appointment.id, dispute = dispute.id, status = dispute.status, "dispute recorded");
        }
        Ok(Reconciliation::Applied)
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
            PaymentIntentState::Captured
                if !current.disputed() && current.refunded() < current.amount_received =>
            {
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

fn failed(report: &mut SweepReport, id: Option<AppointmentId>, what: &str, error: &ServiceError) {
    tracing::error!(appointment_id = ?id, what, error = %crate::error::chain(error), "sweep item failed; the next sweep tries again");
    report.failed += 1;
}

/// What recording `next` over `stored` announces: `None` when it is stale or no change, else
/// the events (opened, closed, or both for a dispute first seen closed).
fn dispute_events(stored: Option<&DisputeState>, next: &DisputeState) -> Option<Vec<EventKind>> {
    let opened = match stored {
        Some(stored) if stored.id == next.id => {
            if stored.rank() > next.rank() || stored == next {
                return None;
            }
            false
        }
        _ => true,
    };
    let was_open = stored
        .filter(|s| s.id == next.id)
        .is_none_or(DisputeState::is_open);
    let mut kinds = Vec::new();
    if opened {
        kinds.push(EventKind::PaymentDisputed);
    }
    if was_open && !next.is_open() {
        kinds.push(EventKind::DisputeClosed);
    }
    Some(kinds)
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
