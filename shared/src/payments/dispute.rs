//! A dispute as the marketplace sees it: which payment, how much, where it stands, and what
//! it did to the platform's balance.

use stripe_shared::Dispute;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeSummary {
    pub id: String,
    pub payment_intent: Option<String>,
    pub charge: String,
    /// Stripe's status: `warning_needs_response`, `warning_under_review`, `warning_closed`
    /// (an inquiry, no money moved), `needs_response`, `under_review`, `won`, `lost`,
    /// `prevented`.
    pub status: String,
    pub reason: String,
    pub amount: i64,
    pub currency: String,
    /// Epoch seconds.
    pub created: i64,
    /// Taken from the platform's balance, and given back, so far.
    pub withdrawn: i64,
    pub reinstated: i64,
}

/// Whether a dispute of this (Stripe) status is still being decided.
pub fn is_open(status: &str) -> bool {
    !matches!(status, "won" | "lost" | "warning_closed" | "prevented")
}

/// Statuses in the order a dispute passes through them: a stored dispute only moves forward,
/// whatever order its events arrive in. An inquiry (`warning_*`) that escalates becomes a
/// chargeback, so the inquiry's open states come first.
pub fn rank(status: &str) -> i64 {
    match status {
        "warning_needs_response" => 0,
        "warning_under_review" => 1,
        "needs_response" => 2,
        "under_review" => 3,
        _ => 4,
    }
}

impl From<Dispute> for DisputeSummary {
    fn from(dispute: Dispute) -> Self {
        let moved = |positive: bool| -> i64 {
            dispute
                .balance_transactions
                .iter()
                .map(|t| t.amount)
                .filter(|a| (*a > 0) == positive && *a != 0)
                .map(i64::abs)
                .sum()
        };
        DisputeSummary {
            withdrawn: moved(false),
            reinstated: moved(true),
            id: dispute.id.as_str().to_owned(),
            payment_intent: dispute
                .payment_intent
                .as_ref()
                .map(|p| p.id().as_str().to_owned()),
            charge: dispute.charge.id().as_str().to_owned(),
            status: dispute.status.as_str().to_owned(),
            reason: dispute.reason.clone(),
            amount: dispute.amount,
            currency: dispute.currency.to_string(),
            created: dispute.created,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escalated_inquiry_moves_forward_and_closed_is_last() {
        let order = [
            "warning_needs_response",
            "warning_under_review",
            "needs_response",
            "under_review",
            "won",
        ];
        assert!(order.windows(2).all(|w| rank(w[0]) < rank(w[1])));
        for closed in ["won", "lost", "warning_closed", "prevented"] {
            assert!(!is_open(closed) && rank(closed) == 4, "{closed}");
        }
        assert!(is_open("warning_under_review"));
    }
}
