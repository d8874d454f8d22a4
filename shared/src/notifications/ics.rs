//! iCalendar invites (RFC 5545) for appointments: `METHOD:REQUEST` when booked or moved,
//! `METHOD:CANCEL` when cancelled; one UID for the appointment's whole life, SEQUENCE raised
//! on each change; times in UTC (`Z`), so no VTIMEZONE is ever invented.

use chrono::{DateTime, Utc};

use crate::ids::AppointmentId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Request,
    Cancel,
}

/// What an invite says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite<'a> {
    pub method: Method,
    pub appointment: AppointmentId,
    pub sequence: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: &'a str,
    pub description: &'a str,
    pub location: Option<&'a str>,
    pub organizer: (&'a str, &'a str),
    pub attendees: &'a [(&'a str, &'a str)],
    pub now: DateTime<Utc>,
}

impl Invite<'_> {
    pub fn uid(&self) -> String {
        format!("{}@expert-marketplace", self.appointment)
    }

    /// The calendar object, CRLF line ends, lines folded at 75 octets.
    pub fn render(&self) -> String {
        self.lines(true)
    }

    /// The same event as stored in the expert's own calendar (CalDAV): no METHOD (RFC 4791
    /// forbids it in stored objects) and no organizer or attendees, so that the server's
    /// scheduling never mails anyone on our behalf.
    pub fn render_stored(&self) -> String {
        self.lines(false)
    }

    fn lines(&self, invitation: bool) -> String {
        let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
        let (method, status) = match self.method {
            Method::Request => ("REQUEST", "CONFIRMED"),
            Method::Cancel => ("CANCEL", "CANCELLED"),
        };
        let mut lines = vec![
            "BEGIN:VCALENDAR".to_owned(),
            "VERSION:2.0".to_owned(),
            "PRODID:-//expert-marketplace//bookings//EN".to_owned(),
            "CALSCALE:GREGORIAN".to_owned(),
        ];
        if invitation {
            lines.push(format!("METHOD:{method}"));
        }
        lines.extend([
            "BEGIN:VEVENT".to_owned(),
            format!("UID:{}", self.uid()),
            format!("SEQUENCE:{}", self.sequence),
            format!("DTSTAMP:{}", stamp(self.now)),
            format!("DTSTART:{}", stamp(self.start)),
            format!("DTEND:{}", stamp(self.end)),
            format!("SUMMARY:{}", escape(self.summary)),
            format!("DESCRIPTION:{}", escape(self.description)),
            format!("STATUS:{status}"),
        ]);
        if invitation {
            lines.push(format!(
                "ORGANIZER;CN={}:mailto:{}",
                parameter(self.organizer.0),
                self.organizer.1
            ));
        }
        if let Some(location) = self.location {
            lines.push(format!("LOCATION:{}", escape(location)));
            lines.push(format!("URL:{location}"));
        }
        if invitation {
            for (name, email) in self.attendees {
                lines.push(format!(
                    "ATTENDEE;CN={};ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:{email}",
                    parameter(name)
                ));
            }
        }
        lines.push("END:VEVENT".to_owned());
        lines.push("END:VCALENDAR".to_owned());
        lines.iter().map(|l| fold(l)).collect::<Vec<_>>().join("")
    }
}

/// TEXT values: backslash, semicolon, comma and newlines escaped (RFC 5545 3.3.11).
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace("\r\n", "\\n")
        .replace('\n', "\\n")
}

/// Parameter values are quoted, and may not hold quotes or control characters.
fn parameter(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect();
    format!("\"{clean}\"")
}

/// One content line, folded so no physical line exceeds 75 octets (never inside a UTF-8
/// sequence), ended by CRLF.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut width = 0;
    for ch in line.chars() {
        let len = ch.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += len;
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().to_utc()
    }

    fn invite(method: Method, sequence: u32) -> String {
        Invite {
            method,
            appointment: "apt_01JD8Y3V9K2Q4R5S6T7V8W9X0Y".parse().unwrap(),
            sequence,
            start: at("2026-12-07T09:00:00Z"),
            end: at("2026-12-07T10:00:00Z"),
            summary: "Consultation with Ada Byron, \"tax; VAT\"",
            description: "Join: https://meet.jit.si/expert-session-abc\nNotes: bring invoices, please.",
            location: Some("https://meet.jit.si/expert-session-abc"),
            organizer: ("Expert Marketplace", "bookings@example.com"),
            attendees: &[("Bob", "bob@example.com"), ("Ada \"The\" Byron", "ada@example.com")],
            now: at("2026-12-01T12:00:00Z"),
        }
        .render()
    }

    /// Unfolds and splits into (name with parameters, value).
    fn properties(ics: &str) -> Vec<(String, String)> {
        ics.replace("\r\n ", "")
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (name, value) = l.split_once(':').unwrap();
                (name.to_owned(), value.to_owned())
            })
            .collect()
    }

    #[test]
    fn a_request_carries_uid_sequence_and_utc_times() {
        let ics = invite(Method::Request, 0);
        let props = properties(&ics);
        let get = |name: &str| {
            props
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("METHOD"), Some("REQUEST"));
        assert_eq!(
            get("UID"),
            Some("apt_01JD8Y3V9K2Q4R5S6T7V8W9X0Y@expert-marketplace")
        );
        assert_eq!(get("SEQUENCE"), Some("0"));
        assert_eq!(get("DTSTART"), Some("20261207T090000Z"));
        assert_eq!(get("DTEND"), Some("20261207T100000Z"));
        assert_eq!(get("STATUS"), Some("CONFIRMED"));
        assert_eq!(
            get("SUMMARY"),
            Some("Consultation with Ada Byron\\, \"tax\\; VAT\"")
        );
        assert!(!ics.contains("VTIMEZONE"));
        let attendees: Vec<_> = props
            .iter()
            .filter(|(n, _)| n.starts_with("ATTENDEE"))
            .collect();
        assert_eq!(attendees.len(), 2);
        assert!(attendees[1].0.contains("CN=\"Ada The Byron\""));
    }

    #[test]
    fn a_cancel_keeps_the_uid_and_raises_the_sequence() {
        let request = properties(&invite(Method::Request, 1));
        let cancel = properties(&invite(Method::Cancel, 2));
        let get = |props: &[(String, String)], name: &str| {
            props
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get(&cancel, "METHOD").as_deref(), Some("CANCEL"));
        assert_eq!(get(&cancel, "STATUS").as_deref(), Some("CANCELLED"));
        assert_eq!(get(&cancel, "UID"), get(&request, "UID"));
        assert_eq!(get(&cancel, "SEQUENCE").as_deref(), Some("2"));
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let folded = fold(&format!("DESCRIPTION:{}", "é".repeat(80)));
        for line in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{} octets", line.len());
        }
        assert_eq!(
            folded.replace("\r\n ", "").trim_end(),
            format!("DESCRIPTION:{}", "é".repeat(80))
        );
    }
}
