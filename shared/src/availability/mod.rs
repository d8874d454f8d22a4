//! Availability: the expert's weekly rules and booking settings, and the slot engine that turns
//! them (with busy time) into bookable slots.

mod engine;
pub mod reference;
mod settings;

pub use engine::{DEFAULT_STEP_MINUTES, Interval, STEPS, SlotRequest, free_slots};
pub use settings::{
    AvailabilityInput, AvailabilitySettings, BlockedInput, BlockedRange, Day, RuleInput, WallTime,
    WeeklyRule,
};
