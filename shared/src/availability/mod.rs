//! Availability: the expert's weekly rules and booking settings (and, later, the slot engine).

mod settings;

pub use settings::{
    AvailabilityInput, AvailabilitySettings, BlockedInput, BlockedRange, Day, RuleInput, WallTime,
    WeeklyRule,
};
