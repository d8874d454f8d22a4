//! WebDAV `207 Multi-Status` bodies (RFC 4918 section 13), reduced to the properties the
//! calendar sync reads. Properties reported in a propstat whose status is not 2xx are absent
//! (servers answer 404 for the properties they do not have).

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};

const DAV: &[u8] = b"DAV:";
const CALDAV: &[u8] = b"urn:ietf:params:xml:ns:caldav";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Multistatus {
    pub responses: Vec<DavResponse>,
    /// RFC 6578: the token to send with the next sync-collection REPORT.
    pub sync_token: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DavResponse {
    pub href: String,
    /// The response's own status (a member removed since the last sync: 404).
    pub status: Option<u16>,
    pub props: Props,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Props {
    pub current_user_principal: Option<String>,
    pub calendar_home_set: Option<String>,
    pub display_name: Option<String>,
    pub is_calendar: bool,
    /// `supported-calendar-component-set`; `None` when not reported (any component).
    pub components: Option<Vec<String>>,
    /// Some write privilege in `current-user-privilege-set`; `None` when not reported.
    pub writable: Option<bool>,
    pub etag: Option<String>,
    pub calendar_data: Option<String>,
}

impl Props {
    fn merge(&mut self, other: Props) {
        self.current_user_principal = other
            .current_user_principal
            .or(self.current_user_principal.take());
        self.calendar_home_set = other.calendar_home_set.or(self.calendar_home_set.take());
        self.display_name = other.display_name.or(self.display_name.take());
        self.is_calendar |= other.is_calendar;
        self.components = other.components.or(self.components.take());
        self.writable = other.writable.or(self.writable);
        self.etag = other.etag.or(self.etag.take());
        self.calendar_data = other.calendar_data.or(self.calendar_data.take());
    }
}

/// `HTTP/1.1 404 Not Found` -> 404.
fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One element on the path from the root: its namespace (DAV, CalDAV or other) and name.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ns {
    Dav,
    CalDav,
    Other,
}

fn ns_of(resolved: &ResolveResult) -> Ns {
    match resolved {
        ResolveResult::Bound(Namespace(ns)) if *ns == DAV => Ns::Dav,
        ResolveResult::Bound(Namespace(ns)) if *ns == CALDAV => Ns::CalDav,
        _ => Ns::Other,
    }
}

pub fn parse(body: &str) -> Result<Multistatus, String> {
    let mut reader = NsReader::from_str(body);
    let mut path: Vec<(Ns, String)> = Vec::new();
    let mut text = String::new();
    let mut out = Multistatus::default();
    let mut response = DavResponse::default();
    let mut propstat = Props::default();
    let mut propstat_ok = true;
    let mut saw_multistatus = false;
    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("invalid XML: {e}"))?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                let ns = ns_of(&resolved);
                saw_multistatus |= path.is_empty() && ns == Ns::Dav && name == "multistatus";
                path.push((ns, name));
                mark(&path, &start, &mut propstat);
                text.clear();
            }
            Event::Empty(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                path.push((ns_of(&resolved), name));
                mark(&path, &start, &mut propstat);
                path.pop();
            }
            Event::Text(t) => text.push_str(&t.xml_content().map_err(|e| e.to_string())?),
            Event::CData(c) => text.push_str(&c.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| e.to_string())?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("unknown entity &{name};"))?;
                    text.push_str(resolved);
                }
            }
            Event::End(_) => {
                let value = std::mem::take(&mut text);
                let here = path.last().map(|(ns, name)| (*ns, name.as_str()));
                match (here, parent(&path)) {
                    (Some((Ns::Dav, "status")), Some("propstat")) => {
                        propstat_ok = status_code(&value).is_some_and(|s| (200..300).contains(&s));
                    }
                    (Some((Ns::Dav, "propstat")), _) => {
                        let props = std::mem::take(&mut propstat);
                        if propstat_ok {
                            response.props.merge(props);
                        }
                        propstat_ok = true;
                    }
                    (Some((Ns::Dav, "response")), _) => {
                        out.responses.push(std::mem::take(&mut response));
                    }
                    _ => text_value(&path, value, &mut out, &mut response, &mut propstat),
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_multistatus {
        return Err("not a DAV:multistatus document".into());
    }
    Ok(out)
}

/// The name of the element enclosing the current one.
fn parent(path: &[(Ns, String)]) -> Option<&str> {
    path.len().checked_sub(2).map(|i| path[i].1.as_str())
}

/// Properties told by an element's presence (`<C:calendar/>` in a resourcetype, a write
/// privilege, a component) rather than its text.
fn mark(path: &[(Ns, String)], start: &quick_xml::events::BytesStart, props: &mut Props) {
    let Some((ns, name)) = path.last() else {
        return;
    };
    match (ns, name.as_str(), parent(path)) {
        (Ns::CalDav, "calendar", Some("resourcetype")) => props.is_calendar = true,
        (Ns::CalDav, "comp", _) => {
            if let Ok(Some(name)) = start.try_get_attribute("name")
                && let Ok(value) = name.unescape_value()
            {
                props
                    .components
                    .get_or_insert_with(Vec::new)
                    .push(value.to_ascii_uppercase());
            }
        }
        (Ns::CalDav, "supported-calendar-component-set", _) => {
            props.components.get_or_insert_with(Vec::new);
        }
        (Ns::Dav, "write" | "write-content" | "all", Some("privilege")) => {
            props.writable = Some(true);
        }
        (Ns::Dav, "current-user-privilege-set", _) => {
            props.writable.get_or_insert(false);
        }
        _ => {}
    }
}

/// Properties carried in an element's text.
fn text_value(
    path: &[(Ns, String)],
    value: String,
    out: &mut Multistatus,
    response: &mut DavResponse,
    props: &mut Props,
) {
    let Some((ns, name)) = path.last() else {
        return;
    };
    let trimmed = || value.trim().to_owned();
    match (ns, name.as_str(), parent(path)) {
        (Ns::Dav, "sync-token", Some("multistatus")) => out.sync_token = Some(trimmed()),
        (Ns::Dav, "href", Some("response")) => response.href = trimmed(),
        (Ns::Dav, "status", Some("response")) => response.status = status_code(&value),
        (Ns::Dav, "href", Some("current-user-principal")) => {
            props.current_user_principal = Some(trimmed());
        }
        (Ns::Dav, "href", Some("calendar-home-set")) => props.calendar_home_set = Some(trimmed()),
        (Ns::Dav, "displayname", _) => props.display_name = Some(trimmed()),
        (Ns::Dav, "getetag", _) => props.etag = Some(trimmed()),
        (Ns::CalDav, "calendar-data", _) => props.calendar_data = Some(value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_icloud_style_sync_answer_reads_changes_removals_and_the_token() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <response><href>/123/calendars/work/</href>
    <propstat><prop><getetag>"c1"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>
  <response><href>/123/calendars/work/a%20b.ics</href>
    <propstat><prop><getetag>"e&amp;1"</getetag><C:calendar-data><![CDATA[BEGIN:VCALENDAR]]></C:calendar-data></prop>
    <status>HTTP/1.1 200 OK</status></propstat>
    <propstat><prop><displayname/></prop><status>HTTP/1.1 404 Not Found</status></propstat></response>
  <response><href>/123/calendars/work/gone.ics</href><status>HTTP/1.1 404 Not Found</status></response>
  <sync-token>https://example.com/ns/sync/42</sync-token>
</multistatus>"#;
        let parsed = parse(body).unwrap();
        assert_eq!(
            parsed.sync_token.as_deref(),
            Some("https://example.com/ns/sync/42")
        );
        assert_eq!(parsed.responses.len(), 3);
        let changed = &parsed.responses[1];
        assert_eq!(changed.href, "/123/calendars/work/a%20b.ics");
        assert_eq!(changed.props.etag.as_deref(), Some("\"e&1\""));
        assert_eq!(
            changed.props.calendar_data.as_deref(),
            Some("BEGIN:VCALENDAR")
        );
        assert_eq!(
            changed.props.display_name, None,
            "a 404 propstat reports nothing"
        );
        assert_eq!(parsed.responses[2].status, Some(404));
    }

    #[test]
    fn calendars_show_their_type_components_and_write_access() {
        let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
  <d:response><d:href>/ada/work/</d:href><d:propstat><d:prop>
    <d:resourcetype><d:collection/><cal:calendar/></d:resourcetype>
    <d:displayname>Work</d:displayname>
    <cal:supported-calendar-component-set><cal:comp name="VEVENT"/><cal:comp name="VTODO"/></cal:supported-calendar-component-set>
    <d:current-user-privilege-set><d:privilege><d:read/></d:privilege><d:privilege><d:write/></d:privilege></d:current-user-privilege-set>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
  <d:response><d:href>/ada/holidays/</d:href><d:propstat><d:prop>
    <d:resourcetype><d:collection/><cal:calendar/></d:resourcetype>
    <d:current-user-privilege-set><d:privilege><d:read/></d:privilege></d:current-user-privilege-set>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
  <d:response><d:href>/ada/</d:href><d:propstat><d:prop>
    <d:resourcetype><d:collection/></d:resourcetype>
    <cal:calendar-home-set><d:href>https://p42-caldav.icloud.com/ada/calendars/</d:href></cal:calendar-home-set>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"#;
        let parsed = parse(body).unwrap();
        let work = &parsed.responses[0].props;
        assert!(work.is_calendar);
        assert_eq!(work.display_name.as_deref(), Some("Work"));
        assert_eq!(work.components, Some(vec!["VEVENT".into(), "VTODO".into()]));
        assert_eq!(work.writable, Some(true));
        assert_eq!(parsed.responses[1].props.writable, Some(false));
        let home = &parsed.responses[2].props;
        assert!(!home.is_calendar);
        assert_eq!(
            home.calendar_home_set.as_deref(),
            Some("https://p42-caldav.icloud.com/ada/calendars/")
        );
    }

    #[test]
    fn what_is_not_a_multistatus_is_refused() {
        for body in [
            "<html><body>hello</body></html>",
            "",
            "not xml <",
            "<d:multistatus xmlns:d=\"DAV:\"><d:response>&bogus;</d:response></d:multistatus>",
        ] {
            assert!(parse(body).is_err(), "{body}");
        }
    }
}
