//! Opt-in: the Stripe adapter against Stripe's own test mode, with a real test key.
//!
//!     STRIPE_SECRET_KEY=sk_test_... cargo test -p end-to-end --features stripe-live
//!
//! Not built without the feature (CI has no key and no route to Stripe). Express accounts
//! cannot finish onboarding without a person, so this covers what can be automated: account
//! creation (and its idempotency), onboarding links, reading the account back, and a
//! destination charge to a not-yet-onboarded account refused as a refusal, not an outage.

use marketplace::ids::{AppointmentId, ExpertId};
use marketplace::money::{Currency, Money};
use marketplace::payments::{
    AuthorizationRequest, CaptureTiming, PaymentError, StripeGateway, StripeSettings,
};

#[tokio::test]
async fn the_stripe_adapter_works_against_stripe_test_mode() {
    let key = std::env::var("STRIPE_SECRET_KEY")
        .expect("this opt-in test needs STRIPE_SECRET_KEY=sk_test_... (see the file's header)");
    assert!(
        key.starts_with("sk_test_"),
        "only ever run with a test-mode key"
    );
    let gateway = StripeGateway::new(&StripeSettings {
        secret_key: key,
        api_base: None,
    })
    .unwrap();
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
