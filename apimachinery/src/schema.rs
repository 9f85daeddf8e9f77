//! Group/version/kind/resource identifiers, as in `k8s.io/apimachinery/pkg/runtime/schema`.
//!
//! Contract: the core group is the empty string; its `apiVersion` is printed as just the version
//! (`v1`), every other group as `group/version` (`apps/v1`). Parsing accepts exactly those forms.

use std::fmt;

/// An error parsing an `apiVersion` string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid apiVersion {input:?}: {reason}")]
pub struct ParseApiVersionError {
    /// The string that failed to parse.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// An API group and version, e.g. `apps/v1` or the core `v1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GroupVersion {
    /// API group; empty for the core group.
    pub group: String,
    /// Version within the group, e.g. `v1`.
    pub version: String,
}

impl GroupVersion {
    /// Builds a group version from its parts.
    pub fn new(group: impl Into<String>, version: impl Into<String>) -> Self {
        Self { group: group.into(), version: version.into() }
    }

    /// Parses an `apiVersion` string: `v1` (core group) or `group/version`.
    ///
    /// ```
    /// use rudder_apimachinery::schema::GroupVersion;
    /// let gv = GroupVersion::parse_api_version("apps/v1").unwrap();
    /// assert_eq!((gv.group.as_str(), gv.version.as_str()), ("apps", "v1"));
    /// assert_eq!(GroupVersion::parse_api_version("v1").unwrap().group, "");
    /// ```
    pub fn parse_api_version(s: &str) -> Result<Self, ParseApiVersionError> {
        let err = |reason| ParseApiVersionError { input: s.to_string(), reason };
        if s.is_empty() {
            return Err(err("empty"));
        }
        match s.split_once('/') {
            None => Ok(Self::new("", s)),
            Some((g, v)) => {
                if g.is_empty() {
                    return Err(err("empty group before '/'"));
                }
                if v.is_empty() {
                    return Err(err("empty version after '/'"));
                }
                if v.contains('/') {
                    return Err(err("more than one '/'"));
                }
                Ok(Self::new(g, v))
            }
        }
    }

    /// The `apiVersion` string: `version` for the core group, else `group/version`.
    pub fn api_version(&self) -> String {
        api_version_of(&self.group, &self.version)
    }

    /// Adds a kind to this group version.
    pub fn with_kind(&self, kind: impl Into<String>) -> GroupVersionKind {
        GroupVersionKind::new(&self.group, &self.version, kind)
    }

    /// Adds a resource (plural) to this group version.
    pub fn with_resource(&self, resource: impl Into<String>) -> GroupVersionResource {
        GroupVersionResource::new(&self.group, &self.version, resource)
    }
}

impl fmt::Display for GroupVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.version)
        } else {
            write!(f, "{}/{}", self.group, self.version)
        }
    }
}

/// Joins group and version into an `apiVersion` string.
pub fn api_version_of(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// A kind in a group version, e.g. `apps/v1, Kind=Deployment`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GroupVersionKind {
    /// API group; empty for the core group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind, CamelCase singular (`Deployment`).
    pub kind: String,
}

impl GroupVersionKind {
    /// Builds a GVK from its parts.
    pub fn new(group: impl Into<String>, version: impl Into<String>, kind: impl Into<String>) -> Self {
        Self { group: group.into(), version: version.into(), kind: kind.into() }
    }

    /// Builds a GVK from an `apiVersion` string and a kind.
    pub fn from_api_version_kind(api_version: &str, kind: &str) -> Result<Self, ParseApiVersionError> {
        let gv = GroupVersion::parse_api_version(api_version)?;
        Ok(gv.with_kind(kind))
    }

    /// The group version part.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(&self.group, &self.version)
    }

    /// The `apiVersion` string.
    pub fn api_version(&self) -> String {
        api_version_of(&self.group, &self.version)
    }
}

impl fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Kind={}", self.group_version(), self.kind)
    }
}

/// A resource (plural, lower case) in a group version, e.g. `apps/v1, Resource=deployments`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GroupVersionResource {
    /// API group; empty for the core group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Resource: the plural lower-case name used in URLs (`deployments`).
    pub resource: String,
}

impl GroupVersionResource {
    /// Builds a GVR from its parts.
    pub fn new(group: impl Into<String>, version: impl Into<String>, resource: impl Into<String>) -> Self {
        Self { group: group.into(), version: version.into(), resource: resource.into() }
    }

    /// The group version part.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(&self.group, &self.version)
    }

    /// The group resource part.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.resource)
    }
}

impl fmt::Display for GroupVersionResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Resource={}", self.group_version(), self.resource)
    }
}

/// A resource in a group, without version: `deployments.apps`, or `pods` for the core group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GroupResource {
    /// API group; empty for the core group.
    pub group: String,
    /// Resource (plural, lower case).
    pub resource: String,
}

impl GroupResource {
    /// Builds a group resource from its parts.
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        Self { group: group.into(), resource: resource.into() }
    }

    /// Parses `resource.group` (the first dot separates them) or a bare `resource`.
    pub fn parse(s: &str) -> Self {
        match s.split_once('.') {
            Some((r, g)) => Self::new(g, r),
            None => Self::new("", s),
        }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_round_trip() {
        for s in ["v1", "apps/v1", "stable.example.com/v1beta1"] {
            assert_eq!(GroupVersion::parse_api_version(s).unwrap().api_version(), s);
        }
    }

    #[test]
    fn bad_api_versions_are_errors() {
        for s in ["", "/v1", "apps/", "a/b/c"] {
            let e = GroupVersion::parse_api_version(s).unwrap_err();
            assert_eq!(e.input, s);
        }
    }

    #[test]
    fn display_forms() {
        assert_eq!(GroupResource::new("apps", "deployments").to_string(), "deployments.apps");
        assert_eq!(GroupResource::parse("deployments.apps"), GroupResource::new("apps", "deployments"));
        assert_eq!(GroupVersionKind::new("", "v1", "Pod").to_string(), "v1, Kind=Pod");
    }
}
