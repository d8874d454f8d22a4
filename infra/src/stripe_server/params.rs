//! Stripe's form-encoded parameters, with bracketed nesting (`metadata[appointment_id]=...`,
//! `transfer_data[destination]=acct_...`) kept as flat keys.

use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn parse(body: &[u8], query: Option<&str>) -> Params {
        let mut map = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(body)
            .chain(form_urlencoded::parse(query.unwrap_or("").as_bytes()))
        {
            map.insert(key.into_owned(), value.into_owned());
        }
        Params(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn integer(&self, key: &str) -> Result<Option<i64>, String> {
        self.get(key)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("Invalid integer: {v}"))
            })
            .transpose()
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }

    /// `prefix[name]=value` pairs as a map of name to value.
    pub fn nested(&self, prefix: &str) -> BTreeMap<String, String> {
        let start = format!("{prefix}[");
        self.0
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&start)
                    .and_then(|rest| rest.strip_suffix(']'))
                    .map(|name| (name.to_owned(), v.clone()))
            })
            .collect()
    }

    /// A stable text of all parameters, for Idempotency-Key comparison.
    pub fn fingerprint(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}
