//! The emails' words: pure functions from what happened to an [`Email`], each reader in their
//! own zone and with their own side of the money. The notifier fills them from the table; the
//! preview command (`local-stack emails`) fills them with samples.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::email::{Email, html_escape};
use super::ics::Method;
use crate::booking::{Party, Price, Role};
use crate::calendar::connection::Provider;
use crate::events::EventKind;
use crate::money::Money;

/// What an email about a session says, whoever reads it.
#[derive(Clone, Debug)]
pub struct Session<'a> {
    pub start: DateTime<Utc>,
    pub duration_minutes: u32,
    /// The booking's price: what the client pays, what the expert earns.
    pub price: Price,
    /// Set once cancelled.
    pub refund: Option<Money>,
    /// Shown only while the session is on.
    pub meeting_url: Option<&'a str>,
    /// The calendar object attached, and its method.
    pub invite: (Method, &'a str),
}

/// The subject's opening for an event that emails both parties about their session; `None`
/// for events that send no such email.
pub fn headline(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::BookingConfirmed => Some("Booked"),
        EventKind::BookingRescheduled => Some("Moved"),
        EventKind::BookingCancelled => Some("Cancelled"),
        EventKind::Reminder24h => Some("Tomorrow"),
        EventKind::Reminder1h => Some("In one hour"),
        EventKind::BookingExpired
        | EventKind::BookingCompleted
        | EventKind::MessagePosted
        | EventKind::ReviewPosted
        | EventKind::PaymentIncident
        | EventKind::PaymentDisputed
        | EventKind::DisputeClosed
        | EventKind::PayoutsRestricted => None,
    }
}

/// One party's email about their session.
pub fn session_email(
    headline: &str,
    role: Role,
    session: &Session,
    reader: &Party,
    other: &Party,
    address: &str,
) -> Email {
    let when = local(session.start, reader.zone);
    let money = match role {
        Role::Client => format!("Price: {}", session.price.total),
        Role::Expert => format!(
            "Your earnings: {} (after the platform's 10%)",
            session
                .refund
                .map_or(session.price.expert_earnings, |refund| session
                    .price
                    .expert_keeps_after(refund))
        ),
    };
    let mut lines = vec![
        format!("Hello {},", reader.name),
        String::new(),
        format!(
            "{headline}: your consultation with {} on {when}.",
            other.name
        ),
        format!("Duration: {} minutes", session.duration_minutes),
        money,
    ];
    lines.extend(
        session
            .refund
            .map(|refund| format!("Refund to the client: {refund}")),
    );
    lines.extend(session.meeting_url.map(|link| format!("Join: {link}")));
    let (method, calendar) = session.invite;
    email(
        address,
        format!("{headline}: consultation with {} on {when}", other.name),
        &lines,
        Some((method, calendar.to_owned())),
    )
}

/// A reminder by SMS: short, one segment where it can be, in the reader's zone.
pub fn reminder_sms(headline: &str, session: &Session, reader: &Party, other: &Party) -> String {
    let when = session
        .start
        .with_timezone(&reader.zone)
        .format("%a %-d %b %H:%M %Z");
    let mut text = format!("{headline}: consultation with {} at {when}.", other.name);
    if let Some(link) = session.meeting_url {
        text.push_str(&format!(" Join: {link}"));
    }
    text
}

/// Tells `reader` that `writer` wrote (not what: they read it in the app, behind their
/// sign-in).
pub fn message_email(reader: &Party, writer: &Party, start: DateTime<Utc>, address: &str) -> Email {
    let when = local(start, reader.zone);
    let lines = [
        format!("Hello {},", reader.name),
        String::new(),
        format!(
            "{} wrote to you about your consultation on {when}. Read and answer it in the app.",
            writer.name
        ),
    ];
    email(
        address,
        format!("New message from {}", writer.name),
        &lines,
        None,
    )
}

/// Tells the expert that their calendar server refused the password: their slots are hidden
/// until they connect it again.
/// Why an expert is told about one of their calendar connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalendarAlert {
    /// The provider refused the password or the grant: only the expert can fix it.
    Refused,
    /// The calendar could not be read since `since` (network, timeouts, 429, 5xx).
    Unreachable { since: DateTime<Utc> },
}

/// The email that tells an expert their calendar cannot be read, and what to do.
pub fn calendar_alert_email(
    expert: &str,
    (provider, account, server): (Provider, &str, &str),
    alert: CalendarAlert,
    address: &str,
) -> Email {
    let hidden = "Until the calendar can be read again, your free slots are hidden from \
                  clients, so that nobody books over an event we cannot see.";
    let reconnect = format!(
        "Your {} calendar needs to be connected again",
        provider.label()
    );
    let (subject, what, remedy) = match alert {
        CalendarAlert::Refused if provider == Provider::Caldav => (
            "Your calendar needs to be connected again".to_owned(),
            format!(
                "your calendar server ({server}) refused the password of the account {account}."
            ),
            "Connect the calendar again with a new app-specific password (for iCloud: \
             appleid.apple.com, Sign-In and Security, App-Specific Passwords; changing the Apple ID \
             password revokes them all).",
        ),
        CalendarAlert::Refused => (
            reconnect,
            format!(
                "{} no longer lets us read the calendar of {account} (the access was revoked or \
                 expired).",
                provider.label()
            ),
            "Connect the calendar again from your calendar settings; it takes one click at the \
             provider.",
        ),
        CalendarAlert::Unreachable { since } => (
            "We cannot read your calendar".to_owned(),
            format!(
                "we have not been able to read the calendar of the account {account} ({server}) \
                 since {} UTC.",
                since.format("%Y-%m-%d %H:%M")
            ),
            "We keep trying every few minutes and your slots come back by themselves once it \
             answers. If it stays unreachable, check the account with the provider, or \
             disconnect it from your calendar settings.",
        ),
    };
    let lines = [
        format!("Hello {expert},"),
        String::new(),
        format!("{what} {hidden}"),
        remedy.to_owned(),
    ];
    email(address, subject, &lines, None)
}

/// The email that tells an expert their booking keeps the default meeting link, and why.
pub fn conferencing_failed_email(
    expert: &str,
    (start, zone): (DateTime<Utc>, Tz),
    (link, why): (&str, &str),
    address: &str,
) -> Email {
    let lines = [
        format!("Hello {expert},"),
        String::new(),
        format!(
            "the {link} link you chose could not be created for your session on {}: {why}.",
            local(start, zone)
        ),
        "The session keeps its default meeting link, which both of you already have; nothing \
         else changed. Check the calendar's conferencing settings, or choose the default link in \
         your calendar settings."
            .to_owned(),
    ];
    email(
        address,
        format!("No {link} link: your session keeps its default meeting link"),
        &lines,
        None,
    )
}

pub(super) fn local(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%A %-d %B %Y, %H:%M (%Z)")
        .to_string()
}

/// The plain text and its HTML twin, a paragraph per line.
pub(super) fn email(
    to: &str,
    subject: String,
    lines: &[String],
    invite: Option<(Method, String)>,
) -> Email {
    let html = format!(
        "<html><body>{}</body></html>",
        lines
            .iter()
            .map(|l| format!("<p>{}</p>", html_escape(l)))
            .collect::<String>()
    );
    Email {
        to: to.to_owned(),
        subject,
        text: lines.join("\n"),
        html,
        invite,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::money::Currency;

    fn party(name: &str, zone: Tz) -> Party {
        Party {
            name: name.to_owned(),
            email: Some(format!("{}@example.com", name.to_lowercase())),
            zone,
            sms: None,
        }
    }

    fn session(refund: Option<Money>) -> Session<'static> {
        Session {
            // 13:00 UTC on the Monday after Europe moved to summer time (29 March 2026).
            start: Utc.with_ymd_and_hms(2026, 3, 30, 13, 0, 0).unwrap(),
            duration_minutes: 60,
            price: crate::booking::price(Money::new(18_000, Currency::Usd), 60).unwrap(),
            refund,
            meeting_url: Some("https://meet.example/r"),
            invite: (Method::Request, "BEGIN:VCALENDAR"),
        }
    }

    #[test]
    fn each_party_reads_their_own_zone_and_their_own_side_of_the_money() {
        let (ada, bob) = (
            party("Ada", chrono_tz::Europe::London),
            party("Bob", chrono_tz::America::New_York),
        );
        let s = session(None);
        let to_bob = session_email("Booked", Role::Client, &s, &bob, &ada, "bob@example.com");
        assert_eq!(
            to_bob.subject,
            "Booked: consultation with Ada on Monday 30 March 2026, 09:00 (EDT)"
        );
        assert!(to_bob.text.contains("Price: 180.00 USD"));
        assert!(!to_bob.text.contains("earnings"));
        assert!(to_bob.text.contains("Join: https://meet.example/r"));
        let to_ada = session_email("Booked", Role::Expert, &s, &ada, &bob, "ada@example.com");
        assert!(
            to_ada.subject.ends_with("14:00 (BST)"),
            "{}",
            to_ada.subject
        );
        assert!(to_ada.text.contains("Your earnings: 162.00 USD"));
        assert!(!to_ada.text.contains("180.00"));
        assert_eq!(
            to_ada.invite,
            Some((Method::Request, "BEGIN:VCALENDAR".into()))
        );
    }

    #[test]
    fn a_cancellation_names_the_refund_and_html_is_escaped() {
        let s = Session {
            meeting_url: None,
            ..session(Some(Money::new(9_000, Currency::Usd)))
        };
        let client = party("<Bob>", chrono_tz::UTC);
        let email = session_email(
            "Cancelled",
            Role::Client,
            &s,
            &client,
            &party("Ada", chrono_tz::UTC),
            "b@example.com",
        );
        assert!(email.text.contains("Refund to the client: 90.00 USD"));
        let to_expert = session_email(
            "Cancelled",
            Role::Expert,
            &s,
            &party("Ada", chrono_tz::UTC),
            &client,
            "a@example.com",
        );
        assert!(
            to_expert.text.contains("Your earnings: 81.00 USD"),
            "{}",
            to_expert.text
        );
        assert!(!email.text.contains("Join"));
        assert!(email.html.contains("&lt;Bob&gt;") && !email.html.contains("<Bob>"));
    }

    #[test]
    fn a_message_email_names_the_writer_but_not_the_text_and_carries_no_invite() {
        let email = message_email(
            &party("Bob", chrono_tz::America::New_York),
            &party("Ada", chrono_tz::Europe::London),
            session(None).start,
            "bob@example.com",
        );
        assert_eq!(email.subject, "New message from Ada");
        assert!(email.text.contains("Monday 30 March 2026, 09:00 (EDT)"));
        assert_eq!(email.invite, None);
    }

    #[test]
    fn an_sms_reminder_is_short_and_in_the_readers_zone() {
        let text = reminder_sms(
            "In one hour",
            &session(None),
            &party("Bob", chrono_tz::America::New_York),
            &party("Ada", chrono_tz::Europe::London),
        );
        assert_eq!(
            text,
            "In one hour: consultation with Ada at Mon 30 Mar 09:00 EDT. Join: https://meet.example/r"
        );
        assert!(text.len() <= 160);
    }

    #[test]
    fn only_session_events_have_a_headline() {
        assert_eq!(headline(EventKind::BookingCancelled), Some("Cancelled"));
        assert_eq!(headline(EventKind::MessagePosted), None);
        assert_eq!(headline(EventKind::ReviewPosted), None);
    }
}
