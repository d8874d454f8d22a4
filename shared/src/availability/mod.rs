//! Availability: the expert's weekly rules and booking settings, and the slot engine that turns
//! them (with busy time) into bookable slots.

mod engine;
pub mod reference;
mod service;
mod settings;
mod slot_query;

pub use engine::{DEFAULT_STEP_MINUTES, Interval, STEPS, SlotRequest, free_slots};
pub use service::AvailabilityService;
pub use settings::{
    AvailabilityInput, AvailabilitySettings, BlockedInput, BlockedRange, Day, MAX_BUFFER_MINUTES,
    MAX_HORIZON_DAYS, RuleInput, WallTime, WeeklyRule,
};
pub use slot_query::{
    DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, Slot, SlotList, SlotQuery, SlotQueryInput,
};
