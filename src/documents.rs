//! The documents sources hand to collection, as the AWS CLI prints them.
//!
//! Owns the interface between sources and tables: [`Doc`], the documents of
//! one account/region ([`ScopeInputs`]) and of one account from AWS
//! Organizations ([`AccountInputs`]), how members are matched ([`field`]),
//! and the [`Naming`] templates that find a group's resources among them.
//! Sources implement the traits; table resolvers read them; neither knows
//! the other.

use serde_json::Value;

use crate::calls::ApiCall;
use crate::error::Error;
use crate::partition::{PartitionValue, Scope};

/// A document as an AWS API or the AWS CLI returns it.
pub struct Doc {
    /// Where it came from (a file path, or `api:Operation`), for error messages.
    pub origin: String,
    pub body: Body,
}

pub enum Body {
    /// JSON text, parsed without building a DOM where it matters.
    Bytes(Vec<u8>),
    Value(Value),
}

impl Doc {
    pub fn value(origin: impl Into<String>, v: Value) -> Self {
        Doc {
            origin: origin.into(),
            body: Body::Value(v),
        }
    }

    /// The whole document as a JSON value (small documents only).
    pub fn into_value(self) -> Result<Value, Error> {
        match self.body {
            Body::Value(v) => Ok(v),
            Body::Bytes(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::input(&self.origin, "$", format!("malformed JSON: {e}"))),
        }
    }
}

/// The documents of one account/region, as the AWS CLI prints them.
pub trait ScopeInputs {
    fn scope(&self) -> &Scope;
    /// `organizations describe-account` (`{"Account": {...}}`), if known.
    fn account(&self) -> Result<Option<Doc>, Error>;
    /// The pages of `call`, in order (`{"Reservations": [...]}` for
    /// `ec2 describe-instances`), handed to `f` one at a time.
    fn pages(
        &self,
        call: &'static ApiCall,
        f: &mut dyn FnMut(Doc) -> Result<(), Error>,
    ) -> Result<(), Error>;
    /// The answer of an [`Input::Each`](crate::calls::Input::Each) call
    /// for `id` (`{"Items": [...]}` for `dynamodb scan --table-name {id}`),
    /// None when there is none (the resource is not there, or the source
    /// does not know).
    fn answer(&self, call: &'static ApiCall, id: &str) -> Result<Option<Doc>, Error>;

    /// Every page of `call`, parsed (calls whose pages are small: tables,
    /// stacks, windows).
    fn values(&self, call: &'static ApiCall) -> Result<Vec<(String, Value)>, Error> {
        let mut out = Vec::new();
        self.pages(call, &mut |d: Doc| {
            let origin = d.origin.clone();
            out.push((origin, d.into_value()?));
            Ok(())
        })?;
        Ok(out)
    }
}

/// The documents of one account from AWS Organizations (the caller's
/// view, made from the management or a delegated administrator account),
/// as the AWS CLI prints them. `None`: the source does not know.
pub trait AccountInputs {
    fn accountid(&self) -> &PartitionValue;
    /// `organizations describe-account` (`{"Account": {...}}`).
    fn account(&self) -> Result<Option<Doc>, Error>;
    /// `organizations list-parents --child-id {id}` of the account or of an
    /// organizational unit (`{"Parents": [{"Id", "Type"}]}`).
    fn parents(&self, child_id: &str) -> Result<Option<Doc>, Error>;
    /// `organizations describe-organizational-unit`
    /// (`{"OrganizationalUnit": {"Id", "Arn", "Name"}}`).
    fn organizational_unit(&self, ou_id: &str) -> Result<Option<Doc>, Error>;
    /// `organizations list-tags-for-resource --resource-id {account}` (`{"Tags": [...]}`).
    fn tags(&self) -> Result<Option<Doc>, Error>;
}

/// The field `name` of a JSON object, matched as AWS's own SDKs match
/// member names: exactly, else ignoring ASCII case (the AWS documentation
/// prints `JoinedTimeStamp` beside `JoinedTimestamp`).
pub fn field<'v>(obj: &'v Value, name: &str) -> Option<&'v Value> {
    let m = obj.as_object()?;
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The instance tag that names an instance's subfleet (absent or empty:
/// the main fleet), as CloneSquad sets it.
pub const SUBFLEET_TAG: &str = "clonesquad:subfleet-name";

/// Names of a group's resources, from templates where `{group}` stands for the name.
#[derive(Debug, Clone)]
pub struct Naming {
    pub group_tag: String,
    pub configuration_table: String,
    pub scheduler_table: String,
    pub stack: String,
}

impl Default for Naming {
    fn default() -> Self {
        Naming {
            group_tag: "clonesquad:group-name".into(),
            configuration_table: "CloneSquad-{group}-Configuration".into(),
            scheduler_table: "CloneSquad-{group}-Scheduler".into(),
            stack: "CloneSquad-{group}".into(),
        }
    }
}

impl Naming {
    pub fn expand(template: &str, group: &str) -> String {
        template.replace("{group}", group)
    }

    /// The group whose name fills `template` to give `name`, if any.
    pub fn match_template<'n>(template: &str, name: &'n str) -> Option<&'n str> {
        let (pre, post) = template.split_once("{group}")?;
        let g = name.strip_prefix(pre)?.strip_suffix(post)?;
        (!g.is_empty()).then_some(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_and_expand() {
        let n = Naming::default();
        assert_eq!(
            Naming::match_template(&n.configuration_table, "CloneSquad-web-Configuration"),
            Some("web")
        );
        assert_eq!(
            Naming::match_template(&n.configuration_table, "CloneSquad--Configuration"),
            None
        );
        assert_eq!(
            Naming::match_template(&n.configuration_table, "Other-web-Configuration"),
            None
        );
        assert_eq!(Naming::expand(&n.stack, "web"), "CloneSquad-web");
    }
}
