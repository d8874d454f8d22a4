//! Payment use cases: an expert's payouts onboarding, and applying verified Stripe events.

use std::sync::Arc;

use serde::Serialize;

use super::webhook::{PaymentEvent, VerifiedEvent};
use super::{PaymentError, StripeGateway};
use crate::auth::{Caller, Group};
use crate::booking::{BookingService, Reconciliation};
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::experts::PayoutState;
use crate::store::dynamo::DynamoStore;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Onboarding {
    /// Single-use, short-lived: open it right away.
    pub onboarding_url: String,
    pub payouts: PayoutState,
}

#[derive(Clone)]
pub struct PaymentService {
    store: DynamoStore,
    gateway: StripeGateway,
    bookings: BookingService,
    clock: Arc<dyn Clock>,
    frontend_url: String,
}

impl PaymentService {
    pub fn new(
        store: DynamoStore,
        gateway: StripeGateway,
        bookings: BookingService,
        clock: Arc<dyn Clock>,
        frontend_url: String,
    ) -> Self {
        Self {
            store,
            gateway,
            bookings,
            clock,
            frontend_url,
        }
    }

    /// Creates the expert's Connect Express account on first call (Stripe sees one create per
    /// expert, whatever the retries) and returns a fresh onboarding link.
    pub async fn start_onboarding(&self, caller: &Caller) -> Result<Onboarding, ServiceError> {
        caller.require(Group::Experts)?;
        let id = self
            .store
            .expert_id_of(&caller.user_id)
            .await?
            .ok_or(ServiceError::ProfileRequired)?;
        let profile = self
            .store
            .profile(id)
            .await?
            .ok_or(ServiceError::ProfileRequired)?;
        let account = match profile.stripe_account {
            Some(account) => account,
            None => {
                let account = self
                    .gateway
                    .create_express_account(id, caller.email.as_deref())
                    .await?;
                self.store.link_stripe_account(id, &account).await?;
                account
            }
        };
        let base = self.frontend_url.trim_end_matches('/');
        let onboarding_url = self
            .gateway
            .onboarding_link(
                &account,
                &format!("{base}/payouts/refresh"),
                &format!("{base}/payouts/done"),
            )
            .await?;
        Ok(Onboarding {
            onboarding_url,
            payouts: profile.payouts,
        })
    }

    /// Applies a verified event once: the object it names is read back from Stripe and the
    /// appointment (or expert) brought in line with it, so events arriving late, twice, out of
    /// order or copied under new ids all end the same way. Events about what is not ours are
    /// recorded as ignored.
    pub async fn apply(&self, event: &VerifiedEvent) -> Result<EventOutcome, ServiceError> {
        if event.event == PaymentEvent::Ignored {
            return Ok(EventOutcome::NotActedOn);
        }
        if self.store.event_processed(&event.id).await? {
            return Ok(EventOutcome::Duplicate);
        }
        let reconciled = match self.reconcile(&event.event).await {
            // Stripe no longer has (or never had, for this key) what the event names.
            Err(ServiceError::Payment(PaymentError::Refused { status: 404, .. })) => {
                Reconciliation::Ignored(None)
            }
            other => other?,
        };
        let outcome = match reconciled {
            Reconciliation::Applied => EventOutcome::Applied,
            Reconciliation::Ignored(reason) => {
                tracing::warn!(event_id = event.id, kind = event.kind, reason = ?reason, "event about something not ours; ignored");
                EventOutcome::Ignored
            }
        };
        self.store
            .record_event(&event.id, outcome.name(), self.clock.now())
            .await?;
        Ok(outcome)
    }

    /// Reads back what the event names and brings ours in line with it.
    async fn reconcile(&self, event: &PaymentEvent) -> Result<Reconciliation, ServiceError> {
        match event {
            PaymentEvent::AccountUpdated { account } => self.refresh_account(account).await,
            PaymentEvent::PaymentIntent { payment_intent } => {
                let intent = self.gateway.retrieve(payment_intent).await?;
                self.bookings.reconcile_payment(&intent).await
            }
            PaymentEvent::Dispute { dispute } => {
                let dispute = self.gateway.dispute(dispute).await?;
                match &dispute.payment_intent {
                    Some(payment_intent) => {
                        let intent = self.gateway.retrieve(payment_intent).await?;
                        self.bookings.reconcile_dispute(&dispute, &intent).await
                    }
                    None => Ok(Reconciliation::Ignored(None)),
                }
            }
            PaymentEvent::Ignored => Ok(Reconciliation::Ignored(None)),
        }
    }

    /// Events can arrive late and out of order, so the account's state is read from Stripe
    /// rather than taken from the event. An expert who stops taking charges is told (by the
    /// event the store writes with the change).
    async fn refresh_account(&self, account: &str) -> Result<Reconciliation, ServiceError> {
        let Some(expert) = self.store.expert_of_account(account).await? else {
            tracing::warn!(account, "account.updated for an account we do not know");
            return Ok(Reconciliation::Ignored(None));
        };
        let payouts = self.gateway.account_state(account).await?;
        self.store
            .update_payouts(expert, payouts, self.clock.now())
            .await?;
        Ok(Reconciliation::Applied)
    }
}

/// What came of a verified event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    Applied,
    /// About a PaymentIntent, dispute or account that is not ours: recorded, not acted on.
    Ignored,
    /// Seen before (its id is recorded).
    Duplicate,
    /// A kind we do not act on; nothing is read or written.
    NotActedOn,
}

impl EventOutcome {
    pub fn name(self) -> &'static str {
        match self {
            EventOutcome::Applied => "applied",
            EventOutcome::Ignored => "ignored",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::NotActedOn => "not_acted_on",
        }
    }
}
