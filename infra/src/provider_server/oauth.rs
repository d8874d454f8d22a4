//! The OAuth 2.0 endpoints of both families: authorization (auto-consent), token (codes,
//! PKCE S256, refresh as each provider does it) and Google's revocation.

use std::collections::HashMap;

use aws_lc_rs::digest;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use http::StatusCode;
use serde_json::{Value, json};

use super::{Call, DEFAULT_ACCOUNT, Family, ProviderServer, Reply, World, ensure_account};

/// An OAuth client the server knows (the marketplace's).
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub secret: String,
}

struct Code {
    family: Family,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    account: String,
    scope: String,
    offline: bool,
    used: bool,
    expires_at: DateTime<Utc>,
}

struct RefreshGrant {
    family: Family,
    account: String,
    scope: String,
    live: bool,
}

struct AccessGrant {
    family: Family,
    account: String,
    /// The refresh token it was issued under (revoking that revokes it).
    refresh: Option<String>,
    expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub(super) struct Grants {
    codes: HashMap<String, Code>,
    refresh: HashMap<String, RefreshGrant>,
    access: HashMap<String, AccessGrant>,
}

impl Grants {
    /// The account an access token acts for, if it is live.
    pub(super) fn account_of(
        &self,
        family: Family,
        token: &str,
        now: DateTime<Utc>,
    ) -> Option<String> {
        self.access
            .get(token)
            .filter(|grant| grant.family == family && grant.expires_at > now)
            .filter(|grant| {
                grant
                    .refresh
                    .as_ref()
                    .is_none_or(|r| self.refresh.get(r).is_some_and(|g| g.live))
            })
            .map(|grant| grant.account.clone())
    }

    pub(super) fn revoke_account(&mut self, family: Family, email: &str) {
        for grant in self
            .refresh
            .values_mut()
            .filter(|g| g.family == family && g.account.eq_ignore_ascii_case(email))
        {
            grant.live = false;
        }
        self.access
            .retain(|_, g| !(g.family == family && g.account.eq_ignore_ascii_case(email)));
    }

    /// Every refresh and access token issued so far (tests look for them where they must not be).
    pub(super) fn issued(&self) -> Vec<String> {
        self.refresh
            .keys()
            .chain(self.access.keys())
            .cloned()
            .collect()
    }

    pub(super) fn expire_access_tokens(&mut self, now: DateTime<Utc>) {
        for grant in self.access.values_mut() {
            grant.expires_at = now - Duration::seconds(1);
        }
    }

    fn issue(
        &mut self,
        (family, now): (Family, DateTime<Utc>),
        account: &str,
        scope: &str,
        refresh: Option<String>,
    ) -> Value {
        let access = random_token("at");
        self.access.insert(
            access.clone(),
            AccessGrant {
                family,
                account: account.to_owned(),
                refresh: refresh.clone(),
                expires_at: now + Duration::hours(1),
            },
        );
        let mut body = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3599,
            "scope": scope,
        });
        if let Some(refresh) = refresh {
            body["refresh_token"] = json!(refresh);
        }
        if family == Family::Microsoft {
            body["ext_expires_in"] = json!(3599);
        }
        body
    }
}

fn random_token(prefix: &str) -> String {
    format!("{prefix}-{}{}", ulid::Ulid::new(), ulid::Ulid::new()).to_lowercase()
}

fn token_error(error: &str, description: &str) -> Reply {
    Reply::Json((
        StatusCode::BAD_REQUEST,
        json!({"error": error, "error_description": description}),
    ))
}

/// Answers the OAuth routes of a family (`None` for every other route).
pub(super) fn route(
    server: &ProviderServer,
    world: &mut World,
    family: Family,
    rest: &[&str],
    call: &Call<'_>,
) -> Option<Reply> {
    let client = &server.clients[&family];
    match (family, rest) {
        (Family::Google, ["o", "oauth2", "v2", "auth"])
        | (Family::Microsoft, [_, "oauth2", "v2.0", "authorize"]) => {
            Some(authorize(world, family, client, call))
        }
        (Family::Google, ["token"]) | (Family::Microsoft, [_, "oauth2", "v2.0", "token"]) => {
            Some(token(world, family, client, call))
        }
        (Family::Google, ["revoke"]) => Some(revoke(world, call)),
        _ => None,
    }
}

fn authorize(world: &mut World, family: Family, client: &Client, call: &Call<'_>) -> Reply {
    let q = &call.query;
    let param = |name: &str| q.get(name).map(String::as_str).unwrap_or_default();
    if param("client_id") != client.id {
        return Reply::Json((
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_client", "error_description": "The OAuth client was not found."}),
        ));
    }
    let redirect_uri = param("redirect_uri").to_owned();
    let Ok(mut back) = reqwest::Url::parse(&redirect_uri) else {
        return Reply::Json((
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "redirect_uri is missing or invalid"}),
        ));
    };
    let state = param("state").to_owned();
    let refuse = |back: &mut reqwest::Url, error: &str, description: &str| {
        back.query_pairs_mut()
            .append_pair("error", error)
            .append_pair("error_description", description)
            .append_pair("state", &state);
        Reply::Redirect(back.to_string())
    };
    if param("response_type") != "code" {
        return refuse(&mut back, "unsupported_response_type", "only code");
    }
    if param("code_challenge_method") != "S256" || param("code_challenge").is_empty() {
        return refuse(&mut back, "invalid_request", "PKCE with S256 is required");
    }
    if world.deny_next.remove(&family).unwrap_or(false) {
        return refuse(&mut back, "access_denied", "The user denied access.");
    }
    let scope = param("scope").to_owned();
    let offline = match family {
        Family::Google => param("access_type") == "offline",
        Family::Microsoft => scope.split(' ').any(|s| s == "offline_access"),
    };
    let account = world
        .consent
        .remove(&family)
        .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());
    ensure_account(world, family, &account);
    let code = random_token("code");
    world.oauth.codes.insert(
        code.clone(),
        Code {
            family,
            client_id: client.id.clone(),
            redirect_uri,
            challenge: param("code_challenge").to_owned(),
            account,
            scope: scope.clone(),
            offline,
            used: false,
            expires_at: world.now + Duration::minutes(10),
        },
    );
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state);
    if family == Family::Google {
        back.query_pairs_mut().append_pair("scope", &scope);
    }
    Reply::Redirect(back.to_string())
}

/// The client's credentials, from HTTP Basic or from the body.
fn client_credentials(call: &Call<'_>, form: &HashMap<String, String>) -> (String, String) {
    if let Some(basic) = call
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
    {
        let (id, secret) = basic.split_once(':').unwrap_or((&basic, ""));
        let decode = |s: &str| {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return (decode(id), decode(secret));
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    (field("client_id"), field("client_secret"))
}

fn token(world: &mut World, family: Family, client: &Client, call: &Call<'_>) -> Reply {
    let form = call.form();
    let (id, secret) = client_credentials(call, &form);
    if id != client.id || secret != client.secret {
        return Reply::Json((
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "Unauthorized"}),
        ));
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let now = world.now;
    match field("grant_type") {
        "authorization_code" => {
            let Some(code) = world.oauth.codes.get_mut(field("code")) else {
                return token_error("invalid_grant", "Malformed auth code.");
            };
            if code.used || code.expires_at < now || code.family != family {
                return token_error("invalid_grant", "Code was already redeemed or expired.");
            }
            code.used = true;
            if code.client_id != id || code.redirect_uri != field("redirect_uri") {
                return token_error("invalid_grant", "redirect_uri mismatch.");
            }
            let hash = digest::digest(&digest::SHA256, field("code_verifier").as_bytes());
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.as_ref());
            if challenge != code.challenge {
                return token_error("invalid_grant", "Invalid code verifier.");
            }
            let (account, scope, offline) =
                (code.account.clone(), code.scope.clone(), code.offline);
            let refresh = offline.then(|| {
                let token = random_token("rt");
                world.oauth.refresh.insert(
                    token.clone(),
                    RefreshGrant {
                        family,
                        account: account.clone(),
                        scope: scope.clone(),
                        live: true,
                    },
                );
                token
            });
            Reply::Json((
                StatusCode::OK,
                world.oauth.issue((family, now), &account, &scope, refresh),
            ))
        }
        "refresh_token" => {
            let presented = field("refresh_token").to_owned();
            let Some(grant) = world
                .oauth
                .refresh
                .get_mut(&presented)
                .filter(|g| g.live && g.family == family)
            else {
                return token_error("invalid_grant", "Token has been expired or revoked.");
            };
            let (account, scope) = (grant.account.clone(), grant.scope.clone());
            match family {
                // Google keeps the refresh token.
                Family::Google => {
                    let mut body =
                        world
                            .oauth
                            .issue((family, now), &account, &scope, Some(presented));
                    if let Some(fields) = body.as_object_mut() {
                        fields.remove("refresh_token");
                    }
                    Reply::Json((StatusCode::OK, body))
                }
                // Microsoft answers a new refresh token each time and asks for the scopes
                // again; the one presented is not revoked (clients are to keep the newest).
                Family::Microsoft => {
                    let granted: Vec<&str> = scope.split(' ').collect();
                    let asked = field("scope");
                    if asked.is_empty() {
                        return token_error(
                            "invalid_request",
                            "AADSTS90014: The required field 'scope' is missing.",
                        );
                    }
                    if !asked.split(' ').all(|s| granted.contains(&s)) {
                        return token_error(
                            "invalid_scope",
                            "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
                        );
                    }
                    let next = random_token("rt");
                    world.oauth.refresh.insert(
                        next.clone(),
                        RefreshGrant {
                            family,
                            account: account.clone(),
                            scope: scope.clone(),
                            live: true,
                        },
                    );
                    Reply::Json((
                        StatusCode::OK,
                        world
                            .oauth
                            .issue((family, now), &account, &scope, Some(next)),
                    ))
                }
            }
        }
        other => token_error(
            "unsupported_grant_type",
            &format!("grant_type {other:?} is not supported"),
        ),
    }
}

fn revoke(world: &mut World, call: &Call<'_>) -> Reply {
    let form = call.form();
    let token = form
        .get("token")
        .or_else(|| call.query.get("token"))
        .cloned()
        .unwrap_or_default();
    if let Some(grant) = world.oauth.refresh.get_mut(&token) {
        grant.live = false;
        return Reply::Json((StatusCode::OK, json!({})));
    }
    if world.oauth.access.remove(&token).is_some() {
        return Reply::Json((StatusCode::OK, json!({})));
    }
    token_error("invalid_token", "Token expired or revoked")
}
