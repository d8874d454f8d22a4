//! Experts: the public profile (who, what, at which rate, in which zone) and its service.

mod profile;
mod service;

pub use profile::{ExpertProfile, ProfileDraft, ProfileInput, RateInput};
pub use service::{ExpertService, PublicExpert};
