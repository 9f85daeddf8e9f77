//! Field selector builders (client-go's `fields.OneTermEqualSelector` and friends), for
//! [`WatchOptions::fields`](crate::WatchOptions::fields).
//!
//! Contract: values are escaped as the API server expects (`\`, `,` and `=`), so any value
//! round-trips; the result is a parsed [`FieldSelector`] whose `Display` is the query string.
//!
//! ```
//! use rudder_controller::fields;
//! let unscheduled = fields::one_term_equal("spec.nodeName", "");
//! assert_eq!(unscheduled.to_string(), "spec.nodeName=");
//! let both = fields::and([fields::one_term_equal("status.phase", "Running"), fields::one_term_not_equal("metadata.name", "a,b")]);
//! assert_eq!(both.to_string(), r"status.phase=Running,metadata.name!=a\,b");
//! ```

pub use rudder_apimachinery::fields::FieldSelector;
use rudder_apimachinery::fields::{Operator, Requirement};

fn one(field: &str, op: Operator, value: &str) -> FieldSelector {
    FieldSelector::new(vec![Requirement { field: field.to_owned(), op, value: value.to_owned() }])
}

/// `field=value`.
pub fn one_term_equal(field: &str, value: &str) -> FieldSelector {
    one(field, Operator::Equals, value)
}

/// `field!=value`.
pub fn one_term_not_equal(field: &str, value: &str) -> FieldSelector {
    one(field, Operator::NotEquals, value)
}

/// Every term of every selector (a conjunction).
pub fn and(selectors: impl IntoIterator<Item = FieldSelector>) -> FieldSelector {
    FieldSelector::new(selectors.into_iter().flat_map(|s| s.requirements().to_vec()).collect())
}
