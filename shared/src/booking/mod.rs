//! Booking: prices, appointments and their states, the per-day claims that make double
//! booking impossible, and the booking service.

mod appointment;
mod conversation;
mod dashboard;
mod earnings;
mod payment;
mod policy;
mod pricing;
mod service;
mod settlement;

pub use appointment::{
    AUTO_COMPLETE_HOURS, Appointment, AppointmentStatus, BookingInput, BookingRequest, CancelInput,
    Cancellation, Claim, ClaimDay, CompleteInput, Completion, HOLD_AND_CAPTURE_DAYS, HOLD_MINUTES,
    ProblemInput, ProblemReport, RescheduleInput, SweepDue, days_touched,
};
pub use conversation::{
    Message, MessageInput, MessagePage, PageInput, Review, ReviewInput, ReviewPage,
};
pub use dashboard::{
    AppointmentPage, AppointmentView, DashboardInput, DashboardQuery, Role, ViewInput,
    encode_cursor,
};
pub use earnings::{EarningsInput, EarningsLine, PaymentRecord, summarize};
pub use payment::{
    CAPTURE_MARGIN_HOURS, DisputeState, ForeignPayment, IncidentKind, PaymentIncident,
};
pub use policy::{CancellationPolicy, Canceller, PolicyInput, Settlement};
pub use pricing::{PLATFORM_FEE_PERCENT, Price, PricingError, platform_fee, price};
pub use service::{Booked, BookingService, InviteDetails, Parties, Party, StaleBusyTime};
pub use settlement::{Reconciliation, SweepReport};
