//! Payment use cases: an expert's payouts onboarding, and applying verified Stripe events.

use std::sync::Arc;

use serde::Serialize;

use super::StripeGateway;
use super::webhook::{PaymentEvent, VerifiedEvent};
use crate::auth::{Caller, Group};
use crate::booking::BookingService;
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

    /// Applies a verified event once. Every transition is idempotent and conditional on the
    /// current state, so a redelivery before the event is recorded changes nothing either.
    pub async fn apply(&self, event: &VerifiedEvent) -> Result<(), ServiceError> {
        if self.store.event_processed(&event.id).await? {
            return Ok(());
        }
        match &event.event {
            PaymentEvent::AccountUpdated { account, .. } => self.refresh_account(account).await?,
            PaymentEvent::PaymentIntent {
                appointment_id,
                intent,
                ..
            } => {
                self.store
                    .record_payment(*appointment_id, intent, event.created, self.clock.now())
                    .await?;
                self.bookings.apply_payment(*appointment_id, intent).await?
            }
            PaymentEvent::ChargeRefunded {
                appointment_id,
                amount_refunded,
            } => {
                self.store
                    .record_refund(*appointment_id, *amount_refunded, self.clock.now())
                    .await?
            }
            PaymentEvent::Ignored { .. } => {}
        }
        self.store.record_event(&event.id, self.clock.now()).await?;
        Ok(())
    }

    /// Events can arrive late and out of order, so the account's state is read from Stripe
    /// rather than taken from the event.
    async fn refresh_account(&self, account: &str) -> Result<(), ServiceError> {
        let Some(expert) = self.store.expert_of_account(account).await? else {
            tracing::warn!(account, "account.updated for an account we do not know");
            return Ok(());
        };
        let payouts = self.gateway.account_state(account).await?;
        self.store
            .update_payouts(expert, payouts, self.clock.now())
            .await?;
        Ok(())
    }
}
