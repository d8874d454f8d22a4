//! The Stripe adapter: the few calls the marketplace makes, each with an Idempotency-Key where
//! it creates or moves money, and Stripe's answers reduced to what the domain needs.
//!
//! Stripe's idempotency is kinder to read than to live with: a second request with a key
//! whose first is still running gets 409 `idempotency_key_in_use`, and a 5xx is kept under its
//! key for 24 hours, so the same key can never succeed after one. Every money-moving call here
//! therefore waits out a 409 and reads the object back; after a 5xx it reads back too, and
//! tries once more under a new key only when the effect did not happen.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_connect::account::{
    CreateAccount, CreateAccountCapabilities, CreateAccountCapabilitiesCardPayments,
    CreateAccountCapabilitiesTransfers, CreateAccountType, RetrieveAccount,
};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use stripe_core::PaymentIntentCaptureMethod;
use stripe_core::dispute::RetrieveDispute;
use stripe_core::payment_intent::{
    CancelPaymentIntent, CapturePaymentIntent, CreatePaymentIntent,
    CreatePaymentIntentTransferData, RetrievePaymentIntent,
};
use stripe_core::refund::{CreateRefund, ListRefund};
use stripe_shared::ApiErrorsCode;

use super::DisputeSummary;
use super::intent::{PaymentIntentState, PaymentIntentSummary};
use crate::experts::PayoutState;
use crate::ids::{AppointmentId, ExpertId};
use crate::money::Money;

/// Where Stripe is and how to reach it; read once per cold start.
#[derive(Clone, Debug)]
pub struct StripeSettings {
    pub secret_key: SecretString,
    /// `None` for Stripe itself; our test server's URL locally.
    pub api_base: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Stripe refused the request (4xx): a declined card, a bad parameter, a wrong state.
    #[error("Stripe refused the request ({status}): {message}")]
    Refused {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The same request (its Idempotency-Key) is still running at Stripe.
    #[error("another request with this Idempotency-Key is still running at Stripe")]
    KeyInUse,
    /// Stripe could not be reached or failed (5xx, timeouts, unreadable answers).
    #[error("Stripe is unavailable")]
    Unavailable(#[source] StripeError),
    /// A capture found the intent captured already, for another amount (a cancellation's
    /// partial capture and a completion's full one raced).
    #[error("the PaymentIntent was captured already, for {captured}")]
    CapturedOtherAmount { captured: i64 },
    /// A request that could not be made at all (a currency or key Stripe would not take).
    #[error("the Stripe request could not be built: {0}")]
    Unbuildable(String),
}

impl PaymentError {
    /// Stripe's error code, for a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            PaymentError::Refused { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The object was not in the state the request needs: someone else moved it first.
    fn is_unexpected_state(&self) -> bool {
        self.code() == Some(ApiErrorsCode::PaymentIntentUnexpectedState.as_str())
    }
}

impl From<StripeError> for PaymentError {
    fn from(error: StripeError) -> Self {
        match error {
            StripeError::Stripe(errors, 409)
                if errors.code == Some(ApiErrorsCode::IdempotencyKeyInUse) =>
            {
                PaymentError::KeyInUse
            }
            StripeError::Stripe(errors, status) if status < 500 => PaymentError::Refused {
                status,
                code: errors.code.as_ref().map(|c| c.as_str().to_owned()),
                message: errors.message.clone().unwrap_or_default(),
            },
            other => PaymentError::Unavailable(other),
        }
    }
}

/// A destination charge for one appointment: the platform's fee stays, the rest goes to the
/// expert's account.
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    pub appointment_id: AppointmentId,
    pub amount: Money,
    pub application_fee: Money,
    pub destination_account: String,
    pub capture: CaptureTiming,
}

/// When the money moves. Card authorisations lapse after about 7 days (4 days 18 hours for
/// some merchant-initiated Visa ones), so only sessions close enough are held and captured
/// after the session; later ones are charged at booking and refunded under the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureTiming {
    AfterSession,
    AtBooking,
}

/// Tries of one money-moving call that Stripe answers with a 5xx (each retry under a new key),
/// pausing a little longer before each.
const SERVER_ERROR_ATTEMPTS: u32 = 4;
const SERVER_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Waits for a request with the same key still in flight at Stripe (409): the first this long,
/// doubled each time, so 3.75 s in all before giving up.
const IN_FLIGHT_WAIT: Duration = Duration::from_millis(250);
const IN_FLIGHT_WAITS: u32 = 4;

/// The Stripe client, built once per cold start.
#[derive(Clone)]
pub struct StripeGateway {
    client: Client,
}

/// Idempotency keys derived from what they protect, so a retry anywhere (a replayed booking, a
/// sweep after a crash) reaches the same Stripe object.
fn key(parts: &[&str]) -> String {
    parts.join("-")
}

fn strategy(key: &str) -> Result<RequestStrategy, PaymentError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| PaymentError::Unbuildable(e.to_string()))
}

impl StripeGateway {
    pub fn new(settings: &StripeSettings) -> Result<StripeGateway, PaymentError> {
        let mut builder = ClientBuilder::new(settings.secret_key.expose_secret());
        if let Some(base) = &settings.api_base {
            builder = builder.url(base.clone());
        }
        let client = builder.build().map_err(PaymentError::Unavailable)?;
        Ok(StripeGateway { client })
    }

    /// Sends one idempotent request under `key` until it took effect: a 409 (the same request
    /// still running) is waited out, then `read_back` says whether it is done; a 5xx is read
    /// back and, if nothing happened, sent again under a new key (the old one would only
    /// replay the 5xx); a refusal for the object's state is read back once (another caller may
    /// have done it first).
    async fn idempotent<T, Sent, Read>(
        &self,
        key: &str,
        send: impl Fn(RequestStrategy) -> Sent,
        read_back: impl Fn() -> Read,
    ) -> Result<T, PaymentError>
    where
        Sent: Future<Output = Result<T, StripeError>>,
        Read: Future<Output = Result<Option<T>, PaymentError>>,
    {
        let mut current = key.to_owned();
        let (mut waits, mut failures) = (0, 0);
        loop {
            match send(strategy(&current)?).await.map_err(PaymentError::from) {
                Ok(done) => return Ok(done),
                Err(PaymentError::KeyInUse) if waits < IN_FLIGHT_WAITS => {
                    tokio::time::sleep(IN_FLIGHT_WAIT * 2u32.pow(waits)).await;
                    waits += 1;
                }
                Err(error @ PaymentError::Unavailable(_)) => {
                    tracing::warn!(key, error = %crate::error::chain(&error), "Stripe failed; reading back before a retry under a new key");
                    failures += 1;
                    if let Some(done) = read_back().await? {
                        return Ok(done);
                    }
                    if failures == SERVER_ERROR_ATTEMPTS {
                        return Err(error);
                    }
                    tokio::time::sleep(SERVER_ERROR_PAUSE * failures).await;
                    current = format!("{key}-{}", ulid::Ulid::new());
                    continue;
                }
                Err(error) if error.is_unexpected_state() => {
                    return read_back().await?.ok_or(error);
                }
                Err(error) => return Err(error),
            }
            if let Some(done) = read_back().await? {
                return Ok(done);
            }
        }
    }

    /// A Connect Express account for the expert (once: the key is the expert's id), asking for
    /// the two capabilities bookings need: `card_payments` (charges, which make the expert
    /// bookable) and `transfers` (their share of destination charges).
    pub async fn create_express_account(
        &self,
        expert: ExpertId,
        email: Option<&str>,
    ) -> Result<String, PaymentError> {
        let mut capabilities = CreateAccountCapabilities::new();
        capabilities.card_payments = Some(CreateAccountCapabilitiesCardPayments {
            requested: Some(true),
        });
        capabilities.transfers = Some(CreateAccountCapabilitiesTransfers {
            requested: Some(true),
        });
        let mut request = CreateAccount::new()
            .type_(CreateAccountType::Express)
            .capabilities(capabilities)
            .metadata(HashMap::from([(
                "expert_id".to_owned(),
                expert.to_string(),
            )]));
        if let Some(email) = email {
            request = request.email(email);
        }
        let account = self
            .idempotent(
                &key(&["account", &expert.to_string()]),
                |strategy| {
                    request
                        .clone()
                        .customize()
                        .request_strategy(strategy)
                        .send(&self.client)
                },
                // An account cannot be found by its metadata: a 5xx retried under a new key
                // may leave an unused second account, which holds no money.
                || async { Ok(None) },
            )
            .await?;
        Ok(account.id.as_str().to_owned())
    }

    /// Whether the account can take charges and receive payouts, and what Stripe says is
    /// overdue, as Stripe says now.
    pub async fn account_state(&self, account: &str) -> Result<PayoutState, PaymentError> {
        let account = RetrieveAccount::new(account).send(&self.client).await?;
        Ok(PayoutState {
            charges_enabled: account.charges_enabled.unwrap_or(false),
            payouts_enabled: account.payouts_enabled.unwrap_or(false),
            past_due: account
                .requirements
                .and_then(|r| r.past_due)
                .unwrap_or_default(),
        })
    }

    /// A fresh onboarding link; links are single-use and short-lived, so never cached.
    pub async fn onboarding_link(
        &self,
        account: &str,
        refresh_url: &str,
        return_url: &str,
    ) -> Result<String, PaymentError> {
        let link = CreateAccountLink::new(account, CreateAccountLinkType::AccountOnboarding)
            .refresh_url(refresh_url)
            .return_url(return_url)
            .send(&self.client)
            .await?;
        Ok(link.url)
    }

    /// Creates (or, for the same appointment, finds again) the PaymentIntent of a booking.
    pub async fn authorize(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<PaymentIntentSummary, PaymentError> {
        let currency = request
            .amount
            .currency
            .code()
            .parse::<stripe_types::Currency>()
            .map_err(|_| PaymentError::Unbuildable("unknown currency".into()))?;
        let appointment = request.appointment_id.to_string();
        let create = CreatePaymentIntent::new(request.amount.amount, currency)
            .application_fee_amount(request.application_fee.amount)
            .transfer_data(CreatePaymentIntentTransferData::new(
                request.destination_account.clone(),
            ))
            .capture_method(match request.capture {
                CaptureTiming::AfterSession => PaymentIntentCaptureMethod::Manual,
                CaptureTiming::AtBooking => PaymentIntentCaptureMethod::Automatic,
            })
            .metadata(HashMap::from([(
                "appointment_id".to_owned(),
                appointment.clone(),
            )]));
        let intent = self
            .idempotent(
                &key(&["authorize", &appointment]),
                |strategy| {
                    create
                        .clone()
                        .customize()
                        .request_strategy(strategy)
                        .send(&self.client)
                },
                // Only the intent whose id the appointment stores is ever shown to the client:
                // one left behind by a retried 5xx is never confirmed and moves no money.
                || async { Ok(None) },
            )
            .await?;
        Ok(intent.into())
    }

    /// The PaymentIntent as Stripe holds it now, with its latest charge (capture deadline,
    /// refunds, dispute).
    pub async fn retrieve(
        &self,
        payment_intent: &str,
    ) -> Result<PaymentIntentSummary, PaymentError> {
        Ok(RetrievePaymentIntent::new(payment_intent)
            .expand(vec!["latest_charge".to_owned()])
            .send(&self.client)
            .await?
            .into())
    }

    /// The intent read back when it is in `state`.
    async fn read_back_in(
        &self,
        payment_intent: &str,
        state: PaymentIntentState,
    ) -> Result<Option<PaymentIntentSummary>, PaymentError> {
        let current = self.retrieve(payment_intent).await?;
        Ok((current.state == state).then_some(current))
    }

    /// Captures `amount` with its recomputed fee: Stripe caps a partial capture's fee but
    /// does not pro-rate it. Already captured (by a concurrent caller) counts as done.
    pub async fn capture(
        &self,
        payment_intent: &str,
        amount: i64,
        application_fee: i64,
    ) -> Result<PaymentIntentSummary, PaymentError> {
        let capture = CapturePaymentIntent::new(payment_intent)
            .amount_to_capture(amount)
            .application_fee_amount(application_fee)
            .expand(vec!["latest_charge".to_owned()]);
        self.idempotent(
            &key(&["capture", payment_intent, &amount.to_string()]),
            |strategy| {
                let sent = capture
                    .clone()
                    .customize()
                    .request_strategy(strategy)
                    .send(&self.client);
                async { sent.await.map(PaymentIntentSummary::from) }
            },
            // Done only if this very amount was captured: a different one (a partial capture
            // racing a full one) is a conflict for the caller, not a success.
            || async {
                let current = self.retrieve(payment_intent).await?;
                match current.state {
                    PaymentIntentState::Captured if current.amount_received == amount => {
                        Ok(Some(current))
                    }
                    PaymentIntentState::Captured => Err(PaymentError::CapturedOtherAmount {
                        captured: current.amount_received,
                    }),
                    _ => Ok(None),
                }
            },
        )
        .await
    }

    /// Refunds `amount` (everything left when `None`), pulling back the expert's transfer and
    /// the platform fee in proportion. The refund carries its key in its metadata, so that a
    /// refund whose answer was lost is found again instead of made twice.
    pub async fn refund(
        &self,
        payment_intent: &str,
        amount: Option<i64>,
    ) -> Result<(), PaymentError> {
        let which = amount.map_or_else(|| "rest".to_owned(), |a| a.to_string());
        let request_key = key(&["refund", payment_intent, &which]);
        let mut refund = CreateRefund::new()
            .payment_intent(payment_intent)
            .refund_application_fee(true)
            .reverse_transfer(true)
            .metadata(HashMap::from([(
                "request_key".to_owned(),
                request_key.clone(),
            )]));
        if let Some(amount) = amount {
            refund = refund.amount(amount);
        }
        self.idempotent(
            &request_key,
            |strategy| {
                let sent = refund
                    .clone()
                    .customize()
                    .request_strategy(strategy)
                    .send(&self.client);
                async { sent.await.map(drop) }
            },
            || self.refund_made(payment_intent, &request_key),
        )
        .await
    }

    /// Whether a refund made under `request_key` exists (its answer may have been lost).
    async fn refund_made(
        &self,
        payment_intent: &str,
        request_key: &str,
    ) -> Result<Option<()>, PaymentError> {
        let made = ListRefund::new()
            .payment_intent(payment_intent)
            .send(&self.client)
            .await?;
        Ok(made
            .data
            .iter()
            .any(|r| {
                r.metadata
                    .as_ref()
                    .and_then(|m| m.get("request_key"))
                    .is_some_and(|k| k == request_key)
            })
            .then_some(()))
    }

    /// Cancels the intent (releasing an authorisation); already cancelled counts as done.
    pub async fn cancel(&self, payment_intent: &str) -> Result<PaymentIntentSummary, PaymentError> {
        let cancel =
            CancelPaymentIntent::new(payment_intent).expand(vec!["latest_charge".to_owned()]);
        self.idempotent(
            &key(&["cancel", payment_intent]),
            |strategy| {
                let sent = cancel
                    .clone()
                    .customize()
                    .request_strategy(strategy)
                    .send(&self.client);
                async { sent.await.map(PaymentIntentSummary::from) }
            },
            || self.read_back_in(payment_intent, PaymentIntentState::Canceled),
        )
        .await
    }

    /// A dispute as Stripe holds it now.
    pub async fn dispute(&self, dispute: &str) -> Result<DisputeSummary, PaymentError> {
        let dispute = RetrieveDispute::new(dispute).send(&self.client).await?;
        Ok(dispute.into())
    }
}
