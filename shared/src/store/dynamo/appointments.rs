//! Appointments, booking idempotency records and the per-day claim lists.
//!
//! A booking is one TransactWriteItems: the appointment (new), the idempotency record (new)
//! and the claim list of every UTC day its occupancy touches, each written under a condition
//! on the version it was read at. State changes later (confirm, cancel) rewrite the same lists
//! the same way, together with the appointment under a condition on its status.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{DynamoStore, conditional, keys, number, string};
use crate::availability::Interval;
use crate::booking::{
    Appointment, AppointmentStatus, Cancellation, CancellationPolicy, Claim, ClaimDay, Completion,
    DisputeState, PaymentIncident, PaymentRecord, Price, ProblemReport, SweepDue,
};
use crate::calendar::connection::{CalendarAttention, Conference, WrittenEvent};
use crate::events::{DomainEvent, EventKind};
use crate::ids::{AppointmentId, ExpertId, UserId};
use crate::money::{Currency, Money};
use crate::store::StoreError;

type Item = HashMap<String, AttributeValue>;

/// Idempotency records outlive any client retry.
const IDEMPOTENCY_DAYS: i64 = 7;

#[derive(Deserialize, Serialize)]
struct ClaimDayRecord {
    pk: String,
    sk: String,
    entity: String,
    date: NaiveDate,
    version: u64,
    claims: Vec<Claim>,
}

#[derive(Deserialize, Serialize)]
struct AppointmentRecord {
    pk: String,
    sk: String,
    entity: String,
    appointment_id: AppointmentId,
    expert_id: ExpertId,
    client: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_email: Option<String>,
    status: AppointmentStatus,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    duration_minutes: u32,
    occupancy_start: DateTime<Utc>,
    occupancy_end: DateTime<Utc>,
    notes: String,
    currency: Currency,
    total: i64,
    platform_fee: i64,
    expert_earnings: i64,
    hold_expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payment_intent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payment_destination: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    capture_deadline: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    captured_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payment_incident: Option<PaymentIncident>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dispute: Option<DisputeState>,
    #[serde(default)]
    meeting_room: String,
    #[serde(default)]
    charged_at_booking: bool,
    #[serde(default)]
    cancellation_policy: CancellationPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancellation: Option<Cancellation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancelling: Option<Cancellation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    completion: Option<Completion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    problem: Option<ProblemReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    calendar_event: Option<WrittenEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    calendar_attention: Option<CalendarAttention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    conference: Option<Conference>,
    #[serde(default)]
    revision: u32,
    #[serde(default)]
    version: u64,
    created_at: DateTime<Utc>,
    gsi1pk: String,
    gsi1sk: String,
    gsi2pk: String,
    gsi2sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi4pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi4sk: Option<String>,
}

impl AppointmentRecord {
    fn new(a: &Appointment) -> Self {
        AppointmentRecord {
            pk: keys::appointment(&a.id),
            sk: keys::APPOINTMENT.to_owned(),
            entity: "appointment".to_owned(),
            appointment_id: a.id,
            expert_id: a.expert_id,
            client: a.client.clone(),
            client_email: a.client_email.clone(),
            status: a.status,
            start: a.start,
            end: a.end,
            duration_minutes: a.duration_minutes,
            occupancy_start: a.occupancy.start,
            occupancy_end: a.occupancy.end,
            notes: a.notes.clone(),
            currency: a.price.total.currency,
            total: a.price.total.amount,
            platform_fee: a.price.platform_fee.amount,
            expert_earnings: a.price.expert_earnings.amount,
            hold_expires_at: a.hold_expires_at,
            payment_intent: a.payment_intent.clone(),
            payment_destination: a.payment_destination.clone(),
            capture_deadline: a.capture_deadline,
            captured_at: a.captured_at,
            payment_incident: a.payment_incident.clone(),
            dispute: a.dispute.clone(),
            meeting_room: a.meeting_room.clone(),
            charged_at_booking: a.charged_at_booking,
            cancellation_policy: a.cancellation_policy,
            cancellation: a.cancellation.clone(),
            cancelling: a.cancelling.clone(),
            completion: a.completion.clone(),
            problem: a.problem.clone(),
            calendar_event: a.calendar_event.clone(),
            calendar_attention: a.calendar_attention,
            conference: a.conference.clone(),
            revision: a.revision,
            version: a.version,
            created_at: a.created_at,
            gsi1pk: keys::client_appointments(&a.client),
            gsi1sk: keys::by_start(a.start, &a.id),
            gsi2pk: keys::expert(&a.expert_id),
            gsi2sk: keys::by_start(a.start, &a.id),
            gsi4pk: a.sweep_due().map(|due| due_keys(due, &a.id).0),
            gsi4sk: a.sweep_due().map(|due| due_keys(due, &a.id).1),
        }
    }

    fn into_appointment(self) -> Appointment {
        Appointment {
            id: self.appointment_id,
            expert_id: self.expert_id,
            client: self.client,
            client_email: self.client_email,
            status: self.status,
            start: self.start,
            end: self.end,
            duration_minutes: self.duration_minutes,
            occupancy: Interval {
                start: self.occupancy_start,
                end: self.occupancy_end,
            },
            notes: self.notes,
            price: Price {
                total: Money::new(self.total, self.currency),
                platform_fee: Money::new(self.platform_fee, self.currency),
                expert_earnings: Money::new(self.expert_earnings, self.currency),
            },
            hold_expires_at: self.hold_expires_at,
            payment_intent: self.payment_intent,
            payment_destination: self.payment_destination,
            capture_deadline: self.capture_deadline,
            captured_at: self.captured_at,
            payment_incident: self.payment_incident,
            dispute: self.dispute,
            meeting_room: self.meeting_room,
            charged_at_booking: self.charged_at_booking,
            cancellation_policy: self.cancellation_policy,
            cancellation: self.cancellation,
            cancelling: self.cancelling,
            completion: self.completion,
            problem: self.problem,
            calendar_event: self.calendar_event,
            calendar_attention: self.calendar_attention,
            conference: self.conference,
            revision: self.revision,
            version: self.version,
            created_at: self.created_at,
        }
    }
}

/// Where the next page of due appointments starts (the last key of the page before).
#[derive(Clone, Debug)]
pub struct DueCursor(Item);

/// Whose dashboard.
#[derive(Clone, Debug)]
pub enum DashboardOwner {
    Client(UserId),
    Expert(ExpertId),
}

/// What became of a booking transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookOutcome {
    Booked,
    /// A claim list changed since it was read: read again and retry.
    DayChanged,
    /// This client already used this Idempotency-Key.
    KeyUsed,
}

pub(super) fn parse_claim_day(pk: &str, item: Item) -> Result<ClaimDay, StoreError> {
    let record: ClaimDayRecord =
        serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt(pk, e))?;
    Ok(ClaimDay {
        date: record.date,
        version: record.version,
        claims: record.claims,
    })
}

impl DynamoStore {
    /// Holds the time: the appointment, the idempotency record and the new claim lists (read
    /// at `day.version`), all or nothing.
    pub async fn book(
        &self,
        appointment: &Appointment,
        idempotency_key: &str,
        fingerprint: &str,
        days: &[ClaimDay],
    ) -> Result<BookOutcome, StoreError> {
        let now = appointment.created_at;
        let mut items = vec![self.put_new(
            &AppointmentRecord::new(appointment),
            keys::appointment(&appointment.id),
        )?];
        let idempotency: Item = HashMap::from([
            (
                keys::PK.to_owned(),
                string(keys::idempotency(&appointment.client, idempotency_key)),
            ),
            (keys::SK.to_owned(), string(keys::IDEMPOTENT_BOOKING)),
            (
                "appointment_id".to_owned(),
                string(appointment.id.to_string()),
            ),
            ("fingerprint".to_owned(), string(fingerprint)),
            (
                "expires_at".to_owned(),
                AttributeValue::N(
                    (now + Duration::days(IDEMPOTENCY_DAYS))
                        .timestamp()
                        .to_string(),
                ),
            ),
        ]);
        items.push(self.put_new_item(idempotency)?);
        // The payment record starts with the booking, listed by month for the platform report;
        // Stripe's events fill it in.
        let month = appointment.start.format("%Y-%m").to_string();
        let payment: Item = HashMap::from([
            (
                keys::PK.to_owned(),
                string(keys::appointment(&appointment.id)),
            ),
            (keys::SK.to_owned(), string(keys::PAYMENT)),
            (
                "currency".to_owned(),
                string(appointment.price.total.currency.code()),
            ),
            ("state".to_owned(), string("awaiting_payment")),
            (
                keys::GSI_SEARCH_PK.to_owned(),
                string(keys::payments_of_month(&month)),
            ),
            (
                keys::GSI_SEARCH_SK.to_owned(),
                string(keys::by_start(appointment.start, &appointment.id)),
            ),
        ]);
        items.push(self.put_new_item(payment)?);
        for day in days {
            items.push(self.put_claim_day(appointment.expert_id, day)?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(BookOutcome::Booked),
            // Positions: 0 appointment, 1 idempotency record, 2 payment record, 3.. claim days.
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.contains(&1) => Ok(BookOutcome::KeyUsed),
                Some(failed) if failed.iter().any(|i| *i >= 3) => Ok(BookOutcome::DayChanged),
                _ => Err(StoreError::request("TransactWriteItems", error)),
            },
        }
    }

    /// Moves the appointment from `from` to its current status (with its payment intent) and
    /// rewrites the claim lists, all or nothing. `Ok(false)`: the status or a list changed
    /// since they were read.
    pub async fn transition(
        &self,
        appointment: &Appointment,
        from: AppointmentStatus,
        days: &[ClaimDay],
        event: &DomainEvent,
    ) -> Result<bool, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::appointment(&appointment.id)))
            .key(keys::SK, string(keys::APPOINTMENT))
            .condition_expression(format!(
                "#status = :from AND {}",
                unchanged_since_read(appointment.version)
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":from", status_value(from)?)
            .expression_attribute_values(":read", number(appointment.version))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":to", status_value(appointment.status)?);
        // The time may have moved (a reschedule); writing it again otherwise changes nothing.
        let mut expression = "SET #status = :to, #start = :start, #end = :end, \
             occupancy_start = :occ_start, occupancy_end = :occ_end, gsi1sk = :by_start, \
             gsi2sk = :by_start, revision = :revision"
            .to_owned();
        update = update
            .expression_attribute_names("#start", "start")
            .expression_attribute_names("#end", "end")
            .expression_attribute_values(":start", string(timestamp(appointment.start)))
            .expression_attribute_values(":end", string(timestamp(appointment.end)))
            .expression_attribute_values(
                ":revision",
                AttributeValue::N(appointment.revision.to_string()),
            )
            .expression_attribute_values(
                ":occ_start",
                string(timestamp(appointment.occupancy.start)),
            )
            .expression_attribute_values(":occ_end", string(timestamp(appointment.occupancy.end)))
            .expression_attribute_values(
                ":by_start",
                string(keys::by_start(appointment.start, &appointment.id)),
            );
        if let Some(deadline) = appointment.capture_deadline {
            expression.push_str(", capture_deadline = :deadline");
            update = update.expression_attribute_values(":deadline", string(timestamp(deadline)));
        }
        if let Some(cancellation) = &appointment.cancellation {
            expression.push_str(", cancellation = :cancellation");
            update = update.expression_attribute_values(
                ":cancellation",
                serde_dynamo::to_attribute_value(cancellation)
                    .map_err(|e| StoreError::corrupt(keys::appointment(&appointment.id), e))?,
            );
        }
        if let Some(completion) = &appointment.completion {
            expression.push_str(", completion = :completion");
            update = update.expression_attribute_values(
                ":completion",
                serde_dynamo::to_attribute_value(completion)
                    .map_err(|e| StoreError::corrupt(keys::appointment(&appointment.id), e))?,
            );
        }
        // The sweep index follows the status: a hold's expiry, a confirmed session's
        // completion, or nothing.
        let mut removed = Vec::new();
        match appointment.sweep_due() {
            Some(due) => {
                let (pk, sk) = due_keys(due, &appointment.id);
                expression.push_str(", gsi4pk = :due_pk, gsi4sk = :due_sk");
                update = update
                    .expression_attribute_values(":due_pk", string(pk))
                    .expression_attribute_values(":due_sk", string(sk));
            }
            None => removed.extend(["gsi4pk", "gsi4sk"]),
        }
        if appointment.cancelling.is_none() {
            removed.push("cancelling");
        }
        if !removed.is_empty() {
            expression.push_str(" REMOVE ");
            expression.push_str(&removed.join(", "));
        }
        expression.push_str(BUMP_VERSION);
        update = update.update_expression(expression);
        let mut items = vec![
            TransactWriteItem::builder()
                .update(
                    update
                        .build()
                        .map_err(|e| StoreError::request("TransactWriteItems", e))?,
                )
                .build(),
        ];
        for day in days {
            items.push(self.put_claim_day(appointment.expert_id, day)?);
        }
        // Reminders follow the confirmed session (moved with it); any other status drops them.
        for (kind, before) in REMINDERS {
            let key = HashMap::from([
                (
                    keys::PK.to_owned(),
                    string(keys::appointment(&appointment.id)),
                ),
                (keys::SK.to_owned(), string(keys::reminder(kind))),
            ]);
            let due = appointment.start - before;
            let item =
                if appointment.status == AppointmentStatus::Confirmed && due > event.occurred_at {
                    let mut item = key;
                    item.insert("kind".into(), string(kind.name()));
                    item.insert(keys::GSI_DUE_PK.into(), string(keys::REMINDERS));
                    item.insert(
                        keys::GSI_DUE_SK.into(),
                        string(keys::by_start(due, &appointment.id)),
                    );
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(item))
                                .build()
                                .map_err(|e| StoreError::request("TransactWriteItems", e))?,
                        )
                        .build()
                } else {
                    TransactWriteItem::builder()
                        .delete(
                            Delete::builder()
                                .table_name(&self.table)
                                .set_key(Some(key))
                                .build()
                                .map_err(|e| StoreError::request("TransactWriteItems", e))?,
                        )
                        .build()
                };
            items.push(item);
        }
        items.push(self.outbox_entry(event)?);
        self.transact_conditional(items).await
    }

    /// Records the meeting link a provider made for the booking (or why it could not).
    pub async fn set_conference(
        &self,
        id: AppointmentId,
        conference: &Conference,
    ) -> Result<(), StoreError> {
        let key = keys::appointment(&id);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(&key))
            .key(keys::SK, string(keys::APPOINTMENT))
            .update_expression(format!("SET conference = :conference{BUMP_VERSION}"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(
                ":conference",
                serde_dynamo::to_attribute_value(conference)
                    .map_err(|e| StoreError::corrupt(&key, e))?,
            )
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }

    /// Records the booking's event in the expert's calendar (`None`: there is none now) and
    /// what needs the expert's attention about it.
    pub async fn set_calendar_event(
        &self,
        id: AppointmentId,
        event: Option<&WrittenEvent>,
        attention: Option<CalendarAttention>,
    ) -> Result<(), StoreError> {
        let key = keys::appointment(&id);
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(&key))
            .key(keys::SK, string(keys::APPOINTMENT))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":one", number(1));
        match event {
            Some(event) => {
                set.push("calendar_event = :event");
                update = update.expression_attribute_values(
                    ":event",
                    serde_dynamo::to_attribute_value(event)
                        .map_err(|e| StoreError::corrupt(&key, e))?,
                );
            }
            None => remove.push("calendar_event"),
        }
        match attention {
            Some(attention) => {
                set.push("calendar_attention = :attention");
                update = update.expression_attribute_values(
                    ":attention",
                    serde_dynamo::to_attribute_value(attention)
                        .map_err(|e| StoreError::corrupt(&key, e))?,
                );
            }
            None => remove.push("calendar_attention"),
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression = format!("SET {}", set.join(", "));
        }
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        expression.push_str(BUMP_VERSION);
        conditional(update.update_expression(expression).send().await)?;
        Ok(())
    }

    /// Records a party's cancellation on an appointment still in `from`, before its money
    /// moves. `Ok(false)`: the status changed since it was read, or the other party's
    /// cancellation is in progress (only one moves money).
    pub async fn set_cancelling(
        &self,
        id: AppointmentId,
        from: AppointmentStatus,
        cancellation: &Cancellation,
    ) -> Result<bool, StoreError> {
        let key = keys::appointment(&id);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(&key))
            .key(keys::SK, string(keys::APPOINTMENT))
            .update_expression(format!("SET cancelling = :cancelling{BUMP_VERSION}"))
            .condition_expression("#status = :from AND attribute_not_exists(cancelling)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":from", status_value(from)?)
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(
                ":cancelling",
                serde_dynamo::to_attribute_value(cancellation)
                    .map_err(|e| StoreError::corrupt(&key, e))?,
            )
            .send()
            .await;
        conditional(result)
    }

    /// Withdraws the cancellation this request recorded (its money could not move), if it is
    /// still this one and the status is still `from`.
    pub async fn withdraw_cancelling(
        &self,
        id: AppointmentId,
        from: AppointmentStatus,
        cancellation: &Cancellation,
    ) -> Result<bool, StoreError> {
        let key = keys::appointment(&id);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(&key))
            .key(keys::SK, string(keys::APPOINTMENT))
            .update_expression(format!("REMOVE cancelling{BUMP_VERSION}"))
            .condition_expression("#status = :from AND cancelling = :cancelling")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":from", status_value(from)?)
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(
                ":cancelling",
                serde_dynamo::to_attribute_value(cancellation)
                    .map_err(|e| StoreError::corrupt(&key, e))?,
            )
            .send()
            .await;
        conditional(result)
    }

    pub async fn appointment(&self, id: AppointmentId) -> Result<Option<Appointment>, StoreError> {
        Ok(self
            .get_record::<AppointmentRecord>(&keys::appointment(&id), keys::APPOINTMENT)
            .await?
            .map(AppointmentRecord::into_appointment))
    }

    /// One page of a dashboard: a client's (gsi1) or an expert's (gsi2) appointments in start
    /// order, starting in `[from, to)`, optionally of one status, after `after` (the last
    /// appointment of the previous page). Returns the page and whether more may follow.
    pub async fn appointments_page(
        &self,
        owner: &DashboardOwner,
        range: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        status: Option<AppointmentStatus>,
        after: Option<&Appointment>,
        limit: i32,
    ) -> Result<(Vec<Appointment>, bool), StoreError> {
        let (index, pk_name, sk_name, pk) = match owner {
            DashboardOwner::Client(user) => {
                ("gsi1", "gsi1pk", "gsi1sk", keys::client_appointments(user))
            }
            DashboardOwner::Expert(expert) => ("gsi2", "gsi2pk", "gsi2sk", keys::expert(expert)),
        };
        let low = range.0.map_or_else(
            || "0".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        let high = range.1.map_or_else(
            || "~".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!(
                "{pk_name} = :pk AND {sk_name} BETWEEN :low AND :high"
            ))
            .expression_attribute_values(":pk", string(&pk))
            .expression_attribute_values(":low", string(low))
            // Keys are `<start>#<id>`: everything starting before `to` sorts below `to`.
            .expression_attribute_values(":high", string(high))
            .limit(limit);
        if let Some(status) = status {
            request = request
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", status_value(status)?);
        }
        if let Some(last) = after {
            let sort = keys::by_start(last.start, &last.id);
            request = request
                .exclusive_start_key(keys::PK, string(keys::appointment(&last.id)))
                .exclusive_start_key(keys::SK, string(keys::APPOINTMENT))
                .exclusive_start_key(pk_name, string(&pk))
                .exclusive_start_key(sk_name, string(sort));
        }
        let output = request
            .send()
            .await
            .map_err(|e| StoreError::request("Query", e))?;
        let more = output.last_evaluated_key.is_some();
        let appointments = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item::<_, AppointmentRecord>(item)
                    .map(AppointmentRecord::into_appointment)
                    .map_err(|e| StoreError::corrupt(&pk, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((appointments, more))
    }

    /// Records the client's problem report on a confirmed appointment, once. It takes the
    /// session off automatic completion; an authorisation still due for capture stays on the
    /// sweep's index for that. `Ok(false)`: not confirmed, or reported already.
    pub async fn report_problem(&self, appointment: &Appointment) -> Result<bool, StoreError> {
        let key = keys::appointment(&appointment.id);
        let Some(report) = &appointment.problem else {
            return Ok(false);
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(&key))
            .key(keys::SK, string(keys::APPOINTMENT))
            .condition_expression("#status = :confirmed AND attribute_not_exists(problem)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":confirmed", status_value(AppointmentStatus::Confirmed)?)
            .expression_attribute_values(
                ":problem",
                serde_dynamo::to_attribute_value(report)
                    .map_err(|e| StoreError::corrupt(&key, e))?,
            );
        update = match appointment.sweep_due() {
            Some(due) => {
                let (pk, sk) = due_keys(due, &appointment.id);
                update
                    .update_expression(format!(
                        "SET problem = :problem, {} = :due_pk, {} = :due_sk{BUMP_VERSION}",
                        keys::GSI_DUE_PK,
                        keys::GSI_DUE_SK
                    ))
                    .expression_attribute_values(":due_pk", string(pk))
                    .expression_attribute_values(":due_sk", string(sk))
            }
            None => update.update_expression(format!(
                "SET problem = :problem REMOVE {}, {}{BUMP_VERSION}",
                keys::GSI_DUE_PK,
                keys::GSI_DUE_SK
            )),
        };
        update = update
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":one", number(1));
        conditional(update.send().await)
    }

    /// The payment records of sessions starting in `[from, to)` within one month (gsi3).
    pub async fn payments_of_month(
        &self,
        month: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let partition = keys::payments_of_month(month);
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI_SEARCH)
            .key_condition_expression("gsi3pk = :month AND gsi3sk BETWEEN :from AND :to")
            .expression_attribute_values(":month", string(&partition))
            .expression_attribute_values(
                ":from",
                string(from.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            )
            .expression_attribute_values(":to", string(to.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
            .into_paginator()
            .items()
            .send();
        let mut records = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::request("Query", e))?;
            records.push(
                serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt(&partition, e))?,
            );
        }
        Ok(records)
    }

    /// Reminders due by `now` (gsi4 `REMINDERS`), oldest first: (appointment, kind).
    pub async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<(AppointmentId, EventKind)>, StoreError> {
        Ok(self
            .due_items(keys::REMINDERS, now, limit)
            .await?
            .iter()
            .filter_map(|item| {
                let id = item
                    .get(keys::PK)?
                    .as_s()
                    .ok()?
                    .strip_prefix(keys::APPOINTMENT_PREFIX)?
                    .parse()
                    .ok()?;
                let kind = REMINDERS.iter().map(|(kind, _)| *kind).find(|kind| {
                    item.get(keys::SK).and_then(|sk| sk.as_s().ok()) == Some(&keys::reminder(*kind))
                })?;
                Some((id, kind))
            })
            .collect())
    }

    /// Fires a reminder once: removes it and writes its event in one transaction; a second
    /// sweep racing this one finds it gone. `Ok(false)`: someone else fired it.
    pub async fn fire_reminder(
        &self,
        appointment: AppointmentId,
        event: &DomainEvent,
    ) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::appointment(&appointment)))
            .key(keys::SK, string(keys::reminder(event.kind)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        self.transact_conditional(vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.outbox_entry(event)?,
        ])
        .await
    }

    /// Appointments whose sweep time of kind `kind` (`HOLDS` or `SESSIONS`) has passed,
    /// oldest first, at most `limit`, after `cursor` (the previous page's); with the cursor
    /// of the next page, if there may be one.
    pub async fn sweep_due(
        &self,
        kind: &str,
        now: DateTime<Utc>,
        limit: i32,
        cursor: Option<DueCursor>,
    ) -> Result<(Vec<AppointmentId>, Option<DueCursor>), StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI_DUE)
            .key_condition_expression("gsi4pk = :kind AND gsi4sk < :now")
            .expression_attribute_values(":kind", string(kind))
            .expression_attribute_values(
                ":now",
                string(now.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            )
            .set_exclusive_start_key(cursor.map(|c| c.0))
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::request("Query", e))?;
        let ids = output
            .items()
            .iter()
            .filter_map(|item| {
                item.get(keys::PK)?
                    .as_s()
                    .ok()?
                    .strip_prefix(keys::APPOINTMENT_PREFIX)?
                    .parse()
                    .ok()
            })
            .collect();
        Ok((ids, output.last_evaluated_key.map(DueCursor)))
    }

    /// Items of gsi4 partition `kind` due before `now`, oldest first, at most `limit`.
    pub(super) async fn due_items(
        &self,
        kind: &str,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Item>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI_DUE)
            .key_condition_expression("gsi4pk = :kind AND gsi4sk < :now")
            .expression_attribute_values(":kind", string(kind))
            .expression_attribute_values(
                ":now",
                string(now.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            )
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::request("Query", e))?;
        Ok(output.items.unwrap_or_default())
    }

    /// The appointment a client's Idempotency-Key created, with the request's fingerprint.
    pub async fn idempotent_booking(
        &self,
        client: &UserId,
        key: &str,
    ) -> Result<Option<(AppointmentId, String)>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::idempotency(client, key)))
            .key(keys::SK, string(keys::IDEMPOTENT_BOOKING))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        Ok(output.item.and_then(|item| {
            let id = item.get("appointment_id")?.as_s().ok()?.parse().ok()?;
            let fingerprint = item.get("fingerprint")?.as_s().ok()?.clone();
            Some((id, fingerprint))
        }))
    }

    /// The claim lists of the given days (missing ones empty), in one Query.
    pub async fn claim_days(
        &self,
        expert: ExpertId,
        dates: &[NaiveDate],
    ) -> Result<Vec<ClaimDay>, StoreError> {
        let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
            return Ok(Vec::new());
        };
        let pk = keys::expert(&expert);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
            .expression_attribute_values(":pk", string(&pk))
            .expression_attribute_values(":first", string(keys::claims_day(*first)))
            .expression_attribute_values(":last", string(keys::claims_day(*last)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("Query", e))?;
        let mut found = HashMap::new();
        for item in output.items.unwrap_or_default() {
            let is_claims = item
                .get(keys::SK)
                .and_then(|sk| sk.as_s().ok())
                .is_some_and(|sk| sk.ends_with(keys::CLAIMS_SUFFIX));
            if is_claims {
                let day = parse_claim_day(&pk, item)?;
                found.insert(day.date, day);
            }
        }
        Ok(dates
            .iter()
            .map(|d| found.remove(d).unwrap_or_else(|| ClaimDay::empty(*d)))
            .collect())
    }

    pub(super) fn put_new(
        &self,
        record: &impl Serialize,
        key: String,
    ) -> Result<TransactWriteItem, StoreError> {
        let item: Item = serde_dynamo::to_item(record).map_err(|e| StoreError::corrupt(&key, e))?;
        self.put_new_item(item)
    }

    /// A transaction item that creates `item`, refused if its key exists.
    pub(super) fn put_new_item(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The day's new list, written only if the version is still the one read.
    fn put_claim_day(
        &self,
        expert: ExpertId,
        day: &ClaimDay,
    ) -> Result<TransactWriteItem, StoreError> {
        let record = ClaimDayRecord {
            pk: keys::expert(&expert),
            sk: keys::claims_day(day.date),
            entity: "claims".to_owned(),
            date: day.date,
            version: day.version + 1,
            claims: day.claims.clone(),
        };
        let item: Item =
            serde_dynamo::to_item(&record).map_err(|e| StoreError::corrupt(&record.pk, e))?;
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        put = if day.version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :read")
                .expression_attribute_values(":read", AttributeValue::N(day.version.to_string()))
        };
        let put = put
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

/// The reminders of a confirmed session and how long before its start each is due.
const REMINDERS: [(EventKind, Duration); 2] = [
    (EventKind::Reminder24h, Duration::hours(24)),
    (EventKind::Reminder1h, Duration::hours(1)),
];

/// gsi4 keys: the sweep's partition for this kind, then `<when>#<id>`.
pub(super) fn due_keys(due: SweepDue, id: &AppointmentId) -> (String, String) {
    match due {
        SweepDue::HoldExpiry(at) => (keys::HOLDS.to_owned(), keys::by_start(at, id)),
        SweepDue::Session(at) => (keys::SESSIONS_DUE.to_owned(), keys::by_start(at, id)),
    }
}

/// Every write of an appointment adds one to its `version` (with `#version` and `:one`).
pub(super) const BUMP_VERSION: &str = " ADD #version :one";

/// The condition that nothing was written since the appointment was read at `version`
/// (bound as `:read`; an item written before versions were kept has none and reads as 0).
pub(super) fn unchanged_since_read(version: u64) -> &'static str {
    if version == 0 {
        "(attribute_not_exists(#version) OR #version = :read)"
    } else {
        "#version = :read"
    }
}

/// Instants as serde writes them for the record, so that rewritten values read back the same.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

pub(super) fn status_value(status: AppointmentStatus) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(status).map_err(|e| StoreError::corrupt("status", e))
}

impl DynamoStore {
    /// A transaction whose failed condition means "someone else got there first": `Ok(false)`.
    pub(super) async fn transact_conditional(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if failed_conditions(&error).is_some() => Ok(false),
            Err(error) => Err(StoreError::request("TransactWriteItems", error)),
        }
    }
}

/// The positions of the items whose conditions failed, when the transaction was cancelled for
/// conditions (or a concurrent transaction on the same items, reported at its position too).
pub(super) fn failed_conditions<R>(
    error: &SdkError<TransactWriteItemsError, R>,
) -> Option<Vec<usize>> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return None;
    };
    let failed: Vec<usize> = cancelled
        .cancellation_reasons()
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            matches!(
                r.code(),
                Some("ConditionalCheckFailed" | "TransactionConflict")
            )
        })
        .map(|(i, _)| i)
        .collect();
    (!failed.is_empty()).then_some(failed)
}
