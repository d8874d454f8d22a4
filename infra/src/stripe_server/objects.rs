//! The server's state: accounts, PaymentIntents, charges, refunds, transfers and disputes as
//! Stripe objects (`serde_json::Value`s started from Stripe's fixtures), and the transitions
//! between them, on the marketplace's clock.
//!
//! Where Stripe is less kind than a naive stand-in, so is this: an uncaptured authorisation is
//! cancelled 7 days after creation (`cancellation_reason: automatic`, with its event); what a
//! partial capture leaves, and a released authorisation, count as refunded on the charge;
//! transfers follow captures and are reversed in proportion; a disputed charge cannot be
//! refunded; a capture or cancel in the wrong state is `payment_intent_unexpected_state`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use http::StatusCode;
use marketplace::clock::Clock;
use serde_json::{Value, json};

use super::params::Params;
use super::{Answer, Raised, invalid, missing, parameter_missing, stripe_error, unexpected_state};

const FIXTURES: &str = include_str!("../../stripe/fixtures.json");

/// Stripe cancels an uncaptured PaymentIntent this long after its creation (card networks
/// allow less for some, e.g. 4 days 18 hours for merchant-initiated Visa authorisations).
pub const AUTHORIZATION_DAYS: i64 = 7;

fn fixture(kind: &str) -> Value {
    static PARSED: OnceLock<Value> = OnceLock::new();
    let all = PARSED.get_or_init(|| serde_json::from_str(FIXTURES).unwrap_or(Value::Null));
    all["resources"][kind].clone()
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

fn metadata(params: &Params) -> Value {
    json!(params.nested("metadata"))
}

fn list(url: &str, data: Vec<Value>) -> Value {
    json!({"object": "list", "data": data, "has_more": false, "url": url})
}

/// `part / whole` of `amount`, rounded half up: Stripe's proportional fee refunds and
/// transfer reversals.
fn share(amount: i64, part: i64, whole: i64) -> i64 {
    if whole == 0 {
        return 0;
    }
    (amount * part * 2 + whole) / (whole * 2)
}

/// How a confirmation ends, by the test payment method used (Stripe's test names).
enum Outcome {
    Succeeds,
    Declined,
    NeedsAuthentication,
}

pub struct Objects {
    clock: Arc<dyn Clock>,
    /// The API version events are rendered in (on Stripe: the webhook endpoint's).
    event_api_version: String,
    accounts: HashMap<String, Value>,
    payment_intents: HashMap<String, Value>,
    charges: HashMap<String, Value>,
    refunds: Vec<Value>,
    transfers: HashMap<String, Value>,
    disputes: HashMap<String, Value>,
    /// PaymentIntents whose next confirmation stays `processing` until told otherwise.
    processing_next: HashSet<String>,
    /// How long new authorisations can be captured (the charge's `capture_before`).
    authorization_window: i64,
}

impl Objects {
    pub fn new(clock: Arc<dyn Clock>, event_api_version: String) -> Objects {
        Objects {
            clock,
            event_api_version,
            accounts: HashMap::new(),
            payment_intents: HashMap::new(),
            charges: HashMap::new(),
            refunds: Vec::new(),
            transfers: HashMap::new(),
            disputes: HashMap::new(),
            processing_next: HashSet::new(),
            authorization_window: AUTHORIZATION_DAYS * 86_400,
        }
    }

    /// Authorisations made from now on can be captured for `seconds` (the card network's
    /// window), as the charge's `capture_before` then says.
    pub fn set_authorization_window(&mut self, seconds: i64) {
        self.authorization_window = seconds;
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    pub fn event(&self, kind: &str, object: &Value, account: Option<&str>) -> Value {
        let mut event = fixture("event");
        event["id"] = json!(new_id("evt"));
        event["created"] = json!(self.now());
        event["type"] = json!(kind);
        event["api_version"] = json!(self.event_api_version);
        event["data"] = json!({ "object": self.in_event_version(object) });
        event["pending_webhooks"] = json!(1);
        event["request"] = json!({"id": new_id("req"), "idempotency_key": null});
        if let Some(account) = account {
            event["account"] = json!(account);
        }
        event
    }

    /// `object` as an endpoint on another API version receives it: the fields that version
    /// does not have are left out. Standing for any such difference, a PaymentIntent comes
    /// without `confirmation_method`, which the client library's typed parse requires today,
    /// while every field the marketplace reads stays.
    fn in_event_version(&self, object: &Value) -> Value {
        let mut object = object.clone();
        if self.event_api_version != marketplace::payments::api_version()
            && object["object"] == "payment_intent"
            && let Some(fields) = object.as_object_mut()
        {
            fields.remove("confirmation_method");
        }
        object
    }

    /// Raises a platform event about `object`.
    fn raise(&self, events: &mut Raised, kind: &str, object: &Value) {
        events.push((false, self.event(kind, object, None)));
    }

    pub fn account(&self, id: &str) -> Option<Value> {
        self.accounts.get(id).cloned()
    }

    pub fn refunds(&self) -> Vec<Value> {
        self.refunds.clone()
    }

    pub fn transfers(&self) -> Vec<Value> {
        self.transfers.values().cloned().collect()
    }

    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.payment_intents.get(id).cloned()
    }

    pub fn charge(&self, id: &str) -> Option<Value> {
        self.charges.get(id).cloned()
    }

    pub fn dispute(&self, id: &str) -> Option<Value> {
        self.disputes.get(id).cloned()
    }

    /// The PaymentIntent with the fields of `expand` (only `latest_charge` here) as objects.
    pub fn payment_intent_expanded(&self, id: &str, expand: &[String]) -> Option<Value> {
        let mut intent = self.payment_intent(id)?;
        if expand.iter().any(|e| e == "latest_charge")
            && let Some(charge) = intent["latest_charge"]
                .as_str()
                .and_then(|c| self.charges.get(c))
        {
            intent["latest_charge"] = charge.clone();
        }
        Some(intent)
    }

    pub fn create_account(&mut self, params: &Params) -> Answer {
        if params.get("type").is_some_and(|t| t != "express") {
            return invalid("This test server creates Express accounts only");
        }
        let id = new_id("acct");
        let mut account = fixture("account");
        account["id"] = json!(id);
        account["type"] = json!("express");
        account["created"] = json!(self.now());
        account["country"] = json!(params.get("country").unwrap_or("US"));
        account["email"] = json!(params.get("email"));
        account["metadata"] = metadata(params);
        account["charges_enabled"] = json!(false);
        account["payouts_enabled"] = json!(false);
        account["details_submitted"] = json!(false);
        // Only what was asked for is requested; nothing is active before onboarding.
        let mut capabilities = serde_json::Map::new();
        for capability in ["card_payments", "transfers"] {
            if params.flag(&format!("capabilities[{capability}][requested]")) {
                capabilities.insert(capability.to_owned(), json!("inactive"));
            }
        }
        account["capabilities"] = Value::Object(capabilities);
        account["requirements"] = requirements(&["external_account", "tos_acceptance.date"]);
        account["external_accounts"]["url"] = json!(format!("/v1/accounts/{id}/external_accounts"));
        self.accounts.insert(id, account.clone());
        (StatusCode::OK, account)
    }

    /// What Stripe does when the expert finishes onboarding: the requested capabilities turn
    /// active, nothing is due. Returns the `account.updated` event.
    pub fn onboard(&mut self, id: &str) -> Option<Value> {
        let account = self.accounts.get_mut(id)?;
        set_capabilities(account, "active");
        account["details_submitted"] = json!(true);
        account["requirements"] = requirements(&[]);
        let account = account.clone();
        Some(self.event("account.updated", &account, Some(id)))
    }

    /// What Stripe does when information it asked for is overdue: charges and payouts stop
    /// until the expert provides it (`requirement` is listed as past due).
    pub fn restrict(&mut self, id: &str, requirement: &str) -> Option<Value> {
        let account = self.accounts.get_mut(id)?;
        set_capabilities(account, "inactive");
        account["requirements"] = requirements(&[requirement]);
        let account = account.clone();
        Some(self.event("account.updated", &account, Some(id)))
    }

    pub fn create_account_link(&mut self, params: &Params) -> Answer {
        let Some(account) = params.get("account") else {
            return parameter_missing("account");
        };
        if !self.accounts.contains_key(account) {
            return missing("account", account);
        }
        for required in ["refresh_url", "return_url", "type"] {
            if params.get(required).is_none() {
                return parameter_missing(required);
            }
        }
        let mut link = fixture("account_link");
        link["created"] = json!(self.now());
        link["expires_at"] = json!(self.now() + 300);
        link["url"] = json!(format!(
            "https://connect.stripe.test/setup/e/{account}/{}",
            ulid::Ulid::new()
        ));
        (StatusCode::OK, link)
    }

    pub fn create_payment_intent(&mut self, params: &Params, events: &mut Raised) -> Answer {
        let amount = match params.integer("amount") {
            Ok(Some(amount)) if amount > 0 => amount,
            Ok(_) => return parameter_missing("amount"),
            Err(answer) => return answer,
        };
        let Some(currency) = params.get("currency") else {
            return parameter_missing("currency");
        };
        let fee = match params.integer("application_fee_amount") {
            Ok(fee) if fee.is_none_or(|f| (0..=amount).contains(&f)) => fee,
            Ok(_) => return invalid("application_fee_amount must be between 0 and the amount"),
            Err(answer) => return answer,
        };
        let destination = params.get("transfer_data[destination]");
        if let Some(destination) = destination {
            match self.accounts.get(destination) {
                None => return missing("account", destination),
                Some(account) if account["capabilities"]["transfers"] != "active" => {
                    return invalid(
                        "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
                    );
                }
                Some(_) => {}
            }
        }
        let id = new_id("pi");
        let mut intent = fixture("payment_intent");
        intent["id"] = json!(id);
        intent["amount"] = json!(amount);
        intent["amount_capturable"] = json!(0);
        intent["amount_received"] = json!(0);
        intent["application_fee_amount"] = json!(fee);
        intent["capture_method"] = json!(params.get("capture_method").unwrap_or("automatic_async"));
        intent["canceled_at"] = Value::Null;
        intent["cancellation_reason"] = Value::Null;
        intent["client_secret"] = json!(format!("{id}_secret_{}", ulid::Ulid::new()));
        intent["created"] = json!(self.now());
        intent["currency"] = json!(currency);
        intent["last_payment_error"] = Value::Null;
        intent["latest_charge"] = Value::Null;
        intent["metadata"] = metadata(params);
        intent["next_action"] = Value::Null;
        intent["payment_method"] = json!(params.get("payment_method"));
        intent["payment_method_configuration_details"] = Value::Null;
        intent["processing"] = Value::Null;
        intent["shipping"] = Value::Null;
        intent["description"] = json!(params.get("description"));
        intent["transfer_data"] = destination.map_or(Value::Null, |d| json!({"destination": d}));
        intent["status"] = json!(if params.get("payment_method").is_some() {
            "requires_confirmation"
        } else {
            "requires_payment_method"
        });
        self.raise(events, "payment_intent.created", &intent);
        self.payment_intents.insert(id, intent.clone());
        (StatusCode::OK, intent)
    }

    /// The next confirmation of `id` stays `processing` until [`Objects::finish_processing`].
    pub fn process_next_confirmation(&mut self, id: &str) -> bool {
        self.payment_intents.contains_key(id) && self.processing_next.insert(id.to_owned())
    }

    pub fn confirm_payment_intent(
        &mut self,
        id: &str,
        params: &Params,
        events: &mut Raised,
    ) -> Answer {
        let Some(mut intent) = self.payment_intents.get(id).cloned() else {
            return missing("payment_intent", id);
        };
        let status = intent["status"].as_str().unwrap_or_default().to_owned();
        if !["requires_payment_method", "requires_confirmation"].contains(&status.as_str()) {
            return unexpected_state(
                &intent,
                &format!(
                    "You cannot confirm this PaymentIntent because it has a status of {status}."
                ),
            );
        }
        let Some(method) = params
            .get("payment_method")
            .or(intent["payment_method"].as_str())
            .map(str::to_owned)
        else {
            return parameter_missing("payment_method");
        };
        let outcome = match method.as_str() {
            "pm_card_visa" | "pm_card_mastercard" => Outcome::Succeeds,
            "pm_card_chargeDeclined" => Outcome::Declined,
            "pm_card_authenticationRequired" => Outcome::NeedsAuthentication,
            other => return missing("payment_method", other),
        };
        intent["payment_method"] = json!(method);
        match outcome {
            Outcome::Declined => {
                let charge = self.new_charge(&intent, false);
                self.raise(events, "charge.failed", &charge);
                intent["latest_charge"] = json!(charge["id"]);
                let error = json!({
                    "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                    "message": "Your card was declined.", "charge": charge["id"],
                });
                intent["status"] = json!("requires_payment_method");
                intent["last_payment_error"] = error.clone();
                self.raise(events, "payment_intent.payment_failed", &intent);
                self.payment_intents.insert(id.to_owned(), intent.clone());
                let mut body = json!({"error": error});
                body["error"]["payment_intent"] = intent;
                (StatusCode::PAYMENT_REQUIRED, body)
            }
            Outcome::NeedsAuthentication => {
                intent["status"] = json!("requires_action");
                intent["next_action"] = json!({"type": "use_stripe_sdk", "use_stripe_sdk": {}});
                self.raise(events, "payment_intent.requires_action", &intent);
                self.payment_intents.insert(id.to_owned(), intent.clone());
                (StatusCode::OK, intent)
            }
            Outcome::Succeeds if self.processing_next.remove(id) => {
                intent["status"] = json!("processing");
                intent["processing"] = json!({"type": "card"});
                self.raise(events, "payment_intent.processing", &intent);
                self.payment_intents.insert(id.to_owned(), intent.clone());
                (StatusCode::OK, intent)
            }
            Outcome::Succeeds => (StatusCode::OK, self.authorize(intent, events)),
        }
    }

    /// The client passed (or failed) the 3-D Secure challenge of a `requires_action` intent.
    pub fn authenticate(&mut self, id: &str, passed: bool, events: &mut Raised) -> Answer {
        let Some(mut intent) = self.payment_intents.get(id).cloned() else {
            return missing("payment_intent", id);
        };
        if intent["status"] != "requires_action" {
            return unexpected_state(&intent, "This PaymentIntent does not require action.");
        }
        intent["next_action"] = Value::Null;
        if passed {
            return (StatusCode::OK, self.authorize(intent, events));
        }
        intent["status"] = json!("requires_payment_method");
        intent["last_payment_error"] = json!({
            "type": "invalid_request_error", "code": "payment_intent_authentication_failure",
            "message": "The provided PaymentMethod has failed authentication.",
        });
        self.raise(events, "payment_intent.payment_failed", &intent);
        self.payment_intents.insert(id.to_owned(), intent.clone());
        (StatusCode::OK, intent)
    }

    /// A `processing` confirmation completes.
    pub fn finish_processing(&mut self, id: &str, events: &mut Raised) -> Answer {
        let Some(mut intent) = self.payment_intents.get(id).cloned() else {
            return missing("payment_intent", id);
        };
        if intent["status"] != "processing" {
            return unexpected_state(&intent, "This PaymentIntent is not processing.");
        }
        intent["processing"] = Value::Null;
        (StatusCode::OK, self.authorize(intent, events))
    }

    /// The card accepted the payment: held (manual capture, with its capture deadline on the
    /// charge) or charged (and transferred).
    fn authorize(&mut self, mut intent: Value, events: &mut Raised) -> Value {
        let mut charge = self.new_charge(&intent, true);
        intent["latest_charge"] = json!(charge["id"]);
        intent["last_payment_error"] = Value::Null;
        if intent["capture_method"] == "manual" {
            charge["payment_method_details"]["card"]["capture_before"] =
                json!(self.now() + self.authorization_window);
            intent["status"] = json!("requires_capture");
            intent["amount_capturable"] = intent["amount"].clone();
            self.charges.insert(
                charge["id"].as_str().unwrap_or_default().to_owned(),
                charge.clone(),
            );
            self.raise(events, "charge.succeeded", &charge);
            self.raise(events, "payment_intent.amount_capturable_updated", &intent);
        } else {
            intent["status"] = json!("succeeded");
            intent["amount_received"] = intent["amount"].clone();
            let charge = self.transfer_for(charge);
            self.raise(events, "charge.succeeded", &charge);
            self.raise(events, "payment_intent.succeeded", &intent);
        }
        let id = intent["id"].as_str().unwrap_or_default().to_owned();
        self.payment_intents.insert(id, intent.clone());
        intent
    }

    pub fn capture_payment_intent(
        &mut self,
        id: &str,
        params: &Params,
        events: &mut Raised,
    ) -> Answer {
        let Some(mut intent) = self.payment_intents.get(id).cloned() else {
            return missing("payment_intent", id);
        };
        if intent["status"] != "requires_capture" {
            return unexpected_state(
                &intent,
                &format!(
                    "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
                    intent["status"].as_str().unwrap_or_default()
                ),
            );
        }
        let capturable = intent["amount_capturable"].as_i64().unwrap_or_default();
        let amount = match params.integer("amount_to_capture") {
            Ok(None) => capturable,
            Ok(Some(amount)) if (1..=capturable).contains(&amount) => amount,
            Ok(Some(_)) => {
                return invalid("amount_to_capture must be at most the amount capturable");
            }
            Err(answer) => return answer,
        };
        match params.integer("application_fee_amount") {
            Ok(Some(fee)) if (0..=amount).contains(&fee) => {
                intent["application_fee_amount"] = json!(fee)
            }
            Ok(Some(_)) => {
                return invalid("application_fee_amount must not exceed the captured amount");
            }
            Ok(None) => {}
            Err(answer) => return answer,
        }
        // A partial capture caps the fee at the captured amount; it never pro-rates it.
        if intent["application_fee_amount"]
            .as_i64()
            .is_some_and(|fee| fee > amount)
        {
            intent["application_fee_amount"] = json!(amount);
        }
        intent["status"] = json!("succeeded");
        intent["amount_capturable"] = json!(0);
        intent["amount_received"] = json!(amount);
        if let Some(mut charge) = intent["latest_charge"]
            .as_str()
            .and_then(|c| self.charges.get(c))
            .cloned()
        {
            let total = charge["amount"].as_i64().unwrap_or_default();
            charge["captured"] = json!(true);
            charge["amount_captured"] = json!(amount);
            charge["application_fee_amount"] = intent["application_fee_amount"].clone();
            // What is not captured is released, and Stripe shows it as refunded.
            charge["amount_refunded"] = json!(total - amount);
            let charge = self.transfer_for(charge);
            self.raise(events, "charge.captured", &charge);
            if total > amount {
                self.raise(events, "charge.refunded", &charge);
            }
        }
        self.raise(events, "payment_intent.succeeded", &intent);
        self.payment_intents.insert(id.to_owned(), intent.clone());
        (StatusCode::OK, intent)
    }

    pub fn cancel_payment_intent(
        &mut self,
        id: &str,
        reason: Option<&str>,
        events: &mut Raised,
    ) -> Answer {
        let Some(mut intent) = self.payment_intents.get(id).cloned() else {
            return missing("payment_intent", id);
        };
        let status = intent["status"].as_str().unwrap_or_default().to_owned();
        if ![
            "requires_payment_method",
            "requires_capture",
            "requires_confirmation",
            "requires_action",
        ]
        .contains(&status.as_str())
        {
            return unexpected_state(
                &intent,
                &format!(
                    "You cannot cancel this PaymentIntent because it has a status of {status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing."
                ),
            );
        }
        if status == "requires_capture"
            && let Some(charge) = intent["latest_charge"]
                .as_str()
                .and_then(|c| self.charges.get_mut(c))
        {
            // A released authorisation shows as a full refund of the uncaptured charge.
            charge["amount_refunded"] = charge["amount"].clone();
            charge["refunded"] = json!(true);
            let charge = charge.clone();
            self.raise(events, "charge.refunded", &charge);
        }
        intent["status"] = json!("canceled");
        intent["canceled_at"] = json!(self.now());
        intent["cancellation_reason"] = json!(reason);
        intent["amount_capturable"] = json!(0);
        self.raise(events, "payment_intent.canceled", &intent);
        self.payment_intents.insert(id.to_owned(), intent.clone());
        (StatusCode::OK, intent)
    }

    /// Cancels every authorisation whose capture deadline has passed, as Stripe does on its
    /// own: `cancellation_reason: automatic`, with the events.
    pub fn expire_authorizations(&mut self, events: &mut Raised) -> usize {
        let now = self.now();
        let lapsed: Vec<String> = self
            .payment_intents
            .values()
            .filter(|intent| intent["status"] == "requires_capture")
            .filter(|intent| {
                let deadline = intent["latest_charge"]
                    .as_str()
                    .and_then(|c| self.charges.get(c))
                    .and_then(|c| c["payment_method_details"]["card"]["capture_before"].as_i64())
                    .unwrap_or_else(|| {
                        intent["created"].as_i64().unwrap_or_default() + AUTHORIZATION_DAYS * 86_400
                    });
                deadline <= now
            })
            .filter_map(|intent| intent["id"].as_str().map(str::to_owned))
            .collect();
        for id in &lapsed {
            self.cancel_payment_intent(id, Some("automatic"), events);
        }
        lapsed.len()
    }

    pub fn create_refund(&mut self, params: &Params, events: &mut Raised) -> Answer {
        let Some(intent_id) = params.get("payment_intent") else {
            return parameter_missing("payment_intent");
        };
        let Some(intent) = self.payment_intents.get(intent_id).cloned() else {
            return missing("payment_intent", intent_id);
        };
        if intent["status"] != "succeeded" {
            return unexpected_state(
                &intent,
                "This PaymentIntent has not been captured; cancel it instead of refunding.",
            );
        }
        let Some(mut charge) = intent["latest_charge"]
            .as_str()
            .and_then(|c| self.charges.get(c))
            .cloned()
        else {
            return invalid("This PaymentIntent has no charge to refund.");
        };
        if charge["disputed"] == true {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("charge_disputed"),
                &format!(
                    "Charge {} has been disputed; it cannot be refunded.",
                    charge["id"].as_str().unwrap_or_default()
                ),
            );
        }
        let total = charge["amount"].as_i64().unwrap_or_default();
        let captured = charge["amount_captured"].as_i64().unwrap_or_default();
        let released = total - captured;
        let refunded = charge["amount_refunded"].as_i64().unwrap_or_default() - released;
        let amount = match params.integer("amount") {
            Ok(None) => captured - refunded,
            Ok(Some(amount)) if amount > 0 && amount <= captured - refunded => amount,
            Ok(Some(_)) => {
                return stripe_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("charge_already_refunded"),
                    "Refund amount is greater than the unrefunded amount on the charge.",
                );
            }
            Err(answer) => return answer,
        };
        charge["amount_refunded"] = json!(released + refunded + amount);
        charge["refunded"] = json!(released + refunded + amount == total);
        let mut refund = fixture("refund");
        refund["id"] = json!(new_id("re"));
        refund["amount"] = json!(amount);
        refund["charge"] = charge["id"].clone();
        refund["payment_intent"] = json!(intent_id);
        refund["currency"] = intent["currency"].clone();
        refund["created"] = json!(self.now());
        refund["metadata"] = metadata(params);
        refund["status"] = json!("succeeded");
        refund["destination_details"] = Value::Null;
        let reversed = if params.flag("reverse_transfer") {
            self.reverse_transfer(&charge, amount, captured, &refund)
        } else {
            0
        };
        let fee_refunded = if params.flag("refund_application_fee") {
            share(
                charge["application_fee_amount"]
                    .as_i64()
                    .unwrap_or_default(),
                amount,
                captured,
            )
        } else {
            0
        };
        // Not part of Stripe's refund object; kept so tests can see what was moved.
        refund["test_transfer_reversed"] = json!(reversed);
        refund["test_application_fee_refunded"] = json!(fee_refunded);
        self.charges.insert(
            charge["id"].as_str().unwrap_or_default().to_owned(),
            charge.clone(),
        );
        self.raise(events, "charge.refunded", &charge);
        self.raise(events, "refund.created", &refund);
        self.refunds.push(refund.clone());
        (StatusCode::OK, refund)
    }

    /// `GET /v1/refunds?payment_intent=`: the intent's refunds, newest first.
    pub fn list_refunds(&self, params: &Params) -> Answer {
        let data = self
            .refunds
            .iter()
            .rev()
            .filter(|r| {
                params
                    .get("payment_intent")
                    .is_none_or(|p| r["payment_intent"] == p)
            })
            .map(|r| {
                let mut r = r.clone();
                if let Some(object) = r.as_object_mut() {
                    object.retain(|k, _| !k.starts_with("test_"));
                }
                r
            })
            .collect();
        (StatusCode::OK, list("/v1/refunds", data))
    }

    /// Opens a dispute on the intent's charge, as a cardholder's bank does: the funds are
    /// withdrawn at once and the charge can no longer be refunded.
    pub fn open_dispute(&mut self, intent_id: &str, reason: &str, events: &mut Raised) -> Answer {
        let Some(charge_id) = self
            .payment_intents
            .get(intent_id)
            .filter(|i| i["status"] == "succeeded")
            .and_then(|i| i["latest_charge"].as_str())
            .map(str::to_owned)
        else {
            return invalid("Only a captured payment can be disputed.");
        };
        let Some(charge) = self.charges.get_mut(&charge_id) else {
            return missing("charge", &charge_id);
        };
        charge["disputed"] = json!(true);
        let amount = charge["amount_captured"].clone();
        let currency = charge["currency"].clone();
        let mut dispute = fixture("dispute");
        dispute["id"] = json!(new_id("dp"));
        dispute["amount"] = amount.clone();
        dispute["currency"] = currency;
        dispute["charge"] = json!(charge_id);
        dispute["payment_intent"] = json!(intent_id);
        dispute["created"] = json!(self.now());
        dispute["reason"] = json!(reason);
        dispute["status"] = json!("needs_response");
        dispute["is_charge_refundable"] = json!(false);
        dispute["evidence_details"]["due_by"] = json!(self.now() + 14 * 86_400);
        dispute["balance_transactions"] =
            json!([self.balance_transaction(-amount.as_i64().unwrap_or_default(), &dispute)]);
        self.raise(events, "charge.dispute.created", &dispute);
        self.raise(events, "charge.dispute.funds_withdrawn", &dispute);
        let id = dispute["id"].as_str().unwrap_or_default().to_owned();
        self.disputes.insert(id, dispute.clone());
        (StatusCode::OK, dispute)
    }

    /// Moves a dispute along: `under_review` (evidence submitted), `won` or `lost` (closed;
    /// a won dispute's funds are reinstated).
    pub fn settle_dispute(&mut self, id: &str, status: &str, events: &mut Raised) -> Answer {
        let Some(mut dispute) = self.disputes.get(id).cloned() else {
            return missing("dispute", id);
        };
        if !["under_review", "won", "lost"].contains(&status) {
            return invalid("status must be under_review, won or lost");
        }
        dispute["status"] = json!(status);
        match status {
            "under_review" => self.raise(events, "charge.dispute.updated", &dispute),
            closed => {
                if closed == "won" {
                    let amount = dispute["amount"].as_i64().unwrap_or_default();
                    let reinstated = self.balance_transaction(amount, &dispute);
                    if let Some(list) = dispute["balance_transactions"].as_array_mut() {
                        list.push(reinstated);
                    }
                }
                self.raise(events, "charge.dispute.closed", &dispute);
                if closed == "won" {
                    self.raise(events, "charge.dispute.funds_reinstated", &dispute);
                }
            }
        }
        self.disputes.insert(id.to_owned(), dispute.clone());
        (StatusCode::OK, dispute)
    }

    fn balance_transaction(&self, amount: i64, dispute: &Value) -> Value {
        let mut transaction = fixture("balance_transaction");
        transaction["id"] = json!(new_id("txn"));
        transaction["amount"] = json!(amount);
        transaction["net"] = json!(amount);
        transaction["fee"] = json!(0);
        transaction["fee_details"] = json!([]);
        transaction["currency"] = dispute["currency"].clone();
        transaction["created"] = json!(self.now());
        transaction["available_on"] = json!(self.now());
        transaction["source"] = dispute["id"].clone();
        transaction["type"] = json!("adjustment");
        transaction["reporting_category"] = json!(if amount < 0 {
            "dispute"
        } else {
            "dispute_reversal"
        });
        transaction
    }

    fn new_charge(&mut self, intent: &Value, succeeded: bool) -> Value {
        let id = new_id("ch");
        let mut charge = fixture("charge");
        let captured = succeeded && intent["capture_method"] != "manual";
        charge["id"] = json!(id);
        charge["amount"] = intent["amount"].clone();
        charge["amount_captured"] = json!(if captured {
            intent["amount"].clone()
        } else {
            json!(0)
        });
        charge["amount_refunded"] = json!(0);
        charge["application_fee_amount"] = intent["application_fee_amount"].clone();
        charge["captured"] = json!(captured);
        charge["created"] = json!(self.now());
        charge["currency"] = intent["currency"].clone();
        charge["disputed"] = json!(false);
        charge["metadata"] = intent["metadata"].clone();
        charge["paid"] = json!(succeeded);
        charge["payment_intent"] = intent["id"].clone();
        charge["refunded"] = json!(false);
        charge["status"] = json!(if succeeded { "succeeded" } else { "failed" });
        charge["transfer_data"] = intent["transfer_data"].clone();
        charge["transfer"] = Value::Null;
        charge["payment_method_details"]["card"]["capture_before"] = Value::Null;
        self.charges.insert(id, charge.clone());
        charge
    }

    /// A destination charge's transfer of what the platform does not keep, made when the
    /// charge is captured.
    fn transfer_for(&mut self, mut charge: Value) -> Value {
        if let Some(destination) = charge["transfer_data"]["destination"].as_str() {
            let captured = charge["amount_captured"].as_i64().unwrap_or_default();
            let fee = charge["application_fee_amount"]
                .as_i64()
                .unwrap_or_default();
            let mut transfer = fixture("transfer");
            let id = new_id("tr");
            transfer["id"] = json!(id);
            transfer["amount"] = json!(captured - fee);
            transfer["amount_reversed"] = json!(0);
            transfer["currency"] = charge["currency"].clone();
            transfer["destination"] = json!(destination);
            transfer["source_transaction"] = charge["id"].clone();
            transfer["created"] = json!(self.now());
            transfer["reversed"] = json!(false);
            transfer["reversals"] = list(&format!("/v1/transfers/{id}/reversals"), Vec::new());
            charge["transfer"] = json!(id);
            self.transfers.insert(id, transfer);
        }
        let id = charge["id"].as_str().unwrap_or_default().to_owned();
        self.charges.insert(id, charge.clone());
        charge
    }

    /// Pulls back the expert's share of a refund of `amount` out of `captured`; answers what was
    /// reversed.
    fn reverse_transfer(
        &mut self,
        charge: &Value,
        amount: i64,
        captured: i64,
        refund: &Value,
    ) -> i64 {
        let Some(transfer) = charge["transfer"]
            .as_str()
            .and_then(|t| self.transfers.get_mut(t))
        else {
            return 0;
        };
        let transferred = transfer["amount"].as_i64().unwrap_or_default();
        let already = transfer["amount_reversed"].as_i64().unwrap_or_default();
        let reversed = share(transferred, amount, captured).min(transferred - already);
        let mut reversal = fixture("transfer_reversal");
        reversal["id"] = json!(new_id("trr"));
        reversal["amount"] = json!(reversed);
        reversal["transfer"] = transfer["id"].clone();
        reversal["source_refund"] = refund["id"].clone();
        transfer["amount_reversed"] = json!(already + reversed);
        transfer["reversed"] = json!(already + reversed == transferred);
        if let Some(data) = transfer["reversals"]["data"].as_array_mut() {
            data.push(reversal);
        }
        reversed
    }
}

/// An account's `requirements` with `due` past due (and the account disabled for it).
fn requirements(due: &[&str]) -> Value {
    json!({
        "alternatives": [], "current_deadline": null, "currently_due": due,
        "disabled_reason": if due.is_empty() { Value::Null } else { json!("requirements.past_due") },
        "errors": [], "eventually_due": due, "past_due": due, "pending_verification": [],
    })
}

/// Sets every requested capability to `status`; charges follow `card_payments`, payouts
/// follow `transfers`.
fn set_capabilities(account: &mut Value, status: &str) {
    if let Some(capabilities) = account["capabilities"].as_object_mut() {
        for value in capabilities.values_mut() {
            *value = json!(status);
        }
    }
    account["charges_enabled"] = json!(account["capabilities"]["card_payments"] == "active");
    account["payouts_enabled"] = json!(account["capabilities"]["transfers"] == "active");
}
