//! Experts: the public profile (who, what, at which rate, in which zone) and its service.

mod profile;
mod search;
mod service;

pub use profile::{
    ANY_SPECIALIZATION, ExpertProfile, PayoutState, ProfileDraft, ProfileInput, RateInput, Rating,
    normalize_specialization,
};
pub use search::{ExpertSummary, SearchCursor, SearchInput, SearchQuery, SearchResults};
pub use service::{ExpertService, PublicExpert, SearchService};
