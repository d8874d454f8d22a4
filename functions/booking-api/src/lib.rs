//! The booking API: an axum router that is the Lambda handler. Handlers extract the caller and
//! the input, call one service of the `marketplace` crate and map the result; every error
//! becomes an RFC 9457 problem in `error`.

mod error;
mod extract;
mod routes;
mod telemetry;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use http::Method;
use marketplace::services::Services;

pub use error::ApiError;

/// Request bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route: method, path (axum and OpenAPI share the `{param}` syntax), handler. The router
/// is built from this table alone, so [`routes`] is exactly what it serves.
fn route_table() -> Vec<(Method, &'static str, MethodRouter<Services>)> {
    vec![
        (Method::GET, "/v1/me", get(routes::accounts::get_me)),
        (Method::PUT, "/v1/me", put(routes::accounts::put_me)),
        (
            Method::POST,
            "/v1/appointments",
            post(routes::appointments::book),
        ),
        (
            Method::GET,
            "/v1/appointments",
            get(routes::appointments::list),
        ),
        (
            Method::GET,
            "/v1/appointments/{id}",
            get(routes::appointments::get_one),
        ),
        (
            Method::POST,
            "/v1/appointments/{id}/cancel",
            post(routes::appointments::cancel),
        ),
        (
            Method::POST,
            "/v1/appointments/{id}/complete",
            post(routes::appointments::complete),
        ),
        (
            Method::POST,
            "/v1/appointments/{id}/reschedule",
            post(routes::appointments::reschedule),
        ),
        (
            Method::GET,
            "/v1/appointments/{id}/messages",
            get(routes::appointments::messages),
        ),
        (
            Method::POST,
            "/v1/appointments/{id}/messages",
            post(routes::appointments::post_message),
        ),
        (
            Method::POST,
            "/v1/appointments/{id}/review",
            post(routes::appointments::review),
        ),
        (
            Method::POST,
            "/v1/appointments/{id}/problem",
            post(routes::appointments::report_problem),
        ),
        (
            Method::GET,
            "/v1/appointments/{id}/invite.ics",
            get(routes::appointments::invite),
        ),
        (
            Method::GET,
            "/v1/experts/{id}/reviews",
            get(routes::experts::reviews),
        ),
        (Method::GET, "/v1/experts", get(routes::experts::search)),
        (
            Method::GET,
            "/v1/admin/earnings",
            get(routes::admin::earnings),
        ),
        (Method::GET, "/v1/experts/me", get(routes::experts::get_own)),
        (
            Method::PUT,
            "/v1/experts/me",
            put(routes::experts::put_profile),
        ),
        (
            Method::PUT,
            "/v1/experts/me/availability",
            put(routes::experts::put_availability),
        ),
        (
            Method::POST,
            "/v1/experts/me/payouts",
            post(routes::experts::start_payouts),
        ),
        (
            Method::GET,
            "/v1/experts/me/earnings",
            get(routes::experts::earnings),
        ),
        (
            Method::POST,
            "/v1/experts/me/calendars",
            post(routes::calendars::connect),
        ),
        (
            Method::GET,
            "/v1/experts/me/calendars",
            get(routes::calendars::list),
        ),
        (
            Method::PATCH,
            "/v1/experts/me/calendars/{id}",
            patch(routes::calendars::update),
        ),
        (
            Method::DELETE,
            "/v1/experts/me/calendars/{id}",
            delete(routes::calendars::disconnect),
        ),
        (
            Method::POST,
            "/v1/experts/me/calendars/{id}/sync",
            post(routes::calendars::sync_now),
        ),
        (
            Method::POST,
            "/v1/experts/me/calendars/{id}/authorize",
            post(routes::calendars::authorize),
        ),
        (
            Method::GET,
            "/v1/oauth/{provider}/callback",
            get(routes::calendars::callback),
        ),
        (
            Method::POST,
            "/v1/webhooks/google",
            post(routes::calendars::google_push),
        ),
        (
            Method::POST,
            "/v1/webhooks/microsoft",
            post(routes::calendars::microsoft_push),
        ),
        (
            Method::GET,
            "/v1/experts/{id}",
            get(routes::experts::get_public),
        ),
        (
            Method::GET,
            "/v1/experts/{id}/slots",
            get(routes::experts::get_slots),
        ),
    ]
}

/// The (method, path) pairs the router serves.
pub fn routes() -> Vec<(Method, &'static str)> {
    route_table()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

pub fn router(services: Services) -> Router {
    route_table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .route_layer(axum::middleware::from_fn(telemetry::access_log))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(services)
}
