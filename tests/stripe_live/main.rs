//! Opt-in: the Stripe adapter against Stripe's own test mode, with a real test key.
//!
//!     STRIPE_SECRET_KEY=sk_test_... STRIPE_TEST_DESTINATION=acct_... \
//!       cargo test -p end-to-end --features stripe-live
//!
//! CI compiles these (`cargo check --features stripe-live`) but cannot run them: it has no key
//! and no route to Stripe. Express accounts cannot finish onboarding without a person, so the
//! money test pays `STRIPE_TEST_DESTINATION`: a connected account of the same platform, in
//! test mode, with `transfers` active (onboarded once by hand with Stripe's test data).

use marketplace::booking::platform_fee;
use marketplace::ids::{AppointmentId, ExpertId};
use marketplace::money::{Currency, Money};
use marketplace::payments::{
    AuthorizationRequest, CaptureTiming, PaymentError, PaymentIntentState, StripeGateway,
    StripeSettings,
};
use serde_json::Value;

fn key() -> String {
    let key = std::env::var("STRIPE_SECRET_KEY")
        .expect("this opt-in test needs STRIPE_SECRET_KEY=sk_test_... (see the file's header)");
    assert!(
        key.starts_with("sk_test_"),
        "only ever run with a test-mode key"
    );
    key
}

fn gateway() -> StripeGateway {
    StripeGateway::new(&StripeSettings {
        secret_key: key().into(),
        api_base: None,
    })
    .unwrap()
}

/// A request as a browser (Stripe.js) or the dashboard would make it, outside the adapter.
async fn stripe(method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> Value {
    let response = reqwest::Client::new()
        .request(method, format!("https://api.stripe.com{path}"))
        .basic_auth(key(), Some(""))
        .form(form)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn accounts_and_onboarding_links_work_against_stripe_test_mode() {
    let gateway = gateway();
    let expert = ExpertId::new();
    let account = gateway
        .create_express_account(expert, Some("expert@example.com"))
        .await
        .unwrap();
    assert!(account.starts_with("acct_"));
    let again = gateway
        .create_express_account(expert, Some("expert@example.com"))
        .await
        .unwrap();
    assert_eq!(
        again, account,
        "one account per expert, whatever the retries"
    );
    let link = gateway
        .onboarding_link(
            &account,
            "https://example.com/refresh",
            "https://example.com/done",
        )
        .await
        .unwrap();
    assert!(link.starts_with("https://"));
    let state = gateway.account_state(&account).await.unwrap();
    assert!(!state.charges_enabled);
    let requested = stripe(
        reqwest::Method::GET,
        &format!("/v1/accounts/{account}"),
        &[],
    )
    .await;
    for capability in ["card_payments", "transfers"] {
        assert!(
            requested["capabilities"][capability].is_string(),
            "{capability} requested: {}",
            requested["capabilities"]
        );
    }
    let refused = gateway
        .authorize(&AuthorizationRequest {
            appointment_id: AppointmentId::new(),
            amount: Money::new(5_000, Currency::Usd),
            application_fee: Money::new(500, Currency::Usd),
            destination_account: account,
            capture: CaptureTiming::AfterSession,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(refused, PaymentError::Refused { .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_held_payment_is_confirmed_captured_in_part_with_its_fee_and_refunded_with_reversal() {
    let destination = std::env::var("STRIPE_TEST_DESTINATION")
        .expect("this opt-in test needs STRIPE_TEST_DESTINATION=acct_... (see the file's header)");
    let gateway = gateway();
    let appointment = AppointmentId::new();
    let created = gateway
        .authorize(&AuthorizationRequest {
            appointment_id: appointment,
            amount: Money::new(5_000, Currency::Usd),
            application_fee: Money::new(500, Currency::Usd),
            destination_account: destination.clone(),
            capture: CaptureTiming::AfterSession,
        })
        .await
        .unwrap();
    assert_eq!(created.appointment_id, Some(appointment.to_string()));
    assert_eq!(created.destination.as_deref(), Some(destination.as_str()));
    // What Stripe.js does with the client secret.
    stripe(
        reqwest::Method::POST,
        &format!("/v1/payment_intents/{}/confirm", created.id),
        &[
            ("payment_method", "pm_card_visa"),
            ("return_url", "https://example.com/return"),
        ],
    )
    .await;
    let held = gateway.retrieve(&created.id).await.unwrap();
    assert_eq!(held.state, PaymentIntentState::Authorized);
    let deadline = held.capture_deadline().expect("a capture deadline");
    assert!(
        held.charge
            .as_ref()
            .and_then(|c| c.capture_before)
            .is_some(),
        "Stripe gives the charge's own deadline: {deadline}"
    );
    // A cancellation inside the partial-refund window: 3,000 kept, the fee recomputed on it.
    let kept = 3_000;
    let captured = gateway
        .capture(&created.id, kept, platform_fee(kept))
        .await
        .unwrap();
    assert_eq!(captured.state, PaymentIntentState::Captured);
    assert_eq!(captured.amount_received, kept);
    assert_eq!(captured.application_fee_amount, Some(300));
    gateway.refund(&created.id, Some(1_000)).await.unwrap();
    let refunded = gateway.retrieve(&created.id).await.unwrap();
    assert_eq!(
        refunded.refunded(),
        1_000,
        "the released 2,000 is no refund"
    );
    let charge = refunded.charge.unwrap().id;
    let expanded = stripe(
        reqwest::Method::GET,
        &format!("/v1/charges/{charge}?expand[]=transfer&expand[]=application_fee"),
        &[],
    )
    .await;
    // The expert's 2,700 and the platform's 300, each reversed by a third.
    assert_eq!(expanded["transfer"]["amount"], 2_700);
    assert_eq!(expanded["transfer"]["amount_reversed"], 900);
    assert_eq!(expanded["application_fee"]["amount_refunded"], 100);
}
