//! Emails as SES sends them raw: multipart/alternative with a plain-text part, an HTML part
//! and, for bookings, the invite as `text/calendar; method=...` (the part calendar clients act
//! on). Every part base64, so no line or character limit of SMTP can bite.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};

use super::ics::Method;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The calendar object and its method, when the email carries an invite.
    pub invite: Option<(Method, String)>,
}

impl Email {
    /// The RFC 5322 message, CRLF line ends.
    pub fn raw(&self, from: &str, now: DateTime<Utc>, boundary: &str) -> String {
        let mut out = String::new();
        let header = |out: &mut String, name: &str, value: &str| {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        };
        header(&mut out, "From", &format!("Expert Marketplace <{from}>"));
        header(&mut out, "To", &self.to);
        header(
            &mut out,
            "Subject",
            &format!("=?UTF-8?B?{}?=", STANDARD.encode(&self.subject)),
        );
        header(&mut out, "Date", &now.to_rfc2822());
        header(&mut out, "MIME-Version", "1.0");
        header(
            &mut out,
            "Content-Type",
            &format!("multipart/alternative; boundary=\"{boundary}\""),
        );
        out.push_str("\r\n");
        let mut part = |content_type: &str, body: &str| {
            out.push_str(&format!("--{boundary}\r\n"));
            out.push_str(&format!("Content-Type: {content_type}\r\n"));
            out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
            let encoded = STANDARD.encode(body);
            for chunk in encoded.as_bytes().chunks(76) {
                out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
                out.push_str("\r\n");
            }
        };
        part("text/plain; charset=UTF-8", &self.text);
        part("text/html; charset=UTF-8", &self.html);
        if let Some((method, calendar)) = &self.invite {
            let method = match method {
                Method::Request => "REQUEST",
                Method::Cancel => "CANCEL",
            };
            part(
                &format!("text/calendar; charset=UTF-8; method={method}"),
                calendar,
            );
        }
        out.push_str(&format!("--{boundary}--\r\n"));
        out
    }
}

/// Text for HTML: the five characters that matter escaped.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_has_three_base64_parts_and_an_encoded_subject() {
        let email = Email {
            to: "bob@example.com".into(),
            subject: "Booked: Ada — Monday".into(),
            text: "Hello Bob".into(),
            html: "<p>Hello Bob</p>".into(),
            invite: Some((
                Method::Request,
                "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".into(),
            )),
        };
        let now = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .unwrap()
            .to_utc();
        let raw = email.raw("bookings@example.com", now, "b1");
        assert!(raw.contains("Subject: =?UTF-8?B?"));
        assert!(raw.contains("Content-Type: text/calendar; charset=UTF-8; method=REQUEST"));
        assert_eq!(raw.matches("--b1\r\n").count(), 3);
        assert!(raw.ends_with("--b1--\r\n"));
        assert!(raw.lines().all(|l| l.len() <= 998));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
