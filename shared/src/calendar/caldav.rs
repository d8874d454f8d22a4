//! The CalDAV requests the calendar sync makes (RFC 4791, sync-collection from RFC 6578):
//! discovery, incremental reads, multiget, and conditional writes. One reqwest client, built
//! once per cold start with hard timeouts and no automatic redirects: redirects are followed
//! here, a bounded number of hops, keeping the credentials across the host change iCloud makes
//! (`caldav.icloud.com` -> `pNN-caldav.icloud.com`), each hop going through the same guarded
//! connector.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};

use super::guard::{self, OutboundPolicy};
use super::multistatus::{self, DavResponse, Multistatus};
use super::rest::{ReadFailure, network_failure, read_limited, retry_after};

/// Redirects followed per request (a well-known URL, a partition host).
const MAX_REDIRECTS: usize = 5;
/// The largest answer read; a calendar larger than this is read in several multigets.
const MAX_BODY_BYTES: usize = 16 << 20;

/// Where and as whom: the server's URL and an app-specific password.
#[derive(Clone)]
pub struct CalDavAccount {
    pub server_url: Url,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for CalDavAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalDavAccount")
            .field("server_url", &self.server_url.as_str())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RemoteCalendar {
    pub url: Url,
    pub name: String,
    /// The user may write events into it (a booking target).
    pub writable: bool,
}

/// What changed in a calendar since a sync token.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// Members created or changed: URL and ETag.
    pub changed: Vec<(Url, String)>,
    /// Members gone since the token.
    pub removed: Vec<Url>,
    pub token: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CalendarObject {
    pub url: Url,
    pub etag: String,
    pub data: String,
}

#[derive(Clone, Copy, Debug)]
pub enum WriteCondition<'a> {
    /// `If-None-Match: *`: only if nothing is there yet.
    Create,
    /// `If-Match`: only if it is still the version we know.
    Matches(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum CalDavError {
    #[error("the server refused the user name or password")]
    Unauthorized,
    #[error("this is not a CalDAV server: {0}")]
    NotCalDav(String),
    #[error("the server could not be reached: {0}")]
    Unreachable(String),
    #[error("the server asked us to slow down (HTTP {status})")]
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("the server failed (HTTP {0})")]
    Server(u16),
    #[error("the sync token is no longer valid")]
    InvalidSyncToken,
    #[error("the event changed since it was read")]
    PreconditionFailed,
    #[error("not found")]
    NotFound,
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The address is not one we may call (see `guard`).
    #[error("{0}")]
    Refused(String),
}

impl CalDavError {
    /// Worth trying again later (network, timeouts, 429, 5xx); the others need a person.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CalDavError::Unreachable(_) | CalDavError::Throttled { .. } | CalDavError::Server(_)
        )
    }
}

/// The client of every CalDAV server; cheap to clone.
#[derive(Clone, Debug)]
pub struct CalDav {
    http: reqwest::Client,
    policy: OutboundPolicy,
}

struct Answer {
    status: StatusCode,
    url: Url,
    headers: HeaderMap,
    body: String,
}

impl CalDav {
    /// `http` comes from `guard::client` with the same policy: it resolves names through the
    /// guard and follows no redirects itself; IP literals (which skip the resolver) and every
    /// redirect hop are checked here.
    pub fn new(http: reqwest::Client, policy: OutboundPolicy) -> Self {
        CalDav { http, policy }
    }

    /// The account's event calendars: principal from the given URL (or its well-known
    /// one), then the calendar home, then the calendars holding VEVENTs.
    pub async fn discover(
        &self,
        account: &CalDavAccount,
    ) -> Result<Vec<RemoteCalendar>, CalDavError> {
        let principal_query = propfind(&["<d:current-user-principal/>"]);
        let mut principal = None;
        for start in [
            account.server_url.clone(),
            join(&account.server_url, "/.well-known/caldav")?,
        ] {
            match self.propfind(account, &start, "0", &principal_query).await {
                Ok((url, answer)) => {
                    principal = first_prop(&answer, |p| p.current_user_principal.clone())
                        .map(|href| join(&url, &href))
                        .transpose()?;
                }
                Err(CalDavError::NotCalDav(_) | CalDavError::NotFound) => {}
                Err(error) => return Err(error),
            }
            if principal.is_some() {
                break;
            }
        }
        let principal =
            principal.ok_or_else(|| CalDavError::NotCalDav("no current-user-principal".into()))?;
        let (url, answer) = self
            .propfind(
                account,
                &principal,
                "0",
                &propfind(&["<c:calendar-home-set/>"]),
            )
            .await?;
        let home = first_prop(&answer, |p| p.calendar_home_set.clone())
            .ok_or_else(|| CalDavError::NotCalDav("no calendar-home-set".into()))?;
        let home = join(&url, &home)?;
        let (url, answer) = self
            .propfind(
                account,
                &home,
                "1",
                &propfind(&[
                    "<d:resourcetype/>",
                    "<d:displayname/>",
                    "<c:supported-calendar-component-set/>",
                    "<d:current-user-privilege-set/>",
                ]),
            )
            .await?;
        let mut calendars = Vec::new();
        for response in answer.responses {
            let props = &response.props;
            let holds_events = props
                .components
                .as_ref()
                .is_none_or(|c| c.iter().any(|c| c == "VEVENT"));
            if !props.is_calendar || !holds_events {
                continue;
            }
            let url = join(&url, &response.href)?;
            let name = props
                .display_name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| last_segment(&url));
            calendars.push(RemoteCalendar {
                url,
                name,
                // Servers that do not report privileges let the owner write.
                writable: props.writable.unwrap_or(true),
            });
        }
        Ok(calendars)
    }

    /// The members changed or removed since `token` (all members when `None`).
    pub async fn changes(
        &self,
        account: &CalDavAccount,
        calendar: &Url,
        token: Option<&str>,
    ) -> Result<Changes, CalDavError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#,
            escape(token.unwrap_or_default())
        );
        let answer = self.webdav(account, "REPORT", calendar, "1", body).await?;
        if matches!(answer.status.as_u16(), 403 | 409) && answer.body.contains("valid-sync-token") {
            return Err(CalDavError::InvalidSyncToken);
        }
        let parsed = multistatus_of(answer)?;
        let mut changes = Changes {
            token: parsed.0.sync_token.clone(),
            ..Changes::default()
        };
        for response in parsed.0.responses {
            let url = join(&parsed.1, &response.href)?;
            // iCloud lists the collection itself among the changes.
            if same_resource(&url, calendar) {
                continue;
            }
            match (response.status, response.props.etag) {
                (Some(404), _) => changes.removed.push(url),
                (_, Some(etag)) => changes.changed.push((url, etag)),
                _ => {}
            }
        }
        Ok(changes)
    }

    /// The data of the named members of `calendar` (calendar-multiget). Members gone in the
    /// meantime are left out.
    pub async fn fetch(
        &self,
        account: &CalDavAccount,
        calendar: &Url,
        members: &[Url],
    ) -> Result<Vec<CalendarObject>, CalDavError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let hrefs: String = members
            .iter()
            .map(|m| format!("<d:href>{}</d:href>", escape(m.path())))
            .collect();
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>{hrefs}</c:calendar-multiget>"#
        );
        let answer = self.webdav(account, "REPORT", calendar, "1", body).await?;
        let (parsed, url) = multistatus_of(answer)?;
        let mut objects = Vec::new();
        for response in parsed.responses {
            let DavResponse { href, props, .. } = response;
            if let (Some(etag), Some(data)) = (props.etag, props.calendar_data) {
                objects.push(CalendarObject {
                    url: join(&url, &href)?,
                    etag,
                    data,
                });
            }
        }
        Ok(objects)
    }

    /// Writes an event; answers its new ETag when the server tells it.
    pub async fn put(
        &self,
        account: &CalDavAccount,
        url: &Url,
        ics: String,
        condition: WriteCondition<'_>,
    ) -> Result<Option<String>, CalDavError> {
        let precondition = match condition {
            WriteCondition::Create => ("if-none-match", "*"),
            WriteCondition::Matches(etag) => ("if-match", etag),
        };
        let answer = self
            .send(
                account,
                Method::PUT,
                url,
                None,
                ics,
                &[
                    ("content-type", "text/calendar; charset=utf-8"),
                    precondition,
                ],
            )
            .await?;
        match answer.status.as_u16() {
            200..=299 => Ok(answer
                .headers
                .get("etag")
                .and_then(|e| e.to_str().ok())
                .map(str::to_owned)),
            412 => Err(CalDavError::PreconditionFailed),
            status => Err(CalDavError::Protocol(format!("PUT answered {status}"))),
        }
    }

    /// Deletes an event if it is still the version we know.
    pub async fn delete(
        &self,
        account: &CalDavAccount,
        url: &Url,
        etag: &str,
    ) -> Result<(), CalDavError> {
        let answer = self
            .send(
                account,
                Method::DELETE,
                url,
                None,
                String::new(),
                &[("if-match", etag)],
            )
            .await?;
        match answer.status.as_u16() {
            200..=299 => Ok(()),
            404 => Err(CalDavError::NotFound),
            412 => Err(CalDavError::PreconditionFailed),
            status => Err(CalDavError::Protocol(format!("DELETE answered {status}"))),
        }
    }

    async fn propfind(
        &self,
        account: &CalDavAccount,
        url: &Url,
        depth: &str,
        body: &str,
    ) -> Result<(Url, Multistatus), CalDavError> {
        let answer = self
            .webdav(account, "PROPFIND", url, depth, body.to_owned())
            .await?;
        multistatus_of(answer).map(|(m, u)| (u, m))
    }

    /// A WebDAV method (PROPFIND, REPORT) with its Depth and XML body.
    async fn webdav(
        &self,
        account: &CalDavAccount,
        method: &str,
        url: &Url,
        depth: &str,
        body: String,
    ) -> Result<Answer, CalDavError> {
        let method = Method::from_bytes(method.as_bytes()).map_err(protocol)?;
        self.send(account, method, url, Some(depth), body, &[])
            .await
    }

    /// One request, redirects followed (the same method, body and credentials), errors
    /// classified: 401/403 refuse the account, 429/503 ask for patience, other 5xx fail.
    async fn send(
        &self,
        account: &CalDavAccount,
        method: Method,
        url: &Url,
        depth: Option<&str>,
        body: String,
        headers: &[(&str, &str)],
    ) -> Result<Answer, CalDavError> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            self.policy
                .check_url(&url)
                .map_err(|e| CalDavError::Refused(e.to_string()))?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .basic_auth(&account.username, Some(&account.password))
                .body(body.clone());
            if !body.is_empty() && !headers.iter().any(|(n, _)| *n == "content-type") {
                request = request.header("content-type", "application/xml; charset=utf-8");
            }
            if let Some(depth) = depth {
                request = request.header("depth", depth);
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = request.send().await.map_err(unreachable)?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| CalDavError::Protocol("a redirect without Location".into()))?;
                url = join(&url, location)?;
                continue;
            }
            match status.as_u16() {
                401 => return Err(CalDavError::Unauthorized),
                429 | 503 => {
                    return Err(CalDavError::Throttled {
                        status: status.as_u16(),
                        retry_after: retry_after(response.headers()),
                    });
                }
                500..=599 => return Err(CalDavError::Server(status.as_u16())),
                _ => {}
            }
            let headers = response.headers().clone();
            let body = read_text(response).await?;
            // A 403 is a refusal of the account unless it names a failed precondition.
            if status == StatusCode::FORBIDDEN && !body.contains("valid-sync-token") {
                return Err(CalDavError::Unauthorized);
            }
            return Ok(Answer {
                status,
                url,
                headers,
                body,
            });
        }
        Err(CalDavError::Protocol(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }
}

fn propfind(props: &[&str]) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>{}</d:prop></d:propfind>"#,
        props.concat()
    )
}

fn multistatus_of(answer: Answer) -> Result<(Multistatus, Url), CalDavError> {
    match answer.status.as_u16() {
        207 => multistatus::parse(&answer.body)
            .map(|m| (m, answer.url))
            .map_err(CalDavError::NotCalDav),
        404 => Err(CalDavError::NotFound),
        status => Err(CalDavError::NotCalDav(format!(
            "answered {status} where WebDAV answers 207 Multi-Status"
        ))),
    }
}

fn first_prop<T>(
    answer: &Multistatus,
    pick: impl Fn(&multistatus::Props) -> Option<T>,
) -> Option<T> {
    answer.responses.iter().find_map(|r| pick(&r.props))
}

fn join(base: &Url, href: &str) -> Result<Url, CalDavError> {
    base.join(href)
        .map_err(|e| CalDavError::Protocol(format!("bad href {href:?}: {e}")))
}

fn same_resource(a: &Url, b: &Url) -> bool {
    a.as_str().trim_end_matches('/') == b.as_str().trim_end_matches('/')
}

fn last_segment(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.rfind(|s| !s.is_empty()))
        .unwrap_or_default()
        .to_owned()
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

fn protocol(error: impl std::fmt::Display) -> CalDavError {
    CalDavError::Protocol(error.to_string())
}

/// Network errors and timeouts, with the cause but never the URL's credentials; the guard's
/// refusals apart (no retry will change them).
fn unreachable(error: reqwest::Error) -> CalDavError {
    if let Some(refusal) = guard::refused_by_guard(&error) {
        return CalDavError::Refused(refusal);
    }
    CalDavError::Unreachable(network_failure(&error))
}

async fn read_text(response: reqwest::Response) -> Result<String, CalDavError> {
    let body = read_limited(response, MAX_BODY_BYTES)
        .await
        .map_err(|failure| match failure {
            ReadFailure::Network(error) => unreachable(error),
            ReadFailure::TooLarge(limit) => {
                CalDavError::Protocol(format!("answer larger than {limit} bytes"))
            }
        })?;
    String::from_utf8(body).map_err(|_| CalDavError::Protocol("answer is not UTF-8".into()))
}
