//! Demo data for the local stack: a few experts with profiles and availability, created
//! through the same services the API uses, so seeded data passes the same validation.

use crate::bootstrap::BoxError;
use crate::radicale::RadicaleAccount;
use marketplace::auth::{Caller, Group};
use marketplace::availability::AvailabilityInput;
use marketplace::calendar::connection::ConnectInput;
use marketplace::calendar::service::SyncJob;
use marketplace::experts::{ExpertProfile, ProfileInput};
use marketplace::ids::UserId;
use marketplace::services::Services;
use marketplace::store::dynamo::DynamoStore;
use serde_json::json;

use crate::stripe_server::StripeServer;

/// Creates (or refreshes) the demo experts and starts their payouts onboarding; with our
/// Stripe test server it also finishes it, so they are bookable.
pub async fn demo_experts(
    services: &Services,
    stripe: Option<&StripeServer>,
    store: &DynamoStore,
) -> Result<Vec<ExpertProfile>, BoxError> {
    let experts = [
        (
            "demo-expert-ada",
            json!({
                "display_name": "Ada Byron",
                "bio": "Numerical methods and the engines that run them.",
                "specializations": ["mathematics", "machine learning"],
                "hourly_rate": {"amount": 18000, "currency": "usd"},
                "time_zone": "Europe/London"
            }),
            json!({
                "rules": [
                    {"day": "mon", "start": "09:00", "end": "12:00"},
                    {"day": "mon", "start": "14:00", "end": "18:00"},
                    {"day": "wed", "start": "09:00", "end": "17:00"}
                ],
                "buffer_after_minutes": 15,
                "slot_durations": [30, 60]
            }),
        ),
        (
            "demo-expert-grace",
            json!({
                "display_name": "Grace Hopper",
                "bio": "Compilers, COBOL, and debugging the real thing.",
                "specializations": ["compilers", "legacy systems"],
                "hourly_rate": {"amount": 15000, "currency": "usd"},
                "time_zone": "America/New_York"
            }),
            json!({
                "rules": [
                    {"day": "tue", "start": "10:00", "end": "16:00"},
                    {"day": "thu", "start": "10:00", "end": "16:00"}
                ],
                "buffer_before_minutes": 10,
                "slot_durations": [60]
            }),
        ),
        (
            "demo-expert-hiro",
            json!({
                "display_name": "Hiro Tanaka",
                "bio": "Tax and accounting for freelancers in Japan.",
                "specializations": ["tax", "accounting"],
                "hourly_rate": {"amount": 12000, "currency": "jpy"},
                "time_zone": "Asia/Tokyo"
            }),
            json!({
                "rules": [
                    {"day": "sat", "start": "20:00", "end": "24:00"},
                    {"day": "sun", "start": "00:00", "end": "02:00"}
                ],
                "slot_durations": [30, 60, 90]
            }),
        ),
    ];
    let mut created = Vec::with_capacity(experts.len());
    for (sub, profile, availability) in experts {
        let caller = Caller {
            user_id: UserId::parse(sub).ok_or("a valid demo subject")?,
            email: Some(format!("{sub}@example.com")),
            groups: vec![Group::Experts],
        };
        let profile: ProfileInput = serde_json::from_value(profile)?;
        let availability: AvailabilityInput = serde_json::from_value(availability)?;
        let saved = services.experts.save_profile(&caller, profile).await?;
        services
            .availability
            .save_settings(&caller, availability)
            .await?;
        services.payments.start_onboarding(&caller).await?;
        if let (Some(stripe), Some(profile)) = (stripe, store.profile(saved.id).await?)
            && let Some(account) = &profile.stripe_account
        {
            stripe.onboard_account(account);
        }
        created.push(saved);
    }
    if let Some(stripe) = stripe {
        stripe.settle().await;
    }
    Ok(created)
}

/// Gives demo Ada the local Radicale's `demo` account (when the local stack runs Radicale)
/// with a calendar holding a lunch next Monday and a weekly Wednesday stand-up, connects it and
/// syncs it once, so her slots show calendar busy time at once. Answers the account.
/// The account infra/dev.sh gives the local Radicale (documented in the README).
pub const DEMO_CALDAV_USER: &str = "demo";
pub const DEMO_CALDAV_PASSWORD: &str = "demo";

pub async fn demo_calendar(services: &Services) -> Result<Option<RadicaleAccount>, BoxError> {
    let Some(calendars) = &services.calendars else {
        return Ok(None);
    };
    if std::env::var("RADICALE_URL").is_err() {
        return Ok(None);
    }
    let caller = Caller {
        user_id: UserId::parse("demo-expert-ada").ok_or("a valid demo subject")?,
        email: Some("demo-expert-ada@example.com".into()),
        groups: vec![Group::Experts],
    };
    let account = RadicaleAccount::existing(DEMO_CALDAV_USER, DEMO_CALDAV_PASSWORD)?;
    account.make_calendars(&[("work", "VEVENT")]).await?;
    let mut monday = (chrono::Utc::now() + chrono::Duration::days(7)).date_naive();
    while chrono::Datelike::weekday(&monday) != chrono::Weekday::Mon {
        monday = monday.succ_opt().ok_or("a date")?;
    }
    let day = monday.format("%Y%m%d");
    let events = [
        (
            "lunch",
            format!(
                "BEGIN:VEVENT\r\nUID:demo-lunch\r\nDTSTAMP:20261101T000000Z\r\n\
                 DTSTART;TZID=Europe/London:{day}T100000\r\nDTEND;TZID=Europe/London:{day}T110000\r\n\
                 SUMMARY:Lunch with the board\r\nEND:VEVENT\r\n"
            ),
        ),
        (
            "standup",
            "BEGIN:VEVENT\r\nUID:demo-standup\r\nDTSTAMP:20261101T000000Z\r\n\
             DTSTART;TZID=Europe/London:20260107T093000\r\nDTEND;TZID=Europe/London:20260107T100000\r\n\
             RRULE:FREQ=WEEKLY\r\nSUMMARY:Stand-up\r\nEND:VEVENT\r\n"
                .to_owned(),
        ),
    ];
    for (name, event) in events {
        let body = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//local-stack seed//EN\r\n{event}END:VCALENDAR\r\n"
        );
        let status = account
            .request(reqwest::Method::PUT, &format!("work/{name}.ics"))?
            .header("content-type", "text/calendar")
            .body(body)
            .send()
            .await?
            .status();
        if !status.is_success() {
            return Err(format!("PUT {name}.ics answered {status}").into());
        }
    }
    let input: ConnectInput = serde_json::from_value(json!({
        "provider": "caldav",
        "server_url": account.server_url.as_str(),
        "username": account.username,
        "password": account.password,
    }))?;
    let connection = calendars.connect(&caller, input).await?;
    calendars
        .run_sync(&SyncJob {
            renew_push: false,
            expert_id: connection.expert_id,
            connection_id: connection.id,
        })
        .await?;
    Ok(Some(account))
}
