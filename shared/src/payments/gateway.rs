//! The Stripe adapter: the few calls the marketplace makes, each with an Idempotency-Key where
//! it creates or moves money, and Stripe's answers reduced to what the domain needs.

use std::collections::HashMap;

use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_connect::account::{CreateAccount, CreateAccountType, RetrieveAccount};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CapturePaymentIntent, CreatePaymentIntent,
    CreatePaymentIntentTransferData, RetrievePaymentIntent,
};
use stripe_core::refund::CreateRefund;
use stripe_core::{PaymentIntent, PaymentIntentCaptureMethod, PaymentIntentStatus};

use crate::experts::PayoutState;
use crate::ids::{AppointmentId, ExpertId};
use crate::money::Money;

/// Where Stripe is and how to reach it; read once per cold start.
#[derive(Clone, Debug)]
pub struct StripeSettings {
    pub secret_key: String,
    /// `None` for Stripe itself; our test server's URL locally.
    pub api_base: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Stripe refused the request (4xx): a declined card, a bad parameter.
    #[error("Stripe refused the request ({status}): {message}")]
    Refused {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// Stripe could not be reached or failed (5xx, timeouts, unreadable answers).
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
}

impl From<StripeError> for PaymentError {
    fn from(error: StripeError) -> Self {
        match error {
            StripeError::Stripe(errors, status) if status < 500 => PaymentError::Refused {
                status,
                code: errors.code.as_ref().map(|c| c.as_str().to_owned()),
                message: errors.message.clone().unwrap_or_default(),
            },
            other => PaymentError::Unavailable(other.to_string()),
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentIntentState {
    /// Waiting for the client's card (or a retry after a decline).
    AwaitingPayment,
    /// Authorised; the money can be captured.
    Authorized,
    Captured,
    Canceled,
    /// Any state we do not act on (processing, requires_action).
    InProgress,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PaymentIntentSummary {
    pub id: String,
    pub client_secret: Option<String>,
    pub state: PaymentIntentState,
    pub amount: i64,
    pub application_fee_amount: Option<i64>,
    pub amount_capturable: i64,
    pub amount_received: i64,
}

impl From<PaymentIntent> for PaymentIntentSummary {
    fn from(intent: PaymentIntent) -> Self {
        let state = match intent.status {
            PaymentIntentStatus::RequiresPaymentMethod
            | PaymentIntentStatus::RequiresConfirmation => PaymentIntentState::AwaitingPayment,
            PaymentIntentStatus::RequiresCapture => PaymentIntentState::Authorized,
            PaymentIntentStatus::Succeeded => PaymentIntentState::Captured,
            PaymentIntentStatus::Canceled => PaymentIntentState::Canceled,
            _ => PaymentIntentState::InProgress,
        };
        PaymentIntentSummary {
            id: intent.id.as_str().to_owned(),
            client_secret: intent.client_secret,
            state,
            amount: intent.amount,
            application_fee_amount: intent.application_fee_amount,
            amount_capturable: intent.amount_capturable,
            amount_received: intent.amount_received,
        }
    }
}

/// The Stripe client, built once per cold start.
#[derive(Clone)]
pub struct StripeGateway {
    client: Client,
}

/// Idempotency keys derived from what they protect, so a retry anywhere (a replayed booking, a
/// sweep after a crash) reaches the same Stripe object.
fn key(parts: &[&str]) -> Result<RequestStrategy, PaymentError> {
    IdempotencyKey::new(parts.join("-"))
        .map(RequestStrategy::Idempotent)
        .map_err(|e| PaymentError::Unavailable(e.to_string()))
}

impl StripeGateway {
    pub fn new(settings: &StripeSettings) -> Result<StripeGateway, PaymentError> {
        let mut builder = ClientBuilder::new(settings.secret_key.clone());
        if let Some(base) = &settings.api_base {
            builder = builder.url(base.clone());
        }
        let client = builder
            .build()
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        Ok(StripeGateway { client })
    }

    /// A Connect Express account for the expert (once: the key is the expert's id).
    pub async fn create_express_account(
        &self,
        expert: ExpertId,
        email: Option<&str>,
    ) -> Result<String, PaymentError> {
        let mut request = CreateAccount::new()
            .type_(CreateAccountType::Express)
            .metadata(HashMap::from([(
                "expert_id".to_owned(),
                expert.to_string(),
            )]));
        if let Some(email) = email {
            request = request.email(email);
        }
        let account = request
            .customize()
            .request_strategy(key(&["account", &expert.to_string()])?)
            .send(&self.client)
            .await?;
        Ok(account.id.as_str().to_owned())
    }

    /// Whether the account can take charges and receive payouts, as Stripe says now.
    pub async fn account_state(&self, account: &str) -> Result<PayoutState, PaymentError> {
        let account = RetrieveAccount::new(account).send(&self.client).await?;
        Ok(PayoutState {
            charges_enabled: account.charges_enabled.unwrap_or(false),
            payouts_enabled: account.payouts_enabled.unwrap_or(false),
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
            .map_err(|_| PaymentError::Unavailable("unknown currency".into()))?;
        let appointment = request.appointment_id.to_string();
        let intent = CreatePaymentIntent::new(request.amount.amount, currency)
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
            )]))
            .customize()
            .request_strategy(key(&["authorize", &appointment])?)
            .send(&self.client)
            .await?;
        Ok(intent.into())
    }

    pub async fn retrieve(
        &self,
        payment_intent: &str,
    ) -> Result<PaymentIntentSummary, PaymentError> {
        Ok(RetrievePaymentIntent::new(payment_intent)
            .send(&self.client)
            .await?
            .into())
    }

    /// Captures `amount` with its recomputed fee: Stripe caps a partial capture's fee but
    /// does not pro-rate it.
    pub async fn capture(
        &self,
        payment_intent: &str,
        amount: i64,
        application_fee: i64,
    ) -> Result<PaymentIntentSummary, PaymentError> {
        Ok(CapturePaymentIntent::new(payment_intent)
            .amount_to_capture(amount)
            .application_fee_amount(application_fee)
            .customize()
            .request_strategy(key(&["capture", payment_intent, &amount.to_string()])?)
            .send(&self.client)
            .await?
            .into())
    }

    /// Refunds `amount` (everything left when `None`), pulling back the expert's transfer and
    /// the platform fee in proportion.
    pub async fn refund(
        &self,
        payment_intent: &str,
        amount: Option<i64>,
    ) -> Result<(), PaymentError> {
        let mut request = CreateRefund::new()
            .payment_intent(payment_intent)
            .refund_application_fee(true)
            .reverse_transfer(true);
        if let Some(amount) = amount {
            request = request.amount(amount);
        }
        let which = amount.map_or_else(|| "rest".to_owned(), |a| a.to_string());
        request
            .customize()
            .request_strategy(key(&["refund", payment_intent, &which])?)
            .send(&self.client)
            .await?;
        Ok(())
    }

    pub async fn cancel(&self, payment_intent: &str) -> Result<PaymentIntentSummary, PaymentError> {
        Ok(CancelPaymentIntent::new(payment_intent)
            .customize()
            .request_strategy(key(&["cancel", payment_intent])?)
            .send(&self.client)
            .await?
            .into())
    }
}
