//! Every kind, every field: a sample object filling each field of each message (from the
//! descriptor table) goes JSON -> Rust value and protobuf -> Rust value (the protobuf from
//! [`super::to_vec`]) with equal results, typed (every k8s-openapi kind) and dynamic (every
//! kind in the table), and re-encodes to the same bytes.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::descriptor::{self, Kind, Label, Message, Special};
use super::table::{GROUPS, MESSAGES};
use crate::DynamicObject;

const MAX_SAMPLE_DEPTH: u32 = 7;

/// A value for every field of `msg` (messages past the depth limit are left empty).
fn sample(msg: &'static Message, depth: u32, counter: &mut u32) -> Value {
    let mut map = Map::new();
    if depth > MAX_SAMPLE_DEPTH {
        return Value::Object(map);
    }
    for f in msg.fields {
        *counter += 1;
        let one = |counter: &mut u32| scalar_or_message(f.kind, f.json, depth, counter);
        let v = match f.label {
            Label::Single if f.inline => {
                // Its fields are this object's (an embedded Go struct).
                let Kind::Message(idx) = f.kind else { unreachable!() };
                if let Value::Object(inner) = sample(descriptor::message(idx), depth, counter) {
                    map.extend(inner);
                }
                continue;
            }
            Label::Single => one(counter),
            Label::Repeated => {
                let (a, b) = (one(counter), one(counter));
                if a.is_null() {
                    continue;
                }
                Value::Array(vec![a, b])
            }
            Label::Map => {
                let Kind::Message(idx) = f.kind else { unreachable!() };
                let entry = descriptor::message(idx);
                let value = entry.field(2).unwrap();
                let mut m = Map::new();
                for k in ["k1", "k2"] {
                    let v = scalar_or_message(value.kind, "value", depth, counter);
                    if v.is_null() {
                        continue;
                    }
                    m.insert(k.into(), v);
                }
                if m.is_empty() {
                    continue;
                }
                Value::Object(m)
            }
        };
        if !v.is_null() {
            map.insert(f.json.into(), v);
        }
    }
    Value::Object(map)
}

fn scalar_or_message(kind: Kind, name: &str, depth: u32, counter: &mut u32) -> Value {
    match kind {
        Kind::Bool => json!(true),
        Kind::String => json!(format!("{name}-{counter}")),
        Kind::Bytes => json!("aGVsbG8="),
        Kind::Double | Kind::Float => json!(1.5),
        Kind::Message(idx) => {
            let m = descriptor::message(idx);
            match m.special {
                Special::None => {
                    if depth >= MAX_SAMPLE_DEPTH {
                        Value::Null
                    } else {
                        sample(m, depth + 1, counter)
                    }
                }
                Special::MapEntry => unreachable!(),
                Special::Time => json!("2024-01-02T03:04:05Z"),
                Special::MicroTime => json!("2024-01-02T03:04:05.123456Z"),
                Special::Duration => json!("1h1m30.5s"),
                Special::Quantity => json!("250m"),
                Special::IntOrString => {
                    if *counter % 2 == 0 {
                        json!(8080)
                    } else {
                        json!("http")
                    }
                }
                Special::RawExtension => json!({"apiVersion": "example.com/v1", "kind": "Thing", "n": [1, "x"]}),
                Special::RawJson => json!({"f:metadata": {"f:labels": {}}}),
                Special::Array => json!(["a", "b"]),
                Special::SchemaOrBool => json!(true),
                Special::SchemaOrStringArray => json!(["a", "b"]),
                Special::SchemaOrArray => {
                    if depth >= MAX_SAMPLE_DEPTH {
                        Value::Null
                    } else {
                        json!([{"type": "string"}])
                    }
                }
            }
        }
        Kind::Int32 | Kind::SInt32 | Kind::SFixed32 | Kind::UInt32 | Kind::Fixed32 => json!(7),
        _ => json!(-64),
    }
}

/// The first path where `a` and `b` differ, for readable failures.
pub(crate) fn first_diff(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    None => return Some(format!("{path}.{k}: only left ({v})")),
                    Some(w) => {
                        if let Some(d) = first_diff(v, w, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                }
            }
            y.keys().find(|k| !x.contains_key(*k)).map(|k| format!("{path}.{k}: only right ({})", y[k]))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (v, w))| first_diff(v, w, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} != {b}")),
    }
}

#[track_caller]
pub(crate) fn assert_same<T: Serialize + PartialEq>(a: &T, b: &T, what: &str) {
    if a != b {
        let (x, y) = (serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
        panic!("{what}: {}", first_diff(&x, &y, "").unwrap_or_else(|| "values differ, JSON forms equal".into()));
    }
}

fn top_sample(api_version: &str, kind: &str) -> Value {
    let msg = descriptor::for_kind(api_version, kind).unwrap_or_else(|| panic!("{api_version} {kind}: no message"));
    let mut v = sample(msg, 0, &mut 0);
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    v
}

fn typed_round_trip<K>()
where
    K: k8s_openapi::Resource + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let sample = top_sample(K::API_VERSION, K::KIND);
    let from_json: K = serde_json::from_value(sample.clone()).unwrap_or_else(|e| panic!("{}: json: {e}", K::KIND));
    let bytes = super::to_vec(&from_json).unwrap_or_else(|e| panic!("{}: encode: {e}", K::KIND));
    let from_pb: K = super::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: decode: {e}", K::KIND));
    assert_same(&from_json, &from_pb, K::KIND);
    assert_eq!(super::to_vec(&from_pb).unwrap(), bytes, "{}: re-encoding differs", K::KIND);
    // Through a JSON tree too (nested type meta, which protobuf does not carry, aside).
    let as_value: Value = super::from_slice(&bytes).unwrap();
    let via_value: K = serde_json::from_value(as_value).unwrap();
    assert_same(&via_value, &from_json, K::KIND);
}

macro_rules! every_typed_kind {
    ($($t:ty,)*) => {
        #[test]
        fn every_k8s_openapi_kind_decodes_the_same_from_json_and_protobuf() {
            $( typed_round_trip::<$t>(); )*
        }
    };
}

every_typed_kind! {
        k8s_openapi::api::admissionregistration::v1::MutatingAdmissionPolicy,
        k8s_openapi::api::admissionregistration::v1::MutatingAdmissionPolicyBinding,
        k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
        k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy,
        k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration,
        k8s_openapi::api::admissionregistration::v1alpha1::MutatingAdmissionPolicy,
        k8s_openapi::api::admissionregistration::v1alpha1::MutatingAdmissionPolicyBinding,
        k8s_openapi::api::admissionregistration::v1beta1::MutatingAdmissionPolicy,
        k8s_openapi::api::admissionregistration::v1beta1::MutatingAdmissionPolicyBinding,
        k8s_openapi::api::apiserverinternal::v1alpha1::StorageVersion,
        k8s_openapi::api::apps::v1::ControllerRevision,
        k8s_openapi::api::apps::v1::DaemonSet,
        k8s_openapi::api::apps::v1::Deployment,
        k8s_openapi::api::apps::v1::ReplicaSet,
        k8s_openapi::api::apps::v1::StatefulSet,
        k8s_openapi::api::authentication::v1::SelfSubjectReview,
        k8s_openapi::api::authentication::v1::TokenRequest,
        k8s_openapi::api::authentication::v1::TokenReview,
        k8s_openapi::api::authorization::v1::LocalSubjectAccessReview,
        k8s_openapi::api::authorization::v1::SelfSubjectAccessReview,
        k8s_openapi::api::authorization::v1::SelfSubjectRulesReview,
        k8s_openapi::api::authorization::v1::SubjectAccessReview,
        k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler,
        k8s_openapi::api::autoscaling::v1::Scale,
        k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler,
        k8s_openapi::api::batch::v1::CronJob,
        k8s_openapi::api::batch::v1::Job,
        k8s_openapi::api::certificates::v1::CertificateSigningRequest,
        k8s_openapi::api::certificates::v1::ClusterTrustBundle,
        k8s_openapi::api::certificates::v1::PodCertificateRequest,
        k8s_openapi::api::certificates::v1beta1::ClusterTrustBundle,
        k8s_openapi::api::certificates::v1beta1::PodCertificateRequest,
        k8s_openapi::api::coordination::v1::Lease,
        k8s_openapi::api::coordination::v1alpha2::LeaseCandidate,
        k8s_openapi::api::coordination::v1beta1::LeaseCandidate,
        k8s_openapi::api::core::v1::Binding,
        k8s_openapi::api::core::v1::ComponentStatus,
        k8s_openapi::api::core::v1::ConfigMap,
        k8s_openapi::api::core::v1::Endpoints,
        k8s_openapi::api::core::v1::Event,
        k8s_openapi::api::core::v1::LimitRange,
        k8s_openapi::api::core::v1::Namespace,
        k8s_openapi::api::core::v1::Node,
        k8s_openapi::api::core::v1::PersistentVolume,
        k8s_openapi::api::core::v1::PersistentVolumeClaim,
        k8s_openapi::api::core::v1::Pod,
        k8s_openapi::api::core::v1::PodTemplate,
        k8s_openapi::api::core::v1::ReplicationController,
        k8s_openapi::api::core::v1::ResourceQuota,
        k8s_openapi::api::core::v1::Secret,
        k8s_openapi::api::core::v1::Service,
        k8s_openapi::api::core::v1::ServiceAccount,
        k8s_openapi::api::discovery::v1::EndpointSlice,
        k8s_openapi::api::events::v1::Event,
        k8s_openapi::api::flowcontrol::v1::FlowSchema,
        k8s_openapi::api::flowcontrol::v1::PriorityLevelConfiguration,
        k8s_openapi::api::lifecycle::v1alpha1::Eviction,
        k8s_openapi::api::lifecycle::v1alpha1::EvictionRequest,
        k8s_openapi::api::networking::v1::Ingress,
        k8s_openapi::api::networking::v1::IngressClass,
        k8s_openapi::api::networking::v1::IPAddress,
        k8s_openapi::api::networking::v1::NetworkPolicy,
        k8s_openapi::api::networking::v1::ServiceCIDR,
        k8s_openapi::api::node::v1::RuntimeClass,
        k8s_openapi::api::policy::v1::Eviction,
        k8s_openapi::api::policy::v1::PodDisruptionBudget,
        k8s_openapi::api::rbac::v1::ClusterRole,
        k8s_openapi::api::rbac::v1::ClusterRoleBinding,
        k8s_openapi::api::rbac::v1::Role,
        k8s_openapi::api::rbac::v1::RoleBinding,
        k8s_openapi::api::resource::v1::DeviceClass,
        k8s_openapi::api::resource::v1::DeviceTaintRule,
        k8s_openapi::api::resource::v1::ResourceClaim,
        k8s_openapi::api::resource::v1::ResourceClaimTemplate,
        k8s_openapi::api::resource::v1::ResourceSlice,
        k8s_openapi::api::resource::v1alpha3::DeviceTaintRule,
        k8s_openapi::api::resource::v1alpha3::ResourcePoolStatusRequest,
        k8s_openapi::api::resource::v1beta1::DeviceClass,
        k8s_openapi::api::resource::v1beta1::ResourceClaim,
        k8s_openapi::api::resource::v1beta1::ResourceClaimTemplate,
        k8s_openapi::api::resource::v1beta1::ResourceSlice,
        k8s_openapi::api::resource::v1beta2::DeviceClass,
        k8s_openapi::api::resource::v1beta2::DeviceTaintRule,
        k8s_openapi::api::resource::v1beta2::ResourceClaim,
        k8s_openapi::api::resource::v1beta2::ResourceClaimTemplate,
        k8s_openapi::api::resource::v1beta2::ResourceSlice,
        k8s_openapi::api::scheduling::v1::PriorityClass,
        k8s_openapi::api::scheduling::v1alpha3::CompositePodGroup,
        k8s_openapi::api::scheduling::v1alpha3::PodGroup,
        k8s_openapi::api::scheduling::v1alpha3::Workload,
        k8s_openapi::api::scheduling::v1beta1::PodGroup,
        k8s_openapi::api::scheduling::v1beta1::Workload,
        k8s_openapi::api::storage::v1::CSIDriver,
        k8s_openapi::api::storage::v1::CSINode,
        k8s_openapi::api::storage::v1::CSIStorageCapacity,
        k8s_openapi::api::storage::v1::StorageClass,
        k8s_openapi::api::storage::v1::VolumeAttachment,
        k8s_openapi::api::storage::v1::VolumeAttributesClass,
        k8s_openapi::api::storagemigration::v1::StorageVersionMigration,
        k8s_openapi::api::storagemigration::v1beta1::StorageVersionMigration,
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService,
}

#[test]
fn every_kind_in_the_table_round_trips_dynamically() {
    let mut kinds = 0;
    for (group, version, package) in GROUPS.iter() {
        let api_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        for m in MESSAGES.iter().filter(|m| m.package == *package && m.special == Special::None) {
            let is_object = m.fields.first().is_some_and(|f| {
                f.json == "metadata"
                    && matches!(f.kind, Kind::Message(i) if descriptor::message(i).name == "ObjectMeta")
            });
            if !is_object {
                continue;
            }
            kinds += 1;
            let sample = top_sample(&api_version, m.name);
            let from_json: DynamicObject = serde_json::from_value(sample.clone()).unwrap();
            let bytes = super::to_vec(&from_json).unwrap_or_else(|e| panic!("{}: encode: {e}", m.name));
            let from_pb: DynamicObject =
                super::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: decode: {e}", m.name));
            assert_same(&from_json, &from_pb, m.name);
            let value: Value = super::from_slice(&bytes).unwrap();
            assert_same(&value, &sample, m.name);
            assert_eq!(super::to_vec(&value).unwrap(), bytes, "{}", m.name);
        }
    }
    assert!(kinds > 100, "{kinds} kinds");
}

#[test]
fn nesting_past_the_limit_is_an_error_not_a_stack_overflow() {
    // JSONSchemaProps.not (28) is a JSONSchemaProps: nest it 1000 deep.
    let schema =
        descriptor::find("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1", "JSONSchemaProps").unwrap();
    assert_eq!(schema.field(28).map(|f| f.json), Some("not"));
    let mut bytes = Vec::new();
    for _ in 0..1000 {
        let mut outer = Vec::new();
        super::wire::put_bytes(&mut outer, 28, &bytes);
        bytes = outer;
    }
    let d = super::de::MessageDeserializer::new(&bytes, schema, 0);
    let err = <Value as serde::Deserialize>::deserialize(d).unwrap_err();
    assert!(matches!(err, super::Error::Depth), "{err}");
    // At the limit it still decodes.
    let mut ok = Vec::new();
    for _ in 0..super::MAX_DEPTH - 1 {
        let mut outer = Vec::new();
        super::wire::put_bytes(&mut outer, 28, &ok);
        ok = outer;
    }
    let d = super::de::MessageDeserializer::new(&ok, schema, 0);
    assert!(<Value as serde::Deserialize>::deserialize(d).is_ok());
}
