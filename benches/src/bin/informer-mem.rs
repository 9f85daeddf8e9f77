//! One-shot sync throughput and resident memory per cached pod, each variant and shape in its
//! own process, against a server in another process.
//!
//! ```text
//! informer-mem [--n 100000] [--variants a,b] [--shapes full,no-managed-fields,pod-view]
//!              [--server embedded|replay] [--threads 2]
//! ```
//!
//! The parent starts `informer-mem serve` (the server, in its own process), then for every
//! (variant, shape) runs `informer-mem client ...`, which reads its RSS, syncs `n` pods, reads
//! its RSS again and prints one `RESULT {json}` line. The parent prints a Markdown table with
//! pods/s, bytes per cached pod (RSS delta / n), and ratios vs kube-rs and vs the bare loop.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use rudder_benches::memory::{heap_stats, rss_bytes, HeapStats};
use rudder_benches::server::{Backend, BenchServer};
use rudder_benches::{client_runtime, variant, variants, BenchError, Result, Shape, SyncArgs};

struct Opts {
    n: usize,
    variants: Option<Vec<String>>,
    shapes: Vec<Shape>,
    backend: Backend,
    threads: usize,
    url: String,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        n: 100_000,
        variants: None,
        shapes: vec![Shape::Full, Shape::NoManagedFields, Shape::View],
        backend: Backend::from_env()?,
        threads: 2,
        url: String::new(),
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
            other => return Err(BenchError(format!("unknown argument {other:?}"))),
        }
    }
    Ok(o)
}

/// `serve`: start the server, print its URL, run until stdin closes.
fn serve(o: &Opts) -> Result<()> {
    let server = BenchServer::start(o.backend, o.n, o.threads)?;
    println!("URL {}", server.url());
    std::io::stdout().flush().map_err(|e| BenchError::ctx("stdout", e))?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(server);
    Ok(())
}

/// `client`: one variant, one shape, one sync; prints `RESULT {json}`.
fn client(o: &Opts) -> Result<()> {
    let name =
        o.variants.as_ref().and_then(|v| v.first()).ok_or_else(|| BenchError("client needs --variant".into()))?;
    let v = variant(name).ok_or_else(|| BenchError(format!("unknown variant {name:?}")))?;
    let shape = *o.shapes.first().ok_or_else(|| BenchError("client needs --shape".into()))?;
    let rt = client_runtime(o.threads)?;
    let before = rss_bytes()?;
    let heap_before = heap_stats();
    let synced = rt.block_on((v.sync)(SyncArgs { url: o.url.clone(), n: o.n, shape }))?;
    let after = rss_bytes()?;
    let heap_after = heap_stats();
    let per_pod = |f: fn(&HeapStats) -> u64| match (heap_before, heap_after) {
        (Some(b), Some(a)) => serde_json::json!((f(&a) as f64 - f(&b) as f64) / o.n as f64),
        _ => serde_json::Value::Null,
    };
    let secs = synced.elapsed.as_secs_f64();
    println!(
        "RESULT {}",
        serde_json::json!({
            "variant": v.name, "shape": shape.name(), "n": o.n, "cached": synced.cached,
            "seconds": secs, "pods_per_sec": o.n as f64 / secs,
            "rss_before": before, "rss_after": after,
            "bytes_per_pod": (after.saturating_sub(before)) as f64 / o.n as f64,
            "heap_in_use_per_pod": per_pod(|h| h.in_use), "heap_free_per_pod": per_pod(|h| h.free),
        })
    );
    drop(synced);
    rt.shutdown_background();
    Ok(())
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
    let url = line.trim().strip_prefix("URL ").ok_or_else(|| BenchError(format!("server said {line:?}")))?.to_string();
    eprintln!("server ({}) with {} pods at {url}", o.backend.name(), o.n);

    let mut rows: Vec<serde_json::Value> = Vec::new();
    for v in variants() {
        if o.variants.as_ref().is_some_and(|want| !want.iter().any(|w| w == v.name)) {
            continue;
        }
        for shape in o.shapes.iter().filter(|s| v.shapes.contains(s)) {
            let res = Command::new(&exe)
                .args(["client", "--url", &url, "--n", &o.n.to_string(), "--variant", v.name])
                .args(["--shape", shape.name(), "--threads", &o.threads.to_string()])
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
    Ok(())
}

fn print_table(rows: &[serde_json::Value], o: &Opts) {
    let get = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let find = |name: &str, shape: &str| rows.iter().find(|r| r["variant"] == name && r["shape"] == shape);
    println!(
        "\nOne-shot sync of {} pods, server `{}` in its own process, client {} threads:\n",
        o.n,
        o.backend.name(),
        o.threads
    );
    println!("| variant | shape | pods/s | vs kube-rs | vs bare | bytes/pod (RSS) | vs kube-rs | vs bare | heap live/pod | heap free/pod |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let shape = r["shape"].as_str().unwrap_or("");
        let ratio = |peer: &str, k: &str| {
            find(peer, shape)
                .or_else(|| find(peer, "full"))
                .map(|p| format!("{:.2}", get(r, k) / get(p, k)))
                .unwrap_or("-".into())
        };
        println!(
            "| {} | {} | {:.0} | {} | {} | {:.0} | {} | {} | {:.0} | {:.0} |",
            r["variant"].as_str().unwrap_or(""),
            shape,
            get(r, "pods_per_sec"),
            ratio("kube-rs", "pods_per_sec"),
            ratio("bare-hyper-serde", "pods_per_sec"),
            get(r, "bytes_per_pod"),
            ratio("kube-rs", "bytes_per_pod"),
            ratio("bare-hyper-serde", "bytes_per_pod"),
            get(r, "heap_in_use_per_pod"),
            get(r, "heap_free_per_pod"),
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
