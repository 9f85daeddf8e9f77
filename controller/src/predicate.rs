//! Predicates: which updates of a watched object reach the queue (controller-runtime's
//! `predicate` package).
//!
//! Contract:
//! - A [`Predicate`] judges an *update* by the object's metadata before and after. Adds and
//!   deletes always pass (as they do for controller-runtime's built-in predicates).
//! - [`Predicate::generation_changed`] passes when `metadata.generation` changed, when either
//!   side has no generation (kinds the server does not version, such as ConfigMaps: skipping
//!   their updates would skip every change), or when a deletion started (`deletionTimestamp`
//!   set), so a finalizer runs even on servers that do not bump the generation on deletion.
//!   Status-only updates of a kind with a status subresource leave the generation alone and are
//!   skipped: this is the default for the primary kind.
//! - [`Predicate::labels_changed`], [`Predicate::annotations_changed`] and
//!   [`Predicate::resource_version_changed`] compare one field; resyncs (same resourceVersion)
//!   fail all three.
//! - [`Predicate::or`] and [`Predicate::and`] combine; [`Predicate::always`] passes everything.

use std::fmt;
use std::sync::Arc;

use rudder_apimachinery::meta::ObjectMeta;

type Judge = Arc<dyn Fn(&ObjectMeta, &ObjectMeta) -> bool + Send + Sync>;

/// Decides whether an update (old and new metadata) is worth a reconcile. Cheap to clone.
#[derive(Clone)]
pub struct Predicate {
    name: Arc<str>,
    judge: Judge,
}

impl fmt::Debug for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Predicate").field(&self.name).finish()
    }
}

impl Predicate {
    /// A predicate from a function of the old and new metadata; `name` is for `Debug`.
    pub fn new(name: &str, f: impl Fn(&ObjectMeta, &ObjectMeta) -> bool + Send + Sync + 'static) -> Self {
        Self { name: name.into(), judge: Arc::new(f) }
    }

    /// Passes every update.
    pub fn always() -> Self {
        Self::new("always", |_, _| true)
    }

    /// `metadata.generation` changed (see the module docs for absent generations and deletions).
    pub fn generation_changed() -> Self {
        Self::new("generation_changed", |old, new| match (old.generation, new.generation) {
            (Some(a), Some(b)) if a != 0 && b != 0 => {
                a != b || (old.deletion_timestamp.is_none() && new.deletion_timestamp.is_some())
            }
            _ => true,
        })
    }

    /// `metadata.labels` changed.
    pub fn labels_changed() -> Self {
        Self::new("labels_changed", |old, new| {
            old.labels.as_ref().filter(|m| !m.is_empty()) != new.labels.as_ref().filter(|m| !m.is_empty())
        })
    }

    /// `metadata.annotations` changed.
    pub fn annotations_changed() -> Self {
        Self::new("annotations_changed", |old, new| {
            old.annotations.as_ref().filter(|m| !m.is_empty()) != new.annotations.as_ref().filter(|m| !m.is_empty())
        })
    }

    /// `metadata.resourceVersion` changed (everything but resyncs passes).
    pub fn resource_version_changed() -> Self {
        Self::new("resource_version_changed", |old, new| old.resource_version != new.resource_version)
    }

    /// Passes when either passes.
    pub fn or(self, other: Predicate) -> Self {
        let name = format!("({} or {})", self.name, other.name);
        Self::new(&name, move |o, n| (self.judge)(o, n) || (other.judge)(o, n))
    }

    /// Passes when both pass.
    pub fn and(self, other: Predicate) -> Self {
        let name = format!("({} and {})", self.name, other.name);
        Self::new(&name, move |o, n| (self.judge)(o, n) && (other.judge)(o, n))
    }

    /// Whether the update from `old` to `new` passes.
    pub fn update(&self, old: &ObjectMeta, new: &ObjectMeta) -> bool {
        (self.judge)(old, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn meta(generation: Option<i64>, rv: &str) -> ObjectMeta {
        ObjectMeta { generation, resource_version: Some(rv.into()), ..Default::default() }
    }

    #[test]
    fn generation_changed_skips_status_only_updates() {
        let p = Predicate::generation_changed();
        assert!(!p.update(&meta(Some(2), "1"), &meta(Some(2), "2")));
        assert!(p.update(&meta(Some(2), "1"), &meta(Some(3), "2")));
        // Kinds without a generation always pass.
        assert!(p.update(&meta(None, "1"), &meta(None, "2")));
        // A deletion that starts passes even at the same generation.
        let mut deleting = meta(Some(2), "2");
        deleting.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert!(p.update(&meta(Some(2), "1"), &deleting));
    }

    #[test]
    fn field_predicates_and_combinators() {
        let mut a = meta(Some(1), "1");
        let mut b = meta(Some(1), "2");
        assert!(!Predicate::labels_changed().update(&a, &b));
        b.labels = Some([("x".to_string(), "y".to_string())].into());
        assert!(Predicate::labels_changed().update(&a, &b));
        a.annotations = Some(Default::default());
        assert!(!Predicate::annotations_changed().update(&a, &b), "empty and absent maps are equal");
        assert!(Predicate::resource_version_changed().update(&a, &b));
        assert!(!Predicate::resource_version_changed().update(&a, &a));
        let either = Predicate::generation_changed().or(Predicate::labels_changed());
        assert!(either.update(&a, &b));
        let both = Predicate::generation_changed().and(Predicate::labels_changed());
        assert!(!both.update(&a, &b));
        assert!(Predicate::always().update(&a, &a));
    }
}
