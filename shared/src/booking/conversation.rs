//! What the two parties write around an appointment: messages before (and after) the session,
//! and the client's review once it is completed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dashboard::Role;
use crate::ids::{AppointmentId, ExpertId};
use crate::validation::{self, ValidationErrors};

pub const MAX_MESSAGE_CHARS: usize = 2_000;
pub const MAX_REVIEW_CHARS: usize = 2_000;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    pub body: String,
}

impl MessageInput {
    pub fn parse(&self) -> Result<String, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let body = validation::text(&mut errors, "/body", &self.body, true, MAX_MESSAGE_CHARS);
        errors.finish(body)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Sortable: messages are listed in this order.
    pub id: String,
    pub appointment_id: AppointmentId,
    pub author: Role,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub next_cursor: Option<String>,
}

/// Paging parameters shared by messages and reviews.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageInput {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl PageInput {
    /// (limit, the id to continue after)
    pub fn parse(&self) -> Result<(i32, Option<String>), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let limit = match self.limit.as_deref().map(str::parse::<i32>) {
            None => 20,
            Some(Ok(limit)) if (1..=100).contains(&limit) => limit,
            Some(_) => {
                errors.add("/limit", "must be from 1 to 100");
                20
            }
        };
        let cursor = self.cursor.clone().filter(|c| {
            let ok = !c.is_empty()
                && c.len() <= 100
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "#:-_.".contains(ch));
            if !ok {
                errors.add("/cursor", "is not a cursor from a previous page");
            }
            ok
        });
        errors.finish((limit, cursor))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    pub rating: i64,
    #[serde(default)]
    pub comment: String,
}

impl ReviewInput {
    pub fn parse(&self) -> Result<(u8, String), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        validation::in_range(&mut errors, "/rating", self.rating, 1, 5);
        let comment = validation::text(
            &mut errors,
            "/comment",
            &self.comment,
            false,
            MAX_REVIEW_CHARS,
        );
        errors.finish((u8::try_from(self.rating.clamp(1, 5)).unwrap_or(5), comment))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub appointment_id: AppointmentId,
    pub expert_id: ExpertId,
    pub rating: u8,
    pub comment: String,
    /// The client's display name when they wrote it, if they had set one.
    pub author_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReviewPage {
    pub reviews: Vec<Review>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_reviews_are_bounded() {
        assert!(
            MessageInput {
                body: " hi ".into()
            }
            .parse()
            .is_ok()
        );
        assert!(MessageInput { body: "  ".into() }.parse().is_err());
        assert!(
            MessageInput {
                body: "x".repeat(2_001)
            }
            .parse()
            .is_err()
        );
        assert_eq!(
            ReviewInput {
                rating: 5,
                comment: "Great".into()
            }
            .parse()
            .unwrap()
            .0,
            5
        );
        for rating in [0, 6, -1] {
            assert!(
                ReviewInput {
                    rating,
                    comment: String::new()
                }
                .parse()
                .is_err()
            );
        }
    }
}
