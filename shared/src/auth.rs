//! Who is calling: the verified JWT claims that API Gateway's authorizer (or the dev server,
//! locally) places in the request context, turned into a `Caller`.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::ServiceError;
use crate::ids::UserId;

/// The Cognito groups our API knows. Unknown group names in a token are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Experts,
    Clients,
    Admins,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Experts => "experts",
            Group::Clients => "clients",
            Group::Admins => "admins",
        }
    }

    fn from_name(name: &str) -> Option<Group> {
        [Group::Experts, Group::Clients, Group::Admins]
            .into_iter()
            .find(|g| g.name() == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub email: Option<String>,
    pub groups: Vec<Group>,
}

impl Caller {
    /// Reads `sub`, `email` and `cognito:groups` from the authorizer's claims. `None` when there
    /// is no usable subject, which the API answers with 401.
    pub fn from_claims(claims: &HashMap<String, String>) -> Option<Caller> {
        let user_id = UserId::parse(claims.get("sub")?)?;
        let email = claims.get("email").filter(|e| !e.is_empty()).cloned();
        let groups = claims
            .get("cognito:groups")
            .map(|raw| parse_groups(raw))
            .unwrap_or_default();
        Some(Caller {
            user_id,
            email,
            groups,
        })
    }

    pub fn is_in(&self, group: Group) -> bool {
        self.groups.contains(&group)
    }

    /// 403 unless the caller belongs to `group`.
    pub fn require(&self, group: Group) -> Result<(), ServiceError> {
        if self.is_in(group) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "this action is for members of the `{}` group",
                group.name()
            )))
        }
    }
}

/// `cognito:groups` is a JSON array in the token; HTTP APIs flatten array claims into one
/// string, `[experts clients]` (unambiguous: Cognito group names hold no white space).
/// Exactly these two shapes are read: a name that merely contains another (`["x,admins"]`)
/// grants nothing.
fn parse_groups(raw: &str) -> Vec<Group> {
    let names: Vec<String> = match serde_json::from_str::<Vec<String>>(raw) {
        Ok(names) => names,
        Err(_) => raw
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .map(|inner| inner.split(' ').map(str::to_owned).collect())
            .unwrap_or_default(),
    };
    let mut groups: Vec<Group> = names
        .iter()
        .filter_map(|name| Group::from_name(name))
        .collect();
    groups.sort_by_key(|g| g.name());
    groups.dedup();
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn groups_are_read_from_a_json_array_or_the_http_apis_flattening_only() {
        let cases = [
            ("[experts clients]", vec![Group::Clients, Group::Experts]),
            ("[experts]", vec![Group::Experts]),
            (
                r#"["admins","clients"]"#,
                vec![Group::Admins, Group::Clients],
            ),
            ("[]", vec![]),
            ("[superusers]", vec![]),
            // A group whose name holds another's grants nothing.
            (r#"["x,admins"]"#, vec![]),
            ("[x,admins]", vec![]),
            // Shapes no authorizer produces.
            ("clients", vec![]),
            ("experts,admins", vec![]),
            (r#"[ "admins" ]"#, vec![Group::Admins]),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_groups(raw), expected, "claim {raw}");
        }
    }

    #[test]
    fn a_caller_needs_a_subject() {
        assert!(Caller::from_claims(&claims(&[("email", "a@b.c")])).is_none());
        assert!(Caller::from_claims(&claims(&[("sub", "")])).is_none());
        let caller = Caller::from_claims(&claims(&[
            ("sub", "alice"),
            ("email", "alice@example.com"),
            ("cognito:groups", "[experts]"),
        ]))
        .unwrap();
        assert_eq!(caller.user_id.as_str(), "alice");
        assert_eq!(caller.email.as_deref(), Some("alice@example.com"));
        assert!(caller.require(Group::Experts).is_ok());
        assert!(matches!(
            caller.require(Group::Clients),
            Err(ServiceError::Forbidden(_))
        ));
    }
}
