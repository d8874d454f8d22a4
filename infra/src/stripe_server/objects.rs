//! The server's state: accounts, PaymentIntents, charges and refunds as Stripe objects
//! (`serde_json::Value`s started from Stripe's fixtures), and the transitions between them.

use std::collections::HashMap;
use std::sync::OnceLock;

use http::StatusCode;
use serde_json::{Value, json};

use super::params::Params;
use super::{Raised, invalid, missing, stripe_error};

const FIXTURES: &str = include_str!("../../stripe/fixtures.json");

/// The API version events claim: the one the client library speaks.
fn api_version() -> &'static str {
    marketplace::payments::api_version()
}

fn fixture(kind: &str) -> Value {
    static PARSED: OnceLock<Value> = OnceLock::new();
    let all = PARSED.get_or_init(|| serde_json::from_str(FIXTURES).unwrap_or(Value::Null));
    all["resources"][kind].clone()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

fn metadata(params: &Params) -> Value {
    json!(params.nested("metadata"))
}

#[derive(Default)]
pub struct Objects {
    accounts: HashMap<String, Value>,
    payment_intents: HashMap<String, Value>,
    charges: HashMap<String, Value>,
    refunds: Vec<Value>,
}

pub fn event(kind: &str, object: &Value, account: Option<&str>) -> Value {
    let mut event = fixture("event");
    event["id"] = json!(new_id("evt"));
    event["created"] = json!(now());
    event["type"] = json!(kind);
    event["api_version"] = json!(api_version());
    event["data"] = json!({ "object": object });
    event["pending_webhooks"] = json!(1);
    event["request"] = json!({"id": new_id("req"), "idempotency_key": null});
    if let Some(account) = account {
        event["account"] = json!(account);
    }
    event
}

impl Objects {
    pub fn account(&self, id: &str) -> Option<Value> {
        self.accounts.get(id).cloned()
    }

    pub fn refunds(&self) -> Vec<Value> {
        self.refunds.clone()
    }

    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.payment_intents.get(id).cloned()
    }

    pub fn create_account(&mut self, params: &Params) -> (StatusCode, Value) {
        if params.get("type").is_some_and(|t| t != "express") {
            return invalid("This test server creates Express accounts only");
        }
        let id = new_id("acct");
        let mut account = fixture("account");
        account["id"] = json!(id);
        account["type"] = json!("express");
        account["created"] = json!(now());
        account["country"] = json!(params.get("country").unwrap_or("US"));
        account["email"] = json!(params.get("email"));
        account["metadata"] = metadata(params);
        account["charges_enabled"] = json!(false);
        account["payouts_enabled"] = json!(false);
        account["details_submitted"] = json!(false);
        account["capabilities"] = json!({"card_payments": "inactive", "transfers": "inactive"});
        account["external_accounts"]["url"] = json!(format!("/v1/accounts/{id}/external_accounts"));
        self.accounts.insert(id, account.clone());
        (StatusCode::OK, account)
    }

    /// What Stripe does when the expert finishes onboarding.
    pub fn onboard(&mut self, id: &str) -> Option<(Value, Value)> {
        let account = self.accounts.get_mut(id)?;
        account["charges_enabled"] = json!(true);
        account["payouts_enabled"] = json!(true);
        account["details_submitted"] = json!(true);
        account["capabilities"] = json!({"card_payments": "active", "transfers": "active"});
        let event = event("account.updated", account, Some(id));
        Some((account.clone(), event))
    }

    pub fn create_account_link(&mut self, params: &Params) -> (StatusCode, Value) {
        let Some(account) = params.get("account") else {
            return invalid("Missing required param: account.");
        };
        if !self.accounts.contains_key(account) {
            return missing("account", account);
        }
        for required in ["refresh_url", "return_url", "type"] {
            if params.get(required).is_none() {
                return invalid(&format!("Missing required param: {required}."));
            }
        }
        let mut link = fixture("account_link");
        link["created"] = json!(now());
        link["expires_at"] = json!(now() + 300);
        link["url"] = json!(format!(
            "https://connect.stripe.test/setup/e/{account}/{}",
            ulid::Ulid::new()
        ));
        (StatusCode::OK, link)
    }

    pub fn create_payment_intent(&mut self, params: &Params) -> (StatusCode, Value) {
        let amount = match params.integer("amount") {
            Ok(Some(amount)) if amount > 0 => amount,
            Ok(_) => return invalid("Missing required param: amount."),
            Err(message) => return invalid(&message),
        };
        let Some(currency) = params.get("currency") else {
            return invalid("Missing required param: currency.");
        };
        let fee = match params.integer("application_fee_amount") {
            Ok(fee) if fee.is_none_or(|f| (0..=amount).contains(&f)) => fee,
            Ok(_) => return invalid("application_fee_amount must be between 0 and the amount"),
            Err(message) => return invalid(&message),
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
        intent["created"] = json!(now());
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
        self.payment_intents.insert(id, intent.clone());
        (StatusCode::OK, intent)
    }

    pub fn confirm_payment_intent(
        &mut self,
        id: &str,
        params: &Params,
        events: &mut Raised,
    ) -> (StatusCode, Value) {
        let Some(intent) = self.payment_intents.get(id).cloned() else {
            return missing("payment_intent", id);
        };
        let status = intent["status"].as_str().unwrap_or_default().to_owned();
        if !["requires_payment_method", "requires_confirmation"].contains(&status.as_str()) {
            return invalid(&format!(
                "You cannot confirm this PaymentIntent because it has a status of {status}."
            ));
        }
        let Some(method) = params
            .get("payment_method")
            .or(intent["payment_method"].as_str())
            .map(str::to_owned)
        else {
            return invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
            );
        };
        let declined = match method.as_str() {
            "pm_card_visa" | "pm_card_mastercard" => false,
            "pm_card_chargeDeclined" => true,
            other => return missing("payment_method", other),
        };
        let mut intent = intent;
        let charge = self.new_charge(&intent, !declined);
        intent["payment_method"] = json!(method);
        intent["latest_charge"] = json!(charge["id"]);
        if declined {
            let error = json!({
                "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                "message": "Your card was declined.", "charge": charge["id"],
            });
            intent["status"] = json!("requires_payment_method");
            intent["last_payment_error"] = error.clone();
            events.push((false, event("payment_intent.payment_failed", &intent, None)));
            self.payment_intents.insert(id.to_owned(), intent.clone());
            let mut body = json!({"error": error});
            body["error"]["payment_intent"] = intent;
            return (StatusCode::PAYMENT_REQUIRED, body);
        }
        intent["last_payment_error"] = Value::Null;
        if intent["capture_method"] == "manual" {
            intent["status"] = json!("requires_capture");
            intent["amount_capturable"] = intent["amount"].clone();
            events.push((
                false,
                event("payment_intent.amount_capturable_updated", &intent, None),
            ));
        } else {
            intent["status"] = json!("succeeded");
            intent["amount_received"] = intent["amount"].clone();
            events.push((false, event("payment_intent.succeeded", &intent, None)));
        }
        self.payment_intents.insert(id.to_owned(), intent.clone());
        (StatusCode::OK, intent)
    }

    pub fn capture_payment_intent(
        &mut self,
        id: &str,
        params: &Params,
        events: &mut Raised,
    ) -> (StatusCode, Value) {
        let Some(mut intent) = self.payment_intents.get(id).cloned() else {
            return missing("payment_intent", id);
        };
        if intent["status"] != "requires_capture" {
            return invalid(&format!(
                "This PaymentIntent could not be captured because it has a status of {}.",
                intent["status"].as_str().unwrap_or_default()
            ));
        }
        let capturable = intent["amount_capturable"].as_i64().unwrap_or_default();
        let amount = match params.integer("amount_to_capture") {
            Ok(None) => capturable,
            Ok(Some(amount)) if (1..=capturable).contains(&amount) => amount,
            Ok(Some(_)) => {
                return invalid("amount_to_capture must be at most the amount capturable");
            }
            Err(message) => return invalid(&message),
        };
        match params.integer("application_fee_amount") {
            Ok(Some(fee)) if (0..=amount).contains(&fee) => {
                intent["application_fee_amount"] = json!(fee)
            }
            Ok(Some(_)) => {
                return invalid("application_fee_amount must not exceed the captured amount");
            }
            Ok(None) => {}
            Err(message) => return invalid(&message),
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
        if let Some(charge) = intent["latest_charge"]
            .as_str()
            .and_then(|c| self.charges.get_mut(c))
        {
            charge["captured"] = json!(true);
            charge["amount_captured"] = json!(amount);
            charge["application_fee_amount"] = intent["application_fee_amount"].clone();
        }
        events.push((false, event("payment_intent.succeeded", &intent, None)));
        self.payment_intents.insert(id.to_owned(), intent.clone());
        (StatusCode::OK, intent)
    }

    pub fn cancel_payment_intent(
        &mut self,
        id: &str,
        params: &Params,
        events: &mut Raised,
    ) -> (StatusCode, Value) {
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
            return invalid(&format!(
                "You cannot cancel this PaymentIntent because it has a status of {status}."
            ));
        }
        intent["status"] = json!("canceled");
        intent["canceled_at"] = json!(now());
        intent["cancellation_reason"] = json!(params.get("cancellation_reason"));
        intent["amount_capturable"] = json!(0);
        events.push((false, event("payment_intent.canceled", &intent, None)));
        self.payment_intents.insert(id.to_owned(), intent.clone());
        (StatusCode::OK, intent)
    }

    pub fn create_refund(&mut self, params: &Params, events: &mut Raised) -> (StatusCode, Value) {
        let Some(intent_id) = params.get("payment_intent") else {
            return invalid("Missing required param: payment_intent.");
        };
        let Some(intent) = self.payment_intents.get(intent_id).cloned() else {
            return missing("payment_intent", intent_id);
        };
        if intent["status"] != "succeeded" {
            return invalid(
                "This PaymentIntent has not been captured; cancel it instead of refunding.",
            );
        }
        let Some(charge) = intent["latest_charge"]
            .as_str()
            .and_then(|c| self.charges.get_mut(c))
        else {
            return invalid("This PaymentIntent has no charge to refund.");
        };
        let captured = charge["amount_captured"].as_i64().unwrap_or_default();
        let refunded = charge["amount_refunded"].as_i64().unwrap_or_default();
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
            Err(message) => return invalid(&message),
        };
        charge["amount_refunded"] = json!(refunded + amount);
        charge["refunded"] = json!(refunded + amount == captured);
        let charge = charge.clone();
        let mut refund = fixture("refund");
        refund["id"] = json!(new_id("re"));
        refund["amount"] = json!(amount);
        refund["charge"] = charge["id"].clone();
        refund["payment_intent"] = json!(intent_id);
        refund["currency"] = intent["currency"].clone();
        refund["created"] = json!(now());
        refund["metadata"] = metadata(params);
        refund["status"] = json!("succeeded");
        refund["destination_details"] = Value::Null;
        // Not part of Stripe's refund object; kept so tests can see what was asked for.
        refund["metadata"]["test_refund_application_fee"] =
            json!(params.flag("refund_application_fee").to_string());
        refund["metadata"]["test_reverse_transfer"] =
            json!(params.flag("reverse_transfer").to_string());
        events.push((false, event("charge.refunded", &charge, None)));
        self.refunds.push(refund.clone());
        (StatusCode::OK, refund)
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
        charge["created"] = json!(now());
        charge["currency"] = intent["currency"].clone();
        charge["metadata"] = intent["metadata"].clone();
        charge["paid"] = json!(succeeded);
        charge["payment_intent"] = intent["id"].clone();
        charge["refunded"] = json!(false);
        charge["status"] = json!(if succeeded { "succeeded" } else { "failed" });
        charge["transfer_data"] = intent["transfer_data"].clone();
        self.charges.insert(id, charge.clone());
        charge
    }
}
