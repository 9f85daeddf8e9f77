//! Objects of any kind as JSON: `DynamicObject` (client-go's `unstructured.Unstructured`) and
//! its list.
//!
//! Contract: decoding then encoding a `DynamicObject` keeps every top-level field, including
//! ones rudder does not know; `metadata` is decoded as `ObjectMeta` so that caches and
//! selectors work on it. List items that lack `apiVersion`/`kind` (built-in lists never carry
//! them) get them from the list: its `apiVersion` and its `kind` minus the `List` suffix.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::meta::{HasMetadata, ListMeta, ObjectMeta, TypeMeta};
use crate::resource::{ApiResource, Resource, WholeObject};

/// An object of any kind: type, metadata and every other field as JSON.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DynamicObject {
    /// `apiVersion` and `kind`; absent on items of built-in lists until filled in.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub types: Option<TypeMeta>,
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other top-level field (`spec`, `status`, `data`, ...).
    #[serde(flatten)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// Every field is kept (unknown ones in `data`), so writing one sends the whole object.
impl WholeObject for DynamicObject {}

/// An error converting between typed and dynamic objects.
#[derive(Debug, thiserror::Error)]
#[error("cannot convert {what}: {source}")]
pub struct ConversionError {
    /// What was being converted.
    pub what: String,
    /// The underlying JSON error.
    #[source]
    pub source: serde_json::Error,
}

impl DynamicObject {
    /// A new, empty object of the given kind with the given name.
    pub fn new(name: &str, resource: &ApiResource) -> Self {
        Self {
            types: Some(TypeMeta { api_version: resource.api_version.to_string(), kind: resource.kind.to_string() }),
            metadata: ObjectMeta { name: Some(name.to_string()), ..ObjectMeta::default() },
            data: serde_json::Map::new(),
        }
    }

    /// Sets the namespace (builder style).
    pub fn within(mut self, namespace: &str) -> Self {
        self.metadata.namespace = Some(namespace.to_string());
        self
    }

    /// Sets a top-level field (builder style).
    pub fn with_field(mut self, key: &str, value: serde_json::Value) -> Self {
        self.data.insert(key.to_string(), value);
        self
    }

    /// Converts a typed object; `apiVersion`/`kind` are set from its [`Resource`] description.
    pub fn from_typed<K: Resource + Serialize>(obj: &K) -> Result<Self, ConversionError> {
        let value =
            serde_json::to_value(obj).map_err(|source| ConversionError { what: K::KIND.to_string(), source })?;
        let mut d: DynamicObject =
            serde_json::from_value(value).map_err(|source| ConversionError { what: K::KIND.to_string(), source })?;
        d.types = Some(TypeMeta { api_version: K::API_VERSION.to_string(), kind: K::KIND.to_string() });
        Ok(d)
    }

    /// Converts into a typed object (or view).
    pub fn try_into_typed<K: DeserializeOwned>(self) -> Result<K, ConversionError> {
        let what = self.types.as_ref().map(|t| t.kind.clone()).unwrap_or_else(|| "object".to_string());
        let value = serde_json::to_value(self).map_err(|source| ConversionError { what: what.clone(), source })?;
        serde_json::from_value(value).map_err(|source| ConversionError { what, source })
    }

    /// `apiVersion`, or `""`.
    pub fn api_version(&self) -> &str {
        self.types.as_ref().map(|t| t.api_version.as_str()).unwrap_or("")
    }

    /// `kind`, or `""`.
    pub fn kind(&self) -> &str {
        self.types.as_ref().map(|t| t.kind.as_str()).unwrap_or("")
    }
}

impl HasMetadata for DynamicObject {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn set_type_if_missing(&mut self, api_version: &str, kind: &str) {
        let t = self.types.get_or_insert_with(TypeMeta::default);
        if t.api_version.is_empty() {
            t.api_version = api_version.to_string();
        }
        if t.kind.is_empty() {
            t.kind = kind.to_string();
        }
    }
}

/// A list of objects of any kind (`PodList`, `CronTabList`, ...).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DynamicList {
    /// The list's `apiVersion` and `kind`.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub types: Option<TypeMeta>,
    /// `metadata` (resourceVersion, continue, remainingItemCount).
    #[serde(default)]
    pub metadata: ListMeta,
    /// The items, with `apiVersion`/`kind` filled in by [`DynamicList::fill_item_types`].
    #[serde(default, deserialize_with = "crate::list::null_as_empty")]
    pub items: Vec<DynamicObject>,
}

impl DynamicList {
    /// Gives every item without `apiVersion`/`kind` the list's `apiVersion` and its `kind`
    /// minus the `List` suffix, as client-go's unstructured list decoding does.
    pub fn fill_item_types(&mut self) {
        let Some(types) = &self.types else { return };
        let kind = types.kind.strip_suffix("List").unwrap_or(&types.kind).to_string();
        for item in &mut self.items {
            let t = item.types.get_or_insert_with(TypeMeta::default);
            if t.api_version.is_empty() {
                t.api_version = types.api_version.clone();
            }
            if t.kind.is_empty() {
                t.kind = kind.clone();
            }
        }
    }

    /// Decodes a list and fills its items' types.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let mut l: DynamicList = serde_json::from_slice(bytes)?;
        l.fill_item_types();
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn fixture(name: &str) -> Vec<u8> {
        let p = format!("{}/../testdata/apiserver/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let src = r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"c","namespace":"d"},"spec":{"cronSpec":"* * * * */5","x":[1,2,{"y":null}]},"extra":true}"#;
        let d: DynamicObject = serde_json::from_str(src).unwrap();
        assert_eq!(d.kind(), "CronTab");
        assert_eq!(d.name(), "c");
        let back: serde_json::Value = serde_json::to_value(&d).unwrap();
        assert_eq!(back, serde_json::from_str::<serde_json::Value>(src).unwrap());
    }

    #[test]
    fn typed_conversion_both_ways() {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("cm".into());
        cm.data = Some([("k".to_string(), "v".to_string())].into());
        let d = DynamicObject::from_typed(&cm).unwrap();
        assert_eq!((d.api_version(), d.kind()), ("v1", "ConfigMap"));
        assert_eq!(d.data["data"]["k"], "v");
        let back: ConfigMap = d.try_into_typed().unwrap();
        assert_eq!(back, cm);
    }

    #[test]
    fn builtin_list_items_get_types_from_the_list() {
        let l = DynamicList::from_slice(&fixture("list-pods-page1.json")).unwrap();
        assert!(!l.items.is_empty());
        for i in &l.items {
            assert_eq!((i.api_version(), i.kind()), ("v1", "Pod"));
        }
        assert!(l.metadata.continue_.is_some());
    }

    #[test]
    fn crd_list_items_keep_their_own_types() {
        let l = DynamicList::from_slice(&fixture("list-crd-objects.json")).unwrap();
        assert!(!l.items.is_empty());
        for i in &l.items {
            assert!(i.api_version().contains('/'), "{}", i.api_version());
            assert!(!i.kind().ends_with("List"));
        }
    }
}
