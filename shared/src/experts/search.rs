//! Expert search: by specialization, currency and rate through the search index (gsi3, never
//! a Scan), paged with an opaque cursor, optionally keeping only experts with a free slot in a
//! window (each result then carries its next free slot).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::profile::{ANY_SPECIALIZATION, normalize_specialization};
use crate::availability::{MAX_WINDOW_DAYS, Slot};
use crate::ids::ExpertId;
use crate::money::{Currency, Money};
use crate::validation::{self, ValidationErrors};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 50;

/// Query parameters as sent.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchInput {
    pub specialization: Option<String>,
    pub currency: Option<String>,
    pub min_rate: Option<String>,
    pub max_rate: Option<String>,
    pub available_from: Option<String>,
    pub available_to: Option<String>,
    pub tz: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SearchQuery {
    /// A normalised specialization, or `*` for all.
    pub specialization: String,
    pub currency: Option<Currency>,
    /// Inclusive, in the currency's minor unit; only with a currency.
    pub rates: Option<(i64, i64)>,
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub display_zone: Option<Tz>,
    pub limit: usize,
    pub after: Option<SearchCursor>,
}

/// Where a page ended: the last examined entry's index sort key and position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchCursor {
    pub sort_key: String,
    pub position: u32,
    pub expert_id: ExpertId,
}

impl SearchCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.position, self.sort_key))
    }

    fn decode(raw: &str) -> Option<SearchCursor> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let (position, sort_key) = text.split_once('|')?;
        Some(SearchCursor {
            position: position.parse().ok()?,
            expert_id: sort_key.rsplit('#').next()?.parse().ok()?,
            sort_key: sort_key.to_owned(),
        })
    }
}

/// One expert as the search index lists them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpertSummary {
    pub id: ExpertId,
    pub display_name: String,
    pub specializations: Vec<String>,
    pub hourly_rate: Money,
    pub time_zone: Tz,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_free_slot: Option<Slot>,
    #[serde(skip)]
    pub cursor: SearchCursor,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchResults {
    pub results: Vec<ExpertSummary>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

impl SearchInput {
    pub fn parse(&self, now: DateTime<Utc>) -> Result<SearchQuery, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let specialization = match self.specialization.as_deref() {
            None | Some("") => ANY_SPECIALIZATION.to_owned(),
            Some(raw) => normalize_specialization(raw).unwrap_or_else(|detail| {
                errors.add("/specialization", detail);
                ANY_SPECIALIZATION.to_owned()
            }),
        };
        let currency = self.currency.as_deref().and_then(|code| {
            let currency = Currency::from_code(code);
            if currency.is_none() {
                errors.add("/currency", format!("`{code}` is not a supported currency"));
            }
            currency
        });
        let rate = |errors: &mut ValidationErrors, name: &str, raw: &Option<String>| {
            let raw = raw.as_deref()?;
            let parsed = raw.parse::<i64>().ok().filter(|r| *r >= 0);
            if parsed.is_none() {
                errors.add(
                    format!("/{name}"),
                    "must be a whole amount in minor units, 0 or more",
                );
            }
            parsed
        };
        let min_rate = rate(&mut errors, "min_rate", &self.min_rate);
        let max_rate = rate(&mut errors, "max_rate", &self.max_rate);
        let rates = match (min_rate, max_rate) {
            (None, None) => None,
            (min, max) => {
                let (min, max) = (min.unwrap_or(0), max.unwrap_or(i64::MAX / 2));
                if self.currency.is_none() {
                    errors.add("/currency", "min_rate and max_rate need a currency");
                } else if min > max {
                    errors.add("/max_rate", "must not be below min_rate");
                }
                Some((min, max))
            }
        };
        let instant = |errors: &mut ValidationErrors, name: &str, raw: &Option<String>| {
            let raw = raw.as_deref()?;
            let parsed = DateTime::parse_from_rfc3339(raw).map(|t| t.to_utc()).ok();
            if parsed.is_none() {
                errors.add(format!("/{name}"), "must be an RFC 3339 instant");
            }
            parsed
        };
        let from = instant(&mut errors, "available_from", &self.available_from);
        let to = instant(&mut errors, "available_to", &self.available_to);
        let window = match (from, to, &self.available_from, &self.available_to) {
            (Some(from), Some(to), _, _) => {
                if to <= from {
                    errors.add("/available_to", "must be after available_from");
                } else if to - from > Duration::days(MAX_WINDOW_DAYS) {
                    errors.add(
                        "/available_to",
                        format!("the window may span at most {MAX_WINDOW_DAYS} days"),
                    );
                } else if to <= now {
                    errors.add("/available_to", "must be in the future");
                }
                Some((from.max(now), to))
            }
            (_, _, Some(_), None) => {
                errors.add("/available_to", "goes with available_from");
                None
            }
            (_, _, None, Some(_)) => {
                errors.add("/available_from", "goes with available_to");
                None
            }
            _ => None,
        };
        let display_zone = self
            .tz
            .as_deref()
            .map(|raw| validation::time_zone(&mut errors, "/tz", raw));
        let limit = match self.limit.as_deref().map(str::parse::<usize>) {
            None => DEFAULT_LIMIT,
            Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
            Some(_) => {
                errors.add("/limit", format!("must be from 1 to {MAX_LIMIT}"));
                DEFAULT_LIMIT
            }
        };
        let after = self.cursor.as_deref().and_then(|raw| {
            let cursor = SearchCursor::decode(raw)
                .filter(|c| currency.is_none_or(|cur| c.sort_key.starts_with(&format!("{cur}#"))));
            if cursor.is_none() {
                errors.add(
                    "/cursor",
                    "is not a cursor from a previous page of this search",
                );
            }
            cursor
        });
        errors.finish(SearchQuery {
            specialization,
            currency,
            rates,
            window,
            display_zone,
            limit,
            after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn input(pairs: &[(&str, &str)]) -> SearchInput {
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            map.insert(k.to_string(), serde_json::Value::String(v.to_string()));
        }
        serde_json::from_value(serde_json::Value::Object(map)).unwrap()
    }

    #[test]
    fn an_empty_search_lists_everyone_twenty_at_a_time() {
        let query = input(&[]).parse(now()).unwrap();
        assert_eq!(query.specialization, "*");
        assert_eq!(
            (query.currency, query.rates, query.window),
            (None, None, None)
        );
        assert_eq!(query.limit, 20);
    }

    #[test]
    fn filters_are_normalised() {
        let query = input(&[
            ("specialization", "  Machine   Learning "),
            ("currency", "EUR"),
            ("min_rate", "5000"),
        ])
        .parse(now())
        .unwrap();
        assert_eq!(query.specialization, "machine learning");
        assert_eq!(query.currency, Some(Currency::Eur));
        assert_eq!(query.rates.map(|r| r.0), Some(5000));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = SearchCursor {
            sort_key: format!("usd#000000012000#{}", ExpertId::new()),
            position: 3,
            expert_id: ExpertId::new(),
        };
        let decoded = SearchCursor::decode(&cursor.encode()).unwrap();
        assert_eq!((decoded.sort_key, decoded.position), (cursor.sort_key, 3));
        for bad in ["", "!!!", "bm9waXBl"] {
            assert!(SearchCursor::decode(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("specialization", "c#")], "/specialization"),
            (&[("currency", "zzz")], "/currency"),
            (&[("min_rate", "100")], "/currency"),
            (&[("currency", "usd"), ("min_rate", "-1")], "/min_rate"),
            (
                &[
                    ("currency", "usd"),
                    ("min_rate", "500"),
                    ("max_rate", "100"),
                ],
                "/max_rate",
            ),
            (
                &[("available_from", "2026-06-02T00:00:00Z")],
                "/available_to",
            ),
            (
                &[("available_to", "2026-06-02T00:00:00Z")],
                "/available_from",
            ),
            (
                &[
                    ("available_from", "2026-06-03T00:00:00Z"),
                    ("available_to", "2026-06-02T00:00:00Z"),
                ],
                "/available_to",
            ),
            (
                &[
                    ("available_from", "2026-06-01T00:00:00Z"),
                    ("available_to", "2026-09-01T00:00:00Z"),
                ],
                "/available_to",
            ),
            (
                &[
                    ("available_from", "2026-05-01T00:00:00Z"),
                    ("available_to", "2026-05-02T00:00:00Z"),
                ],
                "/available_to",
            ),
            (&[("limit", "0")], "/limit"),
            (&[("limit", "51")], "/limit"),
            (&[("cursor", "not-a-cursor")], "/cursor"),
            (&[("tz", "Nowhere/Land")], "/tz"),
        ];
        for (pairs, pointer) in cases {
            let errors = input(pairs).parse(now()).expect_err("should be refused");
            let pointers: Vec<_> = errors.errors().iter().map(|e| e.pointer.as_str()).collect();
            assert_eq!(pointers, [*pointer], "{pairs:?}");
        }
    }
}
