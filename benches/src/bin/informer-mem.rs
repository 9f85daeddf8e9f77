//! One-shot sync throughput, resident memory per cached pod and peak memory, each variant and
//! shape in its own process, against a server in another process; optionally a relist after
//! the sync.
//!
//! ```text
//! informer-mem [--n 100000] [--variants a,b] [--shapes full,no-managed-fields,pod-view]
//!              [--server embedded|replay] [--threads 2] [--scenario sync|relist]
//!              [--record results.json]
//! ```
//!
//! The parent starts `informer-mem serve` (the server, in its own process), then for every
//! (variant, shape) runs `informer-mem client ...`, which reads its RSS, syncs `n` pods, reads
//! its RSS, its peak RSS (`VmHWM`) and glibc's heap statistics again and prints one
//! `RESULT {json}` line. The parent prints a Markdown table with pods/s, bytes per cached pod
//! (RSS delta / n), the client process's peak RSS and that peak minus the RSS before the sync,
//! the heap in use and free per pod, and ratios vs kube-rs and vs the bare loop.
//!
//! `--scenario relist` (default `sync`): after the sync the client waits [`RELIST_SETTLE`],
//! resets its peak (`/proc/self/clear_refs`), asks the server (through its control port,
//! `rudder_benches::server::control`) to end every watch and answer the next one with 410
//! Expired, and waits until its cache has applied the relist of the same objects
//! ([`rudder_benches::Cache::next_relist`]); it reports the relist's duration, its peak RSS, and
//! the lists and watches the server served meanwhile (so a variant that resumed its watch
//! instead of relisting shows). `--record PATH` writes every result (one JSON object per
//! variant, shape and scenario) with the run's settings to PATH, for `tools/bench_chart.py`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rudder_benches::memory::{heap_stats, peak_rss_bytes, reset_peak_rss, rss_bytes, HeapStats};
use rudder_benches::server::{control, Backend, BenchServer};
use rudder_benches::{client_runtime, variant, variants, BenchError, Result, Shape, SyncArgs};

/// How long a relisting client waits after its sync before the server expires its watch:
/// rudder's reflector counts a watch that ends within 1 s without events as failed and backs
/// off (client-go's rule), which a relist right after the sync would measure instead.
const RELIST_SETTLE: Duration = Duration::from_millis(1500);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Sync,
    Relist,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Sync => "sync",
            Scenario::Relist => "relist",
        }
    }

    fn parse(s: &str) -> Option<Scenario> {
        [Scenario::Sync, Scenario::Relist].into_iter().find(|x| x.name() == s)
    }
}

struct Opts {
    n: usize,
    variants: Option<Vec<String>>,
    shapes: Vec<Shape>,
    backend: Backend,
    threads: usize,
    url: String,
    control: String,
    scenario: Scenario,
    record: Option<String>,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        n: 100_000,
        variants: None,
        shapes: vec![Shape::Full, Shape::NoManagedFields, Shape::View],
        backend: Backend::from_env()?,
        threads: 2,
        url: String::new(),
        control: String::new(),
        scenario: Scenario::Sync,
        record: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or_else(|| BenchError(format!("{a} needs a value")));
        match a.as_str() {
            "--n" => o.n = val()?.parse().map_err(|e| BenchError::ctx("--n", e))?,
            "--variants" | "--variant" => o.variants = Some(val()?.split(',').map(str::to_string).collect()),
            "--shapes" | "--shape" => {
                o.shapes = val()?
                    .split(',')
                    .map(|s| Shape::parse(s).ok_or_else(|| BenchError(format!("unknown shape {s:?}"))))
                    .collect::<Result<_>>()?
            }
            "--server" => {
                let v = val()?;
                o.backend = Backend::parse(&v).ok_or_else(|| BenchError(format!("unknown server {v:?}")))?
            }
            "--threads" => o.threads = val()?.parse().map_err(|e| BenchError::ctx("--threads", e))?,
            "--url" => o.url = val()?,
            "--control" => o.control = val()?,
            "--scenario" => {
                let v = val()?;
                o.scenario = Scenario::parse(&v).ok_or_else(|| BenchError(format!("unknown scenario {v:?}")))?
            }
            "--record" => o.record = Some(val()?),
            other => return Err(BenchError(format!("unknown argument {other:?}"))),
        }
    }
    Ok(o)
}

/// `serve`: start the server and its control port, print both addresses, run until stdin
/// closes.
fn serve(o: &Opts) -> Result<()> {
    let server = BenchServer::start(o.backend, o.n, o.threads)?;
    let control = server.serve_control()?;
    println!("URL {} CONTROL {control}", server.url());
    std::io::stdout().flush().map_err(|e| BenchError::ctx("stdout", e))?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(server);
    Ok(())
}

/// `client`: one variant, one shape, one sync (and with `--scenario relist`, one relist);
/// prints `RESULT {json}`.
fn client(o: &Opts) -> Result<()> {
    let name =
        o.variants.as_ref().and_then(|v| v.first()).ok_or_else(|| BenchError("client needs --variant".into()))?;
    let v = variant(name).ok_or_else(|| BenchError(format!("unknown variant {name:?}")))?;
    let shape = *o.shapes.first().ok_or_else(|| BenchError("client needs --shape".into()))?;
    if o.scenario == Scenario::Relist && o.control.is_empty() {
        return Err(BenchError("--scenario relist needs --control (the server's control port)".into()));
    }
    let rt = client_runtime(o.threads)?;
    let before = rss_bytes()?;
    let heap_before = heap_stats();
    let synced = rt.block_on((v.sync)(SyncArgs { url: o.url.clone(), n: o.n, shape }))?;
    let after = rss_bytes()?;
    let peak = peak_rss_bytes()?;
    let heap_after = heap_stats();
    let per_pod = |f: fn(&HeapStats) -> u64| match (heap_before, heap_after) {
        (Some(b), Some(a)) => serde_json::json!((f(&a) as f64 - f(&b) as f64) / o.n as f64),
        _ => serde_json::Value::Null,
    };
    let secs = synced.elapsed.as_secs_f64();
    let mut result = serde_json::json!({
        "variant": v.name, "shape": shape.name(), "scenario": o.scenario.name(), "n": o.n,
        "cached": synced.cached, "seconds": secs, "pods_per_sec": o.n as f64 / secs,
        "rss_before": before, "rss_after": after,
        "bytes_per_pod": (after.saturating_sub(before)) as f64 / o.n as f64,
        "peak_rss": peak, "peak_over_before": peak.saturating_sub(before),
        "heap_in_use": heap_after.map(|h| h.in_use), "heap_free": heap_after.map(|h| h.free),
        "heap_in_use_per_pod": per_pod(|h| h.in_use), "heap_free_per_pod": per_pod(|h| h.free),
    });
    if o.scenario == Scenario::Relist {
        let relist = rt.block_on(relist(o, synced.keep_alive.as_ref()))?;
        if let (Some(r), Some(extra)) = (result.as_object_mut(), relist.as_object()) {
            r.extend(extra.clone());
        }
    }
    println!("RESULT {result}");
    drop(synced);
    rt.shutdown_background();
    Ok(())
}

/// The relist phase of `client`: its figures, as JSON members to add to the result.
async fn relist(o: &Opts, cache: &dyn rudder_benches::Cache) -> Result<serde_json::Value> {
    tokio::time::sleep(RELIST_SETTLE).await;
    // Armed before the server is told, so the relist cannot be missed.
    let relisted = cache.next_relist();
    let peak_reset = match reset_peak_rss() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("informer-mem client: {e}; the relist's peak is the whole process's");
            false
        }
    };
    let before = rss_bytes()?;
    let heap_before = heap_stats();
    let counts_before = control::counts(&o.control).await?;
    let start = Instant::now();
    control::command(&o.control, "expire").await?;
    relisted.await?;
    let elapsed = start.elapsed().as_secs_f64();
    let peak = peak_rss_bytes()?;
    let after = rss_bytes()?;
    let heap_after = heap_stats();
    let counts_after = control::counts(&o.control).await?;
    Ok(serde_json::json!({
        "relist_seconds": elapsed, "relist_pods_per_sec": o.n as f64 / elapsed,
        "peak_reset": peak_reset, "rss_before_relist": before, "rss_after_relist": after,
        "peak_rss_relist": peak, "peak_relist_over_before": peak.saturating_sub(before),
        "heap_in_use_before_relist": heap_before.map(|h| h.in_use),
        "heap_in_use_after_relist": heap_after.map(|h| h.in_use),
        "heap_free_after_relist": heap_after.map(|h| h.free),
        "relist_list_requests": counts_after.lists - counts_before.lists,
        "relist_watch_requests": counts_after.watches - counts_before.watches,
    }))
}

fn orchestrate(o: &Opts) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| BenchError::ctx("current_exe", e))?;
    let mut server = Command::new(&exe)
        .args(["serve", "--n", &o.n.to_string(), "--server", o.backend.name(), "--threads", &o.threads.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| BenchError::ctx("spawning the server process", e))?;
    let out = server.stdout.take().ok_or_else(|| BenchError("server stdout".into()))?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).map_err(|e| BenchError::ctx("reading the server URL", e))?;
    let (url, control) = line
        .trim()
        .strip_prefix("URL ")
        .and_then(|rest| rest.split_once(" CONTROL "))
        .ok_or_else(|| BenchError(format!("server said {line:?}")))?;
    eprintln!("server ({}) with {} pods at {url}, control port {control}", o.backend.name(), o.n);

    let mut rows: Vec<serde_json::Value> = Vec::new();
    for v in variants() {
        if o.variants.as_ref().is_some_and(|want| !want.iter().any(|w| w == v.name)) {
            continue;
        }
        for shape in o.shapes.iter().filter(|s| v.shapes.contains(s)) {
            let res = Command::new(&exe)
                .args(["client", "--url", url, "--n", &o.n.to_string(), "--variant", v.name])
                .args(["--shape", shape.name(), "--threads", &o.threads.to_string()])
                .args(["--scenario", o.scenario.name(), "--control", control])
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| BenchError::ctx("spawning a client process", e))?;
            let text = String::from_utf8_lossy(&res.stdout);
            match text.lines().find_map(|l| l.strip_prefix("RESULT ")) {
                Some(j) => {
                    let r: serde_json::Value =
                        serde_json::from_str(j).map_err(|e| BenchError::ctx("client result", e))?;
                    eprintln!("{j}");
                    rows.push(r);
                }
                None => eprintln!("{} / {}: failed ({}): {text}", v.name, shape.name(), res.status),
            }
        }
    }
    drop(server.stdin.take());
    let _ = server.wait();
    print_table(&rows, o);
    if o.scenario == Scenario::Relist {
        print_relist_table(&rows, o);
    }
    if let Some(path) = &o.record {
        record(path, &rows, o)?;
        eprintln!("results recorded in {path}");
    }
    Ok(())
}

/// Writes `rows` to `path` as `{"meta": {...}, "results": [...]}`; rows already in the file
/// for another (variant, shape, scenario, n) are kept, so runs of several scenarios or sizes
/// can share one file.
fn record(path: &str, rows: &[serde_json::Value], o: &Opts) -> Result<()> {
    let same = |a: &serde_json::Value, b: &serde_json::Value| {
        ["variant", "shape", "scenario", "n"].iter().all(|k| a[*k] == b[*k])
    };
    let mut results: Vec<serde_json::Value> = match std::fs::read_to_string(path) {
        Ok(text) => {
            let old: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| BenchError::ctx(&format!("existing {path}"), e))?;
            old["results"].as_array().cloned().unwrap_or_default()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(BenchError::ctx(path, e)),
    };
    results.retain(|old| !rows.iter().any(|new| same(old, new)));
    results.extend(rows.iter().cloned());
    let unix_time =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let doc = serde_json::json!({
        "meta": {
            "tool": "informer-mem", "server": o.backend.name(), "client_threads": o.threads,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "recorded_unix_time": unix_time,
        },
        "results": results,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| BenchError::ctx("encoding the results", e))?;
    std::fs::write(path, text + "\n").map_err(|e| BenchError::ctx(path, e))
}

const MB: f64 = 1e6;

fn print_table(rows: &[serde_json::Value], o: &Opts) {
    let get = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let find = |name: &str, shape: &str| rows.iter().find(|r| r["variant"] == name && r["shape"] == shape);
    println!(
        "\nOne-shot sync of {} pods, server `{}` in its own process, client {} threads:\n",
        o.n,
        o.backend.name(),
        o.threads
    );
    println!(
        "| variant | shape | pods/s | vs kube-rs | vs bare | bytes/pod (RSS) | vs kube-rs | vs bare \
         | peak RSS MB | peak - before MB | vs kube-rs | heap live/pod | heap free/pod |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let shape = r["shape"].as_str().unwrap_or("");
        let ratio = |peer: &str, k: &str| {
            find(peer, shape)
                .or_else(|| find(peer, "full"))
                .map(|p| format!("{:.2}", get(r, k) / get(p, k)))
                .unwrap_or("-".into())
        };
        println!(
            "| {} | {} | {:.0} | {} | {} | {:.0} | {} | {} | {:.1} | {:.1} | {} | {:.0} | {:.0} |",
            r["variant"].as_str().unwrap_or(""),
            shape,
            get(r, "pods_per_sec"),
            ratio("kube-rs", "pods_per_sec"),
            ratio("bare-hyper-serde", "pods_per_sec"),
            get(r, "bytes_per_pod"),
            ratio("kube-rs", "bytes_per_pod"),
            ratio("bare-hyper-serde", "bytes_per_pod"),
            get(r, "peak_rss") / MB,
            get(r, "peak_over_before") / MB,
            ratio("kube-rs", "peak_rss"),
            get(r, "heap_in_use_per_pod"),
            get(r, "heap_free_per_pod"),
        );
    }
}

fn print_relist_table(rows: &[serde_json::Value], o: &Opts) {
    let get = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let find = |name: &str, shape: &str| rows.iter().find(|r| r["variant"] == name && r["shape"] == shape);
    println!(
        "\nRelist of the same {} pods after a 410 Expired watch (peaks: VmHWM{}):\n",
        o.n,
        if rows.iter().all(|r| r["peak_reset"] == true) {
            ", reset after the sync"
        } else {
            " NOT reset: whole process"
        }
    );
    println!(
        "| variant | shape | relist s | pods/s | vs kube-rs | peak after sync MB | peak during relist MB \
         | relist peak - RSS before MB | vs kube-rs | RSS after relist MB | lists / watches |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let shape = r["shape"].as_str().unwrap_or("");
        let ratio =
            |k: &str| find("kube-rs", shape).map(|p| format!("{:.2}", get(r, k) / get(p, k))).unwrap_or("-".into());
        println!(
            "| {} | {} | {:.3} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {} / {} |",
            r["variant"].as_str().unwrap_or(""),
            shape,
            get(r, "relist_seconds"),
            get(r, "relist_pods_per_sec"),
            ratio("relist_pods_per_sec"),
            get(r, "peak_rss") / MB,
            get(r, "peak_rss_relist") / MB,
            get(r, "peak_relist_over_before") / MB,
            ratio("peak_relist_over_before"),
            get(r, "rss_after_relist") / MB,
            r["relist_list_requests"],
            r["relist_watch_requests"],
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.first().map(String::as_str) {
        Some("serve") => ("serve", &args[1..]),
        Some("client") => ("client", &args[1..]),
        _ => ("run", &args[..]),
    };
    let result = parse(rest).and_then(|o| match cmd {
        "serve" => serve(&o),
        "client" => client(&o),
        _ => orchestrate(&o),
    });
    if let Err(e) = result {
        eprintln!("informer-mem {cmd}: {e}");
        std::process::exit(1);
    }
}
