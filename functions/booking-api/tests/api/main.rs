//! API tests: the booking API's router behind the API Gateway stand-in (template routes, JWT
//! authorizer, lambda_http's adapter), on a fresh table in moto. `make test` starts moto.

mod accounts;
mod appointments;
mod auth;
mod availability;
mod booking;
mod calendar_faults;
mod calendars;
mod cancel;
mod conversation;
mod dynamo_probe;
mod events;
mod helpers;
mod lambda_events;
mod oauth_calendars;
mod openapi;
mod payments;
mod payouts;
mod profiles;
mod search;
mod slots;
mod validation;
