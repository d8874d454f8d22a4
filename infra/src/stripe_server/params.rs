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

    /// The integer under `key`, or Stripe's `parameter_invalid_integer` answer.
    pub fn integer(&self, key: &str) -> Result<Option<i64>, super::Answer> {
        self.get(key)
            .map(|v| v.parse::<i64>().map_err(|_| super::invalid_integer(key, v)))
            .transpose()
    }

    /// A list parameter, as `key[]=a&key[]=b` or `key[0]=a&key[1]=b` (how clients send
    /// `expand`).
    pub fn list(&self, key: &str) -> Vec<String> {
        let start = format!("{key}[");
        self.0
            .iter()
            .filter(|(k, _)| k.starts_with(&start) && k.ends_with(']'))
            .map(|(_, v)| v.clone())
            .collect()
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
