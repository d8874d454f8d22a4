//! The CalDAV client of `marketplace` against a real CalDAV server: Radicale, started by
//! `infra/test.sh`. Each test makes an account of its own.

use std::time::Duration;

use local_stack::radicale::RadicaleAccount;
use marketplace::calendar::caldav::{CalDav, CalDavAccount, CalDavError, WriteCondition};
use marketplace::calendar::guard::{self, OutboundPolicy, StaticLookup, SystemLookup};
use reqwest::Url;

/// Radicale runs on loopback: allowed here as the development setting allows it.
fn client() -> CalDav {
    let policy = OutboundPolicy {
        allowed_local_hosts: vec!["127.0.0.1".into()],
    };
    let http = guard::client(policy.clone(), SystemLookup, Duration::from_secs(5)).unwrap();
    CalDav::new(http, policy)
}

/// A new Radicale account with two calendars (one holding events, one only tasks).
async fn account() -> CalDavAccount {
    let account = RadicaleAccount::create(&[("work", "VEVENT"), ("chores", "VTODO")])
        .await
        .unwrap();
    CalDavAccount {
        server_url: account.server_url,
        username: account.username,
        password: account.password,
    }
}

fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261207T090000Z\r\nDTEND:20261207T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[tokio::test]
async fn discovery_finds_the_event_calendars_and_refuses_bad_credentials() {
    let account = account().await;
    let calendars = client().discover(&account).await.unwrap();
    assert_eq!(calendars.len(), 1, "{calendars:?}");
    assert_eq!(calendars[0].name, "work");
    assert!(calendars[0].writable);
    assert!(calendars[0].url.path().ends_with("/work/"));

    let wrong = CalDavAccount {
        password: "wrong".into(),
        ..account.clone()
    };
    assert!(matches!(
        client().discover(&wrong).await,
        Err(CalDavError::Unauthorized)
    ));
    // Nothing listens on port 9 (discard) of loopback.
    let nowhere = CalDavAccount {
        server_url: Url::parse("http://127.0.0.1:9/").unwrap(),
        ..account.clone()
    };
    let error = client().discover(&nowhere).await.unwrap_err();
    assert!(matches!(error, CalDavError::Unreachable(_)), "{error:?}");
    assert!(error.is_transient());
    // In production (no local hosts allowed) Radicale's own address is refused before any
    // request, and that is no passing fault.
    let production = CalDav::new(
        guard::client(
            OutboundPolicy::default(),
            SystemLookup,
            Duration::from_secs(5),
        )
        .unwrap(),
        OutboundPolicy::default(),
    );
    let refused = production.discover(&account).await.unwrap_err();
    assert!(matches!(refused, CalDavError::Refused(_)), "{refused:?}");
    assert!(!refused.is_transient());
}

#[tokio::test]
async fn sync_reports_creations_changes_and_removals_after_a_token() {
    let account = account().await;
    let dav = client();
    let calendar = dav.discover(&account).await.unwrap().remove(0).url;
    let first = dav.changes(&account, &calendar, None).await.unwrap();
    assert!(first.changed.is_empty() && first.removed.is_empty());
    let token = first
        .token
        .clone()
        .expect("Radicale supports sync-collection");

    // Written as another client would; then read through the sync.
    let a = calendar.join("a.ics").unwrap();
    let b = calendar.join("b.ics").unwrap();
    let etag_a = dav
        .put(&account, &a, event("a@test", "A"), WriteCondition::Create)
        .await
        .unwrap()
        .expect("an ETag");
    dav.put(&account, &b, event("b@test", "B"), WriteCondition::Create)
        .await
        .unwrap();
    // Creating again is refused: a retried job cannot duplicate an event.
    assert!(matches!(
        dav.put(&account, &a, event("a@test", "A"), WriteCondition::Create)
            .await,
        Err(CalDavError::PreconditionFailed)
    ));
    let second = dav
        .changes(&account, &calendar, Some(&token))
        .await
        .unwrap();
    let mut changed: Vec<&str> = second.changed.iter().map(|(u, _)| u.path()).collect();
    changed.sort();
    assert_eq!(changed, [a.path(), b.path()]);
    let objects = dav
        .fetch(&account, &calendar, &[a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(objects.len(), 2);
    assert!(objects.iter().any(|o| o.data.contains("UID:a@test")));

    // Update under the right ETag, not under a stale one; delete.
    let new_etag = dav
        .put(
            &account,
            &a,
            event("a@test", "A moved"),
            WriteCondition::Matches(&etag_a),
        )
        .await
        .unwrap()
        .unwrap();
    assert_ne!(new_etag, etag_a);
    assert!(matches!(
        dav.put(
            &account,
            &a,
            event("a@test", "A"),
            WriteCondition::Matches(&etag_a)
        )
        .await,
        Err(CalDavError::PreconditionFailed)
    ));
    dav.delete(
        &account,
        &b,
        &objects.iter().find(|o| o.url == b).unwrap().etag,
    )
    .await
    .unwrap();
    let third = dav
        .changes(&account, &calendar, second.token.as_deref())
        .await
        .unwrap();
    assert_eq!(third.changed.len(), 1);
    assert_eq!(third.changed[0].0, a);
    assert_eq!(third.changed[0].1, new_etag);
    assert_eq!(third.removed, [b]);

    // Nothing changed: nothing reported.
    let fourth = dav
        .changes(&account, &calendar, third.token.as_deref())
        .await
        .unwrap();
    assert!(fourth.changed.is_empty() && fourth.removed.is_empty());

    // A token the server does not know.
    assert!(matches!(
        dav.changes(
            &account,
            &calendar,
            Some("http://radicale.org/ns/sync/bogus")
        )
        .await,
        Err(CalDavError::InvalidSyncToken)
    ));
}

/// A server on loopback that answers every request with a redirect to `location`.
async fn redirector(location: &'static str) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let answer = format!(
                    "HTTP/1.1 301 Moved Permanently\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    Url::parse(&format!("http://{address}/")).unwrap()
}

#[tokio::test]
async fn hostile_addresses_are_refused_before_any_packet_leaves_loopback() {
    // Names resolve through the test's own table: a redirect target that resolves to the
    // instance metadata address, one that resolves to a private address.
    let lookup = StaticLookup::new([
        ("metadata.test", vec!["169.254.169.254".parse().unwrap()]),
        ("intranet.test", vec!["10.0.0.7".parse().unwrap()]),
    ]);
    let policy = OutboundPolicy {
        allowed_local_hosts: vec!["127.0.0.1".into()],
    };
    let dav = CalDav::new(
        guard::client(policy.clone(), lookup, Duration::from_secs(5)).unwrap(),
        policy,
    );
    let account = |url: Url| CalDavAccount {
        server_url: url,
        username: "ada".into(),
        password: "secret".into(),
    };
    let cases = [
        redirector("https://metadata.test/latest/meta-data/").await,
        redirector("https://intranet.test/").await,
        redirector("http://169.254.169.254/").await,
        redirector("https://[fd00:ec2::254]/").await,
        Url::parse("http://calendar.example.com/").unwrap(),
        Url::parse("https://10.1.2.3/").unwrap(),
    ];
    for url in cases {
        let error = dav.discover(&account(url.clone())).await.unwrap_err();
        assert!(matches!(error, CalDavError::Refused(_)), "{url}: {error:?}");
        assert!(!error.is_transient(), "{url}");
    }
}
