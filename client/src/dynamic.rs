//! [`DynamicClient`]: the same verbs as the typed clients over [`DynamicObject`], for any
//! resource the server serves, custom resources included (client-go's `dynamic.Interface`).
//!
//! Contract:
//! - `client.resource(&api_resource)` needs no I/O; `client.resource_gvr(&gvr)` learns the
//!   kind and scope from the [`RestMapper`] (discovery, cached, refreshed on a miss).
//! - `.namespace("ns")` / `.all()` give an [`Api<DynamicObject>`]: every verb of the typed
//!   API; list items get `apiVersion`/`kind` filled in when the server leaves them out.

use rudder_apimachinery::dynamic::DynamicObject;
use rudder_apimachinery::resource::ApiResource;
use rudder_apimachinery::schema::GroupVersionResource;

use crate::api::Api;
use crate::client::Client;
use crate::restmapper::{MapError, RestMapper};

/// Dynamic access to any resource. Clone freely (clones share the RESTMapper cache).
#[derive(Clone, Debug)]
pub struct DynamicClient {
    client: Client,
    mapper: RestMapper,
}

impl DynamicClient {
    /// A dynamic client over `client`, with its own RESTMapper.
    pub fn new(client: Client) -> Self {
        let mapper = RestMapper::new(client.clone());
        Self { client, mapper }
    }

    /// A dynamic client sharing an existing RESTMapper.
    pub fn with_mapper(client: Client, mapper: RestMapper) -> Self {
        Self { client, mapper }
    }

    /// The RESTMapper used by [`DynamicClient::resource_gvr`].
    pub fn rest_mapper(&self) -> &RestMapper {
        &self.mapper
    }

    /// A resource whose kind and scope are known.
    pub fn resource(&self, resource: &ApiResource) -> DynamicResource {
        DynamicResource { client: self.client.clone(), resource: resource.clone() }
    }

    /// A resource by group/version/resource; its kind and scope come from discovery. An empty
    /// version selects the group's preferred version.
    pub async fn resource_gvr(&self, gvr: &GroupVersionResource) -> Result<DynamicResource, MapError> {
        let resource = self.mapper.resource_for_gvr(gvr).await?;
        Ok(DynamicResource { client: self.client.clone(), resource })
    }

    /// A resource by the name a kubectl user would type (`deploy`, `crontabs.stable.example.com`).
    pub async fn resource_named(&self, name: &str) -> Result<DynamicResource, MapError> {
        let resource = self.mapper.resource_for(name).await?;
        Ok(DynamicResource { client: self.client.clone(), resource })
    }
}

/// One dynamic resource, before choosing a namespace.
#[derive(Clone, Debug)]
pub struct DynamicResource {
    client: Client,
    resource: ApiResource,
}

impl DynamicResource {
    /// The resource description.
    pub fn api_resource(&self) -> &ApiResource {
        &self.resource
    }

    /// Objects in namespace `ns` (ignored for cluster-scoped resources).
    pub fn namespace(&self, ns: &str) -> Api<DynamicObject> {
        Api::with_resource(self.client.clone(), &self.resource, Some(ns))
    }

    /// Objects across all namespaces, or at cluster scope.
    pub fn all(&self) -> Api<DynamicObject> {
        Api::with_resource(self.client.clone(), &self.resource, None)
    }
}
