//! User accounts: what every signed-in user (client or expert) tells us about themselves:
//! the name we address them by, the zone we show times in, how we may notify them.

mod account;
mod service;

pub use account::{
    Account, AccountDraft, AccountInput, NotificationInput, Notifications, StoredAccount,
};
pub use service::AccountService;
