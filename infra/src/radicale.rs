//! Accounts on the local Radicale (started by `infra/radicale.sh`, which exports RADICALE_URL
//! and RADICALE_USERS): tests and the seed make their own, with calendars, and write events
//! into them as any other CalDAV client would.

use std::io::Write;

use reqwest::{Method, Url};

use crate::bootstrap::BoxError;

#[derive(Clone, Debug)]
pub struct RadicaleAccount {
    pub server_url: Url,
    pub username: String,
    pub password: String,
}

impl RadicaleAccount {
    /// A new account with a password of its own (Radicale reads its htpasswd file at each
    /// login), and one calendar per `(name, component)` pair, e.g. `("work", "VEVENT")`.
    pub async fn create(calendars: &[(&str, &str)]) -> Result<RadicaleAccount, BoxError> {
        let users = std::env::var("RADICALE_USERS").map_err(|_| "RADICALE_USERS is not set")?;
        let account = RadicaleAccount {
            server_url: server_url()?,
            username: format!("u{}", ulid::Ulid::new()).to_lowercase(),
            password: format!("p{}", ulid::Ulid::new()),
        };
        // One write of the whole line: tests add accounts at the same time, and an appended
        // write is atomic only as a single call.
        let line = format!("{}:{}\n", account.username, account.password);
        std::fs::OpenOptions::new()
            .append(true)
            .open(users)?
            .write_all(line.as_bytes())?;
        account.make_calendars(calendars).await?;
        Ok(account)
    }

    /// An account the htpasswd file already has (the local stack's `demo`).
    pub fn existing(username: &str, password: &str) -> Result<RadicaleAccount, BoxError> {
        Ok(RadicaleAccount {
            server_url: server_url()?,
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }

    /// One calendar per `(name, component)` pair.
    pub async fn make_calendars(&self, calendars: &[(&str, &str)]) -> Result<(), BoxError> {
        for (name, component) in calendars {
            let body = format!(
                r#"<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>{name}</d:displayname><c:supported-calendar-component-set><c:comp name="{component}"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>"#
            );
            let status = self
                .request(Method::from_bytes(b"MKCALENDAR")?, &format!("{name}/"))?
                .body(body)
                .send()
                .await?
                .status();
            if status != 201 {
                return Err(format!("MKCALENDAR {name} answered {status}").into());
            }
        }
        Ok(())
    }

    /// Changes the account's password behind our back, as an Apple ID password change revokes
    /// app-specific passwords. The line is rewritten in place, same length, so that accounts
    /// other tests append meanwhile are untouched.
    pub fn change_password(&mut self) -> Result<(), BoxError> {
        use std::os::unix::fs::FileExt;
        let users = std::env::var("RADICALE_USERS").map_err(|_| "RADICALE_USERS is not set")?;
        let line = format!("{}:{}\n", self.username, self.password);
        let text = std::fs::read_to_string(&users)?;
        let at = text
            .find(&line)
            .ok_or("the account is not in the htpasswd file")?;
        let password = format!("p{}", ulid::Ulid::new());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&users)?
            .write_at(password.as_bytes(), (at + self.username.len() + 1) as u64)?;
        self.password = password;
        Ok(())
    }

    /// The URL of `path` under the account's home (`/<user>/<path>`).
    pub fn url(&self, path: &str) -> Result<Url, BoxError> {
        Ok(self.server_url.join(&format!("{}/{path}", self.username))?)
    }

    /// A request as the account's owner, from another CalDAV client.
    pub fn request(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder, BoxError> {
        Ok(reqwest::Client::new()
            .request(method, self.url(path)?)
            .basic_auth(&self.username, Some(&self.password)))
    }
}

fn server_url() -> Result<Url, BoxError> {
    Ok(Url::parse(&std::env::var("RADICALE_URL").map_err(
        |_| "RADICALE_URL is not set: run through infra/test.sh or make dev, which start Radicale",
    )?)?)
}
