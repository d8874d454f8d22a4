//! An appointment's payment: its PaymentIntent id (stored once, as soon as Stripe made it),
//! its payment fields on the appointment (capture deadline, early capture, incident, dispute)
//! with the sweep index they decide, written only over the version they were computed from,
//! and its payment record (`APPT#<id>` / `PAYMENT`), the
//! figures earnings are summed from. The record only moves forward in the PaymentIntent's
//! life (a rank of state and refunds), so stale reads and reordered events cannot undo it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem, Update};

use super::appointments::{BUMP_VERSION, due_keys, unchanged_since_read};
use super::{DynamoStore, conditional, keys, number, string};
use crate::booking::{Appointment, PaymentRecord};
use crate::events::DomainEvent;
use crate::ids::AppointmentId;
use crate::payments::PaymentIntentSummary;
use crate::store::StoreError;

fn value(key: &str, of: &impl serde::Serialize) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(of).map_err(|e| StoreError::corrupt(key, e))
}

/// Refunds stay below this many minor units, so a rank orders state first, then refunds.
const RANK_STATE_STEP: i64 = 10_000_000_000_000;

impl DynamoStore {
    /// Stores the appointment's PaymentIntent id, once: `Ok(false)` if another one is stored.
    pub async fn set_payment_intent(
        &self,
        appointment: AppointmentId,
        payment_intent: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::appointment(&appointment)))
            .key(keys::SK, string(keys::APPOINTMENT))
            .update_expression(format!("SET payment_intent = :intent{BUMP_VERSION}"))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(payment_intent) OR payment_intent = :intent)",
            )
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":intent", string(payment_intent))
            .expression_attribute_values(":one", number(1))
            .send()
            .await;
        conditional(result)
    }

    /// Writes the appointment's payment fields (capture deadline, early capture, incident,
    /// dispute) and the sweep index they decide, only if nothing was written since `read`
    /// (its version): so a change computed from that read never undoes another writer's. A
    /// changed dispute goes onto the payment record too, and `events` into the outbox, all
    /// or nothing. `Ok(false)`: something was written meanwhile; read again and retry.
    pub async fn save_payment_state(
        &self,
        appointment: &Appointment,
        read: &Appointment,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError> {
        let key = keys::appointment(&appointment.id);
        let build_error = |e| StoreError::request("TransactWriteItems", e);
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, string(&key))
            .key(keys::SK, string(keys::APPOINTMENT))
            .condition_expression(unchanged_since_read(read.version))
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":read", number(read.version))
            .expression_attribute_values(":one", number(1));
        let fields: [(&str, Option<AttributeValue>); 4] = [
            (
                "capture_deadline",
                appointment
                    .capture_deadline
                    .map(|d| value(&key, &d))
                    .transpose()?,
            ),
            (
                "captured_at",
                appointment
                    .captured_at
                    .map(|d| value(&key, &d))
                    .transpose()?,
            ),
            (
                "payment_incident",
                appointment
                    .payment_incident
                    .as_ref()
                    .map(|i| value(&key, i))
                    .transpose()?,
            ),
            (
                "dispute",
                appointment
                    .dispute
                    .as_ref()
                    .map(|d| value(&key, d))
                    .transpose()?,
            ),
        ];
        for (name, field) in fields {
            match field {
                Some(field) => {
                    set.push(format!("{name} = :{name}"));
                    update = update.expression_attribute_values(format!(":{name}"), field);
                }
                None => remove.push(name.to_owned()),
            }
        }
        match appointment.sweep_due() {
            Some(due) => {
                let (pk, sk) = due_keys(due, &appointment.id);
                set.push(format!(
                    "{} = :due_pk, {} = :due_sk",
                    keys::GSI_DUE_PK,
                    keys::GSI_DUE_SK
                ));
                update = update
                    .expression_attribute_values(":due_pk", string(pk))
                    .expression_attribute_values(":due_sk", string(sk));
            }
            None => remove.extend([keys::GSI_DUE_PK.to_owned(), keys::GSI_DUE_SK.to_owned()]),
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        expression.push_str(BUMP_VERSION);
        let mut items = vec![
            TransactWriteItem::builder()
                .update(
                    update
                        .update_expression(expression)
                        .build()
                        .map_err(build_error)?,
                )
                .build(),
        ];
        if let Some(dispute) = appointment
            .dispute
            .as_ref()
            .filter(|_| appointment.dispute != read.dispute)
        {
            items.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .key(keys::PK, string(&key))
                            .key(keys::SK, string(keys::PAYMENT))
                            .update_expression(
                                "SET dispute_status = :status, dispute_amount = :amount, \
                                 dispute_withdrawn = :withdrawn, dispute_reinstated = :reinstated",
                            )
                            .expression_attribute_values(":status", string(&dispute.status))
                            .expression_attribute_values(":amount", number(dispute.amount.amount))
                            .expression_attribute_values(":withdrawn", number(dispute.withdrawn))
                            .expression_attribute_values(":reinstated", number(dispute.reinstated))
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            );
        }
        for event in events {
            items.push(self.outbox_entry(event)?);
        }
        self.transact_conditional(items).await
    }

    /// The appointment's payment record as `intent` (read back from Stripe) shows it, unless
    /// the stored record is further along already.
    pub async fn record_payment(
        &self,
        appointment: AppointmentId,
        intent: &PaymentIntentSummary,
    ) -> Result<(), StoreError> {
        let refunded = intent.refunded();
        let rank = intent.state.rank() * RANK_STATE_STEP + refunded;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::appointment(&appointment)))
            .key(keys::SK, string(keys::PAYMENT))
            .update_expression(
                "SET payment_intent = :intent, #state = :state, amount = :amount, \
                 application_fee_amount = :fee, amount_capturable = :capturable, \
                 amount_received = :received, amount_refunded = :refunded, #rank = :rank",
            )
            .condition_expression("attribute_not_exists(#rank) OR #rank <= :rank")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#rank", "rank")
            .expression_attribute_values(":intent", string(&intent.id))
            .expression_attribute_values(":state", string(intent.state.name()))
            .expression_attribute_values(":amount", number(intent.amount))
            .expression_attribute_values(
                ":fee",
                intent
                    .application_fee_amount
                    .map_or(AttributeValue::Null(true), number),
            )
            .expression_attribute_values(":capturable", number(intent.amount_capturable))
            .expression_attribute_values(":received", number(intent.amount_received))
            .expression_attribute_values(":refunded", number(refunded))
            .expression_attribute_values(":rank", number(rank))
            .send()
            .await;
        // Refused because the stored record is further along: no error.
        conditional(result).map(drop)
    }

    /// The payment record of one appointment.
    pub async fn payment_record(
        &self,
        appointment: AppointmentId,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.get_record(&keys::appointment(&appointment), keys::PAYMENT)
            .await
    }

    /// The payment records of many appointments, 100 per BatchGetItem, retrying what DynamoDB
    /// leaves unprocessed.
    pub async fn payment_records(
        &self,
        appointments: &[AppointmentId],
    ) -> Result<HashMap<AppointmentId, PaymentRecord>, StoreError> {
        let mut found = HashMap::new();
        for chunk in appointments.chunks(100) {
            let mut keys_left: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|id| {
                    HashMap::from([
                        (keys::PK.to_owned(), string(keys::appointment(id))),
                        (keys::SK.to_owned(), string(keys::PAYMENT)),
                    ])
                })
                .collect();
            for _ in 0..5 {
                if keys_left.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys_left)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::request("BatchGetItem", e))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| StoreError::request("BatchGetItem", e))?;
                for item in output
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    let id = item
                        .get(keys::PK)
                        .and_then(|v| v.as_s().ok())
                        .and_then(|pk| pk.strip_prefix(keys::APPOINTMENT_PREFIX))
                        .and_then(|id| id.parse().ok());
                    if let Some(id) = id {
                        let record = serde_dynamo::from_item(item)
                            .map_err(|e| StoreError::corrupt(keys::appointment(&id), e))?;
                        found.insert(id, record);
                    }
                }
                keys_left = output
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys_left.is_empty() {
                return Err(StoreError::Contention(
                    "BatchGetItem unprocessed keys".into(),
                ));
            }
        }
        Ok(found)
    }
}
