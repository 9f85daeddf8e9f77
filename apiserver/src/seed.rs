//! Realistic pods for seeding the embedded server in tests, examples and benchmarks.
//!
//! Contract: pod `i` has the shape and size of the fixtures in `apiserver/testdata/objects`
//! (`pod-deployment.json`, about 6 KB of compact JSON; every 8th pod is `pod-with-sidecar.json`,
//! about 7.2 KB), with the per-object fields varied the way a cluster varies them: one of 20
//! apps (each its own ReplicaSet with a fixed `pod-template-hash` and owner uid), one of 50 nodes
//! (node name and host IP), a unique pod IP, name suffix, uid, container ids, token volume name
//! and timestamps. Output depends only on `(i, namespace)`. Names are unique for
//! `i < 14_348_907` (27^5 suffixes); uids are unique for every `i`.
//!
//! Generation is a string template filled in per pod: the fixtures are parsed once, the varying
//! values located, and each pod is rendered by concatenation ([`realistic_pod_bytes`], ~µs), or
//! rendered and parsed ([`realistic_pod`]).

use std::fmt::Write as _;
use std::sync::OnceLock;

use serde_json::Value;

const DEPLOYMENT_POD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/objects/pod-deployment.json"));
const SIDECAR_POD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/objects/pod-with-sidecar.json"));

/// The apps pods belong to (label `app`, container, image, service account).
pub const APPS: [&str; 20] = [
    "reviews",
    "frontend",
    "ratings",
    "details",
    "productpage",
    "cart",
    "checkout",
    "payments",
    "shipping",
    "catalog",
    "search",
    "auth",
    "gateway",
    "inventory",
    "notifications",
    "recommendations",
    "orders",
    "accounts",
    "analytics",
    "billing",
];
/// How many nodes pods are spread over.
pub const NODES: usize = 50;
const TIERS: [&str; 3] = ["frontend", "backend", "cache"];
/// kube's random-string alphabet (no vowels, no confusable digits).
const ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";
/// Creation time of pod 0: 2026-03-01T00:00:00Z.
const EPOCH: i64 = 1_772_323_200;

/// A varying part of the template.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    App,
    TierPair,
    Hash,
    Suffix,
    Namespace,
    Uid,
    OwnerUid,
    Node,
    HostIp,
    PodIp,
    Time(i64),
    ContainerId(usize),
    TokenSuffix,
    ResourceVersion,
}

#[derive(Debug)]
enum Segment {
    Lit(String),
    Slot(Slot),
}

#[derive(Debug)]
struct Template {
    segments: Vec<Segment>,
    size_hint: usize,
}

fn templates() -> &'static Option<[Template; 2]> {
    static T: OnceLock<Option<[Template; 2]>> = OnceLock::new();
    T.get_or_init(|| Some([compile(DEPLOYMENT_POD)?, compile(SIDECAR_POD)?]))
}

fn seconds_of_day(ts: &str) -> Option<i64> {
    let t = ts.get(11..19)?;
    let mut it = t.split(':').map(|p| p.parse::<i64>().ok());
    Some(it.next()?? * 3600 + it.next()?? * 60 + it.next()??)
}

/// Finds the varying values in a fixture pod and cuts its compact JSON at them.
fn compile(source: &str) -> Option<Template> {
    let pod: Value = serde_json::from_str(source).ok()?;
    let compact = serde_json::to_string(&pod).ok()?;
    let meta = &pod["metadata"];
    let str_at = |v: &Value| v.as_str().map(str::to_string);
    let app = str_at(&meta["labels"]["app"])?;
    let tier = str_at(&meta["labels"]["tier"])?;
    let hash = str_at(&meta["labels"]["pod-template-hash"])?;
    let name = str_at(&meta["name"])?;
    let suffix = name.rsplit('-').next()?.to_string();
    let created = str_at(&meta["creationTimestamp"])?;
    let t0 = seconds_of_day(&created)?;
    let token_volume = pod["spec"]["volumes"]
        .as_array()?
        .iter()
        .filter_map(|v| v["name"].as_str())
        .find(|n| n.starts_with("kube-api-access-"))?
        .to_string();

    let mut subs: Vec<(String, Slot)> = vec![
        (format!("\"tier\":\"{tier}\""), Slot::TierPair),
        (str_at(&pod["spec"]["nodeName"])?, Slot::Node),
        (str_at(&meta["uid"])?, Slot::Uid),
        (str_at(&meta["ownerReferences"][0]["uid"])?, Slot::OwnerUid),
        (format!("\"namespace\":\"{}\"", str_at(&meta["namespace"])?), Slot::Namespace),
        (format!("\"resourceVersion\":\"{}\"", str_at(&meta["resourceVersion"])?), Slot::ResourceVersion),
        (token_volume.trim_start_matches("kube-api-access-").to_string(), Slot::TokenSuffix),
        (format!("{hash}-{suffix}\""), Slot::Suffix),
        (hash, Slot::Hash),
        (app, Slot::App),
        (str_at(&pod["status"]["hostIP"])?, Slot::HostIp),
        (str_at(&pod["status"]["podIP"])?, Slot::PodIp),
    ];
    for (k, cs) in pod["status"]["containerStatuses"].as_array()?.iter().enumerate() {
        subs.push((str_at(&cs["containerID"])?, Slot::ContainerId(k)));
    }
    // Every distinct timestamp, as an offset from creation.
    let mut stamps: Vec<String> = Vec::new();
    collect_timestamps(&pod, &mut stamps);
    for ts in stamps {
        let offset = seconds_of_day(&ts)? - t0;
        subs.push((ts, Slot::Time(offset)));
    }

    let mut segments = vec![Segment::Lit(compact.clone())];
    for (literal, slot) in subs {
        let mut out = Vec::with_capacity(segments.len() * 2);
        for seg in segments {
            match seg {
                Segment::Lit(text) => {
                    let mut parts = text.split(literal.as_str()).peekable();
                    while let Some(part) = parts.next() {
                        if !part.is_empty() {
                            out.push(Segment::Lit(part.to_string()));
                        }
                        if parts.peek().is_some() {
                            out.push(Segment::Slot(slot));
                        }
                    }
                }
                other => out.push(other),
            }
        }
        segments = out;
    }
    Some(Template { segments, size_hint: compact.len() + 256 })
}

fn collect_timestamps(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s)
            if s.len() == 20 && s.ends_with('Z') && s.as_bytes().get(10) == Some(&b'T') && !out.contains(s) =>
        {
            out.push(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| collect_timestamps(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_timestamps(x, out)),
        _ => {}
    }
}

/// splitmix64: a cheap, well-mixed deterministic hash.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn push_random_string(out: &mut String, mut x: u64, len: usize) {
    for _ in 0..len {
        out.push(char::from(ALPHABET[(x % 27) as usize]));
        x /= 27;
    }
}

/// A UUID-v4-shaped string from two 64-bit values.
fn push_uuid(out: &mut String, a: u64, b: u64) {
    let _ = write!(
        out,
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    );
}

/// RFC 3339 (`2026-03-01T00:00:02Z`) for seconds since the Unix epoch.
fn push_rfc3339(out: &mut String, secs: i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(out, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60);
}

/// Pod `i` as compact JSON bytes (cheapest form: no JSON parsing).
pub fn realistic_pod_bytes(i: usize, namespace: &str) -> Vec<u8> {
    let mut out = String::new();
    render(i, namespace, &mut out);
    out.into_bytes()
}

/// Pod `i` in `namespace`, as JSON (with `kind` and `apiVersion`, status Running, no
/// resourceVersion semantics: the server assigns its own on create).
pub fn realistic_pod(i: usize, namespace: &str) -> Value {
    let bytes = realistic_pod_bytes(i, namespace);
    serde_json::from_slice(&bytes).unwrap_or_else(|_| fallback_pod(i, namespace))
}

/// `n` pods: [`realistic_pod`] for `0..n`.
pub fn realistic_pods(n: usize, namespace: &str) -> Vec<Value> {
    (0..n).map(|i| realistic_pod(i, namespace)).collect()
}

/// A minimal pod, used only if the embedded fixtures could not be compiled (never in practice:
/// a test guards it).
fn fallback_pod(i: usize, namespace: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("pod-{i}"), "namespace": namespace},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]}
    })
}

fn render(i: usize, namespace: &str, out: &mut String) {
    let Some(templates) = templates() else {
        out.push_str(&fallback_pod(i, namespace).to_string());
        return;
    };
    let ix = i as u64;
    let template = &templates[usize::from(i % 8 == 7)];
    let app_ix = i % APPS.len();
    let app = APPS[app_ix];
    let app_seed = mix(0xa99 ^ app_ix as u64);
    let node = (mix(ix ^ 0x40de) % NODES as u64) as usize;
    let created = EPOCH + i as i64;
    let h = mix(ix);
    let h2 = mix(h);
    out.reserve(template.size_hint);
    for seg in &template.segments {
        match seg {
            Segment::Lit(s) => out.push_str(s),
            Segment::Slot(slot) => match *slot {
                Slot::App => out.push_str(app),
                Slot::TierPair => {
                    out.push_str("\"tier\":\"");
                    out.push_str(TIERS[app_ix % TIERS.len()]);
                    out.push('"');
                }
                Slot::Hash => push_random_string(out, app_seed, 10),
                Slot::Suffix => {
                    push_random_string(out, app_seed, 10);
                    out.push('-');
                    // A bijection of i mod 27^5 so consecutive pods do not look sequential.
                    push_random_string(out, (ix % 14_348_907).wrapping_mul(7_777_777) % 14_348_907, 5);
                    out.push('"');
                }
                Slot::Namespace => {
                    out.push_str("\"namespace\":");
                    out.push_str(&Value::from(namespace).to_string());
                }
                Slot::ResourceVersion => {
                    let _ = write!(out, "\"resourceVersion\":\"{}\"", 1000 + ix);
                }
                Slot::Uid => push_uuid(out, h ^ ix.rotate_left(32), ix),
                Slot::OwnerUid => push_uuid(out, app_seed, mix(app_seed)),
                Slot::Node => {
                    let _ = write!(out, "ip-10-0-{}-{}.eu-west-1.compute.internal", node / 10, 10 + node % 10 * 20);
                }
                Slot::HostIp => {
                    let _ = write!(out, "10.0.{}.{}", node / 10, 10 + node % 10 * 20);
                }
                Slot::PodIp => {
                    let _ = write!(out, "10.{}.{}.{}", 128 + ((ix >> 16) & 0x3f), (ix >> 8) & 0xff, ix & 0xff);
                }
                Slot::Time(offset) => push_rfc3339(out, created + offset),
                Slot::ContainerId(k) => {
                    out.push_str("containerd://");
                    for w in 0..4u64 {
                        let _ = write!(out, "{:016x}", mix(h2 ^ ((k as u64) << 8) ^ w));
                    }
                }
                Slot::TokenSuffix => push_random_string(out, h2, 5),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use k8s_openapi::api::core::v1::Pod;

    use super::*;

    #[test]
    fn templates_compile_and_find_every_varying_value() {
        let t = templates().as_ref().expect("fixtures compile");
        for (ix, tpl) in t.iter().enumerate() {
            let slots: Vec<Slot> =
                tpl.segments.iter().filter_map(|s| if let Segment::Slot(s) = s { Some(*s) } else { None }).collect();
            for wanted in [
                Slot::App,
                Slot::TierPair,
                Slot::Hash,
                Slot::Suffix,
                Slot::Namespace,
                Slot::Uid,
                Slot::OwnerUid,
                Slot::Node,
                Slot::HostIp,
                Slot::PodIp,
                Slot::TokenSuffix,
                Slot::ContainerId(0),
                Slot::Time(0),
            ] {
                assert!(slots.contains(&wanted), "template {ix} lacks {wanted:?}");
            }
        }
        assert!(t[1].segments.iter().any(|s| matches!(s, Segment::Slot(Slot::ContainerId(1)))));
    }

    #[test]
    fn pods_decode_as_typed_pods_with_varied_fields() {
        let mut names = HashSet::new();
        let mut uids = HashSet::new();
        let mut ips = HashSet::new();
        let mut nodes = HashSet::new();
        let mut apps = HashSet::new();
        for i in 0..400 {
            let v = realistic_pod(i, "bench");
            let pod: Pod = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("pod {i}: {e}"));
            let meta = &pod.metadata;
            let name = meta.name.clone().unwrap();
            let labels = meta.labels.clone().unwrap();
            let app = &labels["app"];
            let hash = &labels["pod-template-hash"];
            assert_eq!(name, format!("{app}-{hash}-{}", name.rsplit('-').next().unwrap()));
            assert_eq!(meta.generate_name.as_deref(), Some(&*format!("{app}-{hash}-")));
            assert_eq!(meta.namespace.as_deref(), Some("bench"));
            let owner = &meta.owner_references.as_ref().unwrap()[0];
            assert_eq!(owner.name, format!("{app}-{hash}"));
            let spec = pod.spec.as_ref().unwrap();
            assert_eq!(spec.containers[0].name, *app);
            assert_eq!(spec.containers.len(), if i % 8 == 7 { 2 } else { 1 });
            let status = pod.status.as_ref().unwrap();
            assert_eq!(status.phase.as_deref(), Some("Running"));
            let text = v.to_string();
            for stale in ["reviews", "gzbkx465z6", "team-00", "j8vbb", "8q7v6", "ad9f769a-"] {
                assert!(app == "reviews" || !text.contains(stale), "pod {i} still has {stale}");
            }
            let size = text.len();
            assert!((5_000..9_000).contains(&size), "pod {i}: {size} bytes");
            assert!(names.insert(name));
            assert!(uids.insert(meta.uid.clone().unwrap()));
            assert!(ips.insert(status.pod_ip.clone().unwrap()));
            nodes.insert(spec.node_name.clone().unwrap());
            apps.insert(app.clone());
        }
        assert_eq!(apps.len(), 20);
        assert!(nodes.len() > 40, "{} nodes", nodes.len());
    }

    #[test]
    fn deterministic_and_timestamps_advance() {
        assert_eq!(realistic_pod_bytes(12345, "ns"), realistic_pod_bytes(12345, "ns"));
        assert_ne!(realistic_pod_bytes(1, "ns"), realistic_pod_bytes(2, "ns"));
        let p: Pod = serde_json::from_value(realistic_pod(86_400 + 3661, "ns")).unwrap();
        let created = p.metadata.creation_timestamp.unwrap().0.to_string();
        assert_eq!(created, "2026-03-02T01:01:01Z");
        let mut s = String::new();
        push_rfc3339(&mut s, 951_782_400); // leap day
        assert_eq!(s, "2000-02-29T00:00:00Z");
        // Same app, same ReplicaSet; the namespace is escaped.
        let a = realistic_pod(0, "x\"y");
        let b = realistic_pod(20, "x\"y");
        assert_eq!(a["metadata"]["namespace"], "x\"y");
        assert_eq!(a["metadata"]["ownerReferences"], b["metadata"]["ownerReferences"]);
    }

    #[test]
    fn sizes_match_the_fixtures() {
        let plain = realistic_pod_bytes(0, "team-00").len();
        let sidecar = realistic_pod_bytes(7, "team-00").len();
        assert!(plain.abs_diff(5953) < 300, "{plain}");
        assert!(sidecar.abs_diff(7240) < 300, "{sidecar}");
        assert_eq!(realistic_pods(9, "a").len(), 9);
    }

    /// `cargo test -p rudder-apiserver --release seed::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore = "measurement; run explicitly"]
    fn throughput() {
        let n = 100_000;
        let t = std::time::Instant::now();
        let bytes: usize = (0..n).map(|i| realistic_pod_bytes(i, "bench").len()).sum();
        let e = t.elapsed();
        println!("bytes: {n} pods, {bytes} B in {e:?}: {:.0} pods/s", n as f64 / e.as_secs_f64());
        let n = 10_000;
        let t = std::time::Instant::now();
        let pods = realistic_pods(n, "bench");
        let e = t.elapsed();
        println!("values: {} pods in {e:?}: {:.0} pods/s", pods.len(), n as f64 / e.as_secs_f64());
    }
}
