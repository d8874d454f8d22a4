//! The services a function needs, built once per cold start from the store, the payment
//! gateway and the clock.

use std::sync::Arc;

use crate::accounts::AccountService;
use crate::auth::Caller;
use crate::availability::AvailabilityService;
use crate::booking::{Booked, BookingInput, BookingService, StaleBusyTime};
use crate::calendar::service::{CalendarClients, CalendarService};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Settings};
use crate::error::ServiceError;
use crate::events::EventRelay;
use crate::experts::{ExpertService, SearchService};
use crate::notifications::{Correspondence, NotificationService};
use crate::payments::{PaymentService, StripeGateway};
use crate::store::dynamo::DynamoStore;

/// Where the services send people: the frontend (after Stripe onboarding) and the meeting
/// rooms.
#[derive(Clone, Debug)]
pub struct Links {
    pub frontend_url: String,
    pub meeting_base_url: String,
    /// The sender of invites and emails.
    pub mail_from: String,
    /// The operators' address for payment incidents and disputes.
    pub operations_email: Option<String>,
}

#[derive(Clone)]
pub struct Services {
    pub accounts: AccountService,
    pub availability: AvailabilityService,
    pub bookings: BookingService,
    pub experts: ExpertService,
    pub payments: PaymentService,
    pub search: SearchService,
    /// Present where the function publishes domain events (the reminders function).
    pub relay: Option<EventRelay>,
    pub notifications: NotificationService,
    /// Present where the function manages calendar connections (the booking API).
    pub calendars: Option<CalendarService>,
}

/// Where the services send events, emails and texts.
#[derive(Clone, Debug)]
pub struct Outbound {
    /// The domain-event bus, where the function publishes events (the reminders function).
    pub event_bus: Option<(aws_sdk_eventbridge::Client, String)>,
    pub ses: aws_sdk_ses::Client,
    pub sns: aws_sdk_sns::Client,
}

/// What can stop a function from starting: configuration it cannot use.
pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

impl Services {
    pub fn new(
        store: DynamoStore,
        gateway: StripeGateway,
        clock: Arc<dyn Clock>,
        links: Links,
        outbound: Outbound,
        calendars: Option<CalendarClients>,
    ) -> Self {
        let Outbound {
            event_bus,
            ses,
            sns,
        } = outbound;
        let Links {
            frontend_url,
            meeting_base_url,
            mail_from,
            operations_email,
        } = links;
        let availability = AvailabilityService::new(store.clone(), clock.clone());
        let bookings = BookingService::new(
            store.clone(),
            gateway.clone(),
            clock.clone(),
            meeting_base_url,
            mail_from.clone(),
        );
        let notifications = NotificationService::new(
            store.clone(),
            bookings.clone(),
            (ses, sns),
            Correspondence {
                mail_from,
                operations: operations_email,
                frontend_url: frontend_url.clone(),
            },
            clock.clone(),
        );
        let calendars = calendars.map(|clients| {
            CalendarService::new(
                store.clone(),
                clients,
                (bookings.clone(), notifications.clone()),
                clock.clone(),
                frontend_url.clone(),
            )
        });
        Services {
            accounts: AccountService::new(store.clone(), clock.clone()),
            payments: PaymentService::new(
                store.clone(),
                gateway,
                bookings.clone(),
                clock.clone(),
                frontend_url,
            ),
            bookings,
            search: SearchService::new(store.clone(), availability.clone(), clock.clone()),
            availability,
            relay: event_bus.map(|(client, bus)| EventRelay::new(store.clone(), client, bus)),
            notifications,
            calendars,
            experts: ExpertService::new(store, clock),
        }
    }

    /// Books a slot (see `BookingService::book`). Imported busy time that no read confirmed
    /// recently is read again first, and the booking goes ahead only if that read works: a
    /// calendar that cannot be read is never taken as free.
    pub async fn book(
        &self,
        caller: &Caller,
        idempotency_key: Option<&str>,
        input: BookingInput,
    ) -> Result<Booked, ServiceError> {
        let Some(calendars) = &self.calendars else {
            return self
                .bookings
                .book(caller, idempotency_key, input, StaleBusyTime::Accept)
                .await;
        };
        match self
            .bookings
            .book(
                caller,
                idempotency_key,
                input.clone(),
                StaleBusyTime::ReadFirst,
            )
            .await
        {
            Err(ServiceError::CalendarsStale {
                expert,
                connections,
            }) => {
                if !calendars.refresh(expert, &connections).await? {
                    return Err(ServiceError::CalendarUnreadable);
                }
                self.bookings
                    .book(caller, idempotency_key, input, StaleBusyTime::Accept)
                    .await
            }
            other => other,
        }
    }

    /// Production wiring: AWS clients from the standard chain, Stripe, the system clock.
    pub async fn from_settings(settings: &Settings) -> Result<Self, StartupError> {
        let sdk = config::aws_sdk_config().await;
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            settings.table_name.clone(),
        );
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let calendars = settings
            .calendars
            .as_ref()
            .map(|c| CalendarClients::from_settings(&sdk, c))
            .transpose()?;
        Ok(Services::new(
            store,
            StripeGateway::new(&settings.stripe)?,
            clock,
            Links {
                frontend_url: settings.frontend_url.clone(),
                meeting_base_url: settings.meeting_base_url.clone(),
                mail_from: settings.mail_from.clone(),
                operations_email: settings.operations_email.clone(),
            },
            Outbound {
                event_bus: settings
                    .event_bus_name
                    .clone()
                    .map(|bus| (aws_sdk_eventbridge::Client::new(&sdk), bus)),
                ses: aws_sdk_ses::Client::new(&sdk),
                sns: aws_sdk_sns::Client::new(&sdk),
            },
            calendars,
        ))
    }
}
