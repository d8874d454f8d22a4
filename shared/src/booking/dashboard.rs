//! What the two parties see of their appointments: dashboards ordered by start (a GSI Query
//! each, never a Scan) and single appointments, with times on the viewer's clock and the
//! meeting link once confirmed. Anyone else is told the appointment does not exist.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{Appointment, AppointmentStatus};
use crate::ids::AppointmentId;
use crate::validation::{self, ValidationErrors};

pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Expert,
}

/// `GET /v1/appointments` parameters as sent.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardInput {
    pub role: Option<String>,
    pub status: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub tz: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DashboardQuery {
    pub role: Option<Role>,
    pub status: Option<AppointmentStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub zone: Option<Tz>,
    pub limit: i32,
    /// The last appointment of the previous page: (start, id).
    pub after: Option<(DateTime<Utc>, AppointmentId)>,
}

impl DashboardInput {
    pub fn parse(&self) -> Result<DashboardQuery, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let role = match self.role.as_deref() {
            None => None,
            Some("client") => Some(Role::Client),
            Some("expert") => Some(Role::Expert),
            Some(_) => {
                errors.add("/role", "must be client or expert");
                None
            }
        };
        let status = self.status.as_deref().and_then(|raw| {
            let parsed = serde_json::from_value(serde_json::Value::String(raw.to_owned())).ok();
            if parsed.is_none() {
                errors.add(
                    "/status",
                    "must be pending_payment, confirmed, expired, cancelled or completed",
                );
            }
            parsed
        });
        let instant = |errors: &mut ValidationErrors, name: &str, raw: &Option<String>| {
            let raw = raw.as_deref()?;
            let parsed = DateTime::parse_from_rfc3339(raw).map(|t| t.to_utc()).ok();
            if parsed.is_none() {
                errors.add(format!("/{name}"), "must be an RFC 3339 instant");
            }
            parsed
        };
        let from = instant(&mut errors, "from", &self.from);
        let to = instant(&mut errors, "to", &self.to);
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            errors.add("/to", "must be after from");
        }
        let zone = self
            .tz
            .as_deref()
            .map(|raw| validation::time_zone(&mut errors, "/tz", raw));
        let limit = match self.limit.as_deref().map(str::parse::<i32>) {
            None => DEFAULT_PAGE,
            Some(Ok(limit)) if (1..=MAX_PAGE).contains(&limit) => limit,
            Some(_) => {
                errors.add("/limit", format!("must be from 1 to {MAX_PAGE}"));
                DEFAULT_PAGE
            }
        };
        let after = self.cursor.as_deref().and_then(|raw| {
            let decoded = decode_cursor(raw);
            if decoded.is_none() {
                errors.add("/cursor", "is not a cursor from a previous page");
            }
            decoded
        });
        errors.finish(DashboardQuery {
            role,
            status,
            from,
            to,
            zone,
            limit,
            after,
        })
    }
}

/// `GET /v1/appointments/{id}` parameters as sent.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewInput {
    pub tz: Option<String>,
}

impl ViewInput {
    pub fn parse(&self) -> Result<Option<Tz>, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let zone = self
            .tz
            .as_deref()
            .map(|raw| validation::time_zone(&mut errors, "/tz", raw));
        errors.finish(zone)
    }
}

pub fn encode_cursor(appointment: &Appointment) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}|{}",
        appointment.start.timestamp(),
        appointment.id
    ))
}

fn decode_cursor(raw: &str) -> Option<(DateTime<Utc>, AppointmentId)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let (start, id) = text.split_once('|')?;
    Some((
        DateTime::from_timestamp(start.parse().ok()?, 0)?,
        id.parse().ok()?,
    ))
}

/// One appointment as one of its parties sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppointmentView {
    #[serde(flatten)]
    pub appointment: Appointment,
    /// The viewer's side of it.
    pub role: Role,
    pub time_zone: Tz,
    pub local_start: String,
    pub local_end: String,
    pub meeting_url: Option<String>,
}

impl AppointmentView {
    pub fn new(appointment: Appointment, role: Role, zone: Tz, meeting_base: &str) -> Self {
        let local = |t: DateTime<Utc>| {
            t.with_timezone(&zone)
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        };
        AppointmentView {
            local_start: local(appointment.start),
            local_end: local(appointment.end),
            meeting_url: appointment.meeting_url(meeting_base),
            appointment,
            role,
            time_zone: zone,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppointmentPage {
    pub appointments: Vec<AppointmentView>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(pairs: &[(&str, &str)]) -> DashboardInput {
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        serde_json::from_value(serde_json::Value::Object(map)).unwrap()
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("role", "admin")], "/role"),
            (&[("status", "paid")], "/status"),
            (&[("from", "today")], "/from"),
            (
                &[
                    ("from", "2026-12-02T00:00:00Z"),
                    ("to", "2026-12-01T00:00:00Z"),
                ],
                "/to",
            ),
            (&[("tz", "Nowhere")], "/tz"),
            (&[("limit", "0")], "/limit"),
            (&[("cursor", "???")], "/cursor"),
        ];
        for (pairs, pointer) in cases {
            let errors = input(pairs).parse().expect_err("refused");
            assert_eq!(errors.errors()[0].pointer, *pointer, "{pairs:?}");
        }
    }

    #[test]
    fn statuses_parse_by_their_api_names() {
        let query = input(&[("status", "pending_payment"), ("role", "expert")])
            .parse()
            .unwrap();
        assert_eq!(query.status, Some(AppointmentStatus::PendingPayment));
        assert_eq!(query.role, Some(Role::Expert));
        assert_eq!(query.limit, DEFAULT_PAGE);
    }
}
