#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/, each for a fixed time, and reports per target the
# seconds, libFuzzer's executions, the corpus size and whether it found anything.
#
#   tools/fuzz.sh [SECONDS] [TARGET...]
#
#   SECONDS   per target (default: $FUZZ_SECONDS, else 600)
#   TARGET    the targets to run (default: every target `cargo fuzz list` shows)
#
# Environment:
#   FUZZ_SECONDS   seconds per target when no argument gives them (600)
#   FUZZ_JOBS      how many targets run at once (1)
#   FUZZ_NICE      niceness of every fuzzer process (19)
#   FUZZ_TIMEOUT   libFuzzer -timeout: seconds one input may take before it counts as a hang (10)
#   FUZZ_RSS_MB    libFuzzer -rss_limit_mb: memory before an input counts as an OOM (2048)
#   FUZZ_LOGS      where each target's libFuzzer log goes (fuzz/target/fuzz-logs, untracked)
#   FUZZ_SANITIZER cargo fuzz --sanitizer: none, address, ... (none)
#
# Every run is bounded: -max_total_time, a per-input -timeout and -rss_limit_mb. Corpora are
# kept under fuzz/corpus/<target> (untracked, grown run after run); the small tracked seeds
# named below are read, never written. A finding is saved by libFuzzer under
# fuzz/artifacts/<target>/ (crash-*, timeout-*, oom-*, leak-*); the script then exits 1.
# Minimise one with `cargo fuzz tmin <target> <file>` and keep it under fuzz/regressions/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1

seconds=${FUZZ_SECONDS:-600}
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
jobs=${FUZZ_JOBS:-1}
niceness=${FUZZ_NICE:-19}
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}
logs=${FUZZ_LOGS:-$root/fuzz/target/fuzz-logs}
sanitizer=${FUZZ_SANITIZER:-none}

if [[ $# -gt 0 ]]; then
    targets=("$@")
    all=0
else
    mapfile -t targets < <(cargo fuzz list)
    all=1
fi
known=$(cargo fuzz list)
for t in "${targets[@]}"; do
    grep -qx -- "$t" <<<"$known" || { echo "fuzz.sh: no target named $t (cargo fuzz list)" >&2; exit 2; }
done

# Read-only seed directories per target (tracked fixtures), besides the target's own corpus.
seeds() {
    case $1 in
        json_exact | watch_event) echo "$root/testdata/apiserver $root/apiserver/testdata/objects $root/fuzz/regressions/$1" ;;
        protobuf_decode) echo "$root/testdata/protobuf $root/fuzz/regressions/$1" ;;
        list_split | watch_stream) echo "$root/testdata/apiserver $root/fuzz/regressions/$1" ;;
        kubeconfig) echo "$root/testdata/kubeconfig $root/fuzz/regressions/$1" ;;
        exec_credential) echo "$root/testdata/kubeconfig $root/fuzz/regressions/$1" ;;
        json_patch) echo "$root/fuzz/seeds/json_patch $root/fuzz/regressions/$1" ;;
        *) echo "$root/fuzz/regressions/$1" ;;
    esac
}

# A libFuzzer dictionary per target, where one helps.
dict() {
    case $1 in
        json_exact | watch_event | list_split | watch_stream | json_patch | exec_credential) echo "$root/fuzz/dicts/json.dict" ;;
        label_selector | field_selector) echo "$root/fuzz/dicts/selector.dict" ;;
        quantity) echo "$root/fuzz/dicts/quantity.dict" ;;
        kubeconfig) echo "$root/fuzz/dicts/kubeconfig.dict" ;;
    esac
}

# Optimised, with debug assertions and overflow checks (cargo-fuzz's default), so an integer
# overflow on input is a finding. No sanitizer by default: the workspace has no `unsafe`, and
# AddressSanitizer would halve the executions on a busy machine.
build=(--debug-assertions --sanitizer "$sanitizer")
echo "building ${#targets[@]} target(s)"
if [[ $all -eq 1 ]]; then
    nice -n "$niceness" cargo fuzz build "${build[@]}"
else
    for t in "${targets[@]}"; do
        nice -n "$niceness" cargo fuzz build "${build[@]}" "$t"
    done
fi

mkdir -p "$logs"

# Runs one target; writes its log and a one-line summary "<target> <secs> <execs> <corpus> <finding>".
run_one() {
    local t=$1 log="$logs/$1.log" corpus="fuzz/corpus/$1" dirs=() d
    mkdir -p "$root/fuzz/corpus/$t" "$root/fuzz/artifacts/$t"
    for d in $(seeds "$t"); do
        [[ -d $d ]] && dirs+=("$d")
    done
    local dictarg=()
    local df
    df=$(dict "$t")
    [[ -n $df && -f $df ]] && dictarg=("-dict=$df")
    local before after start end rc=0
    before=$(find "$root/fuzz/artifacts/$t" -type f | wc -l)
    start=$(date +%s)
    nice -n "$niceness" cargo fuzz run "${build[@]}" "$t" "$root/fuzz/corpus/$t" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_mb" \
        -print_final_stats=1 "${dictarg[@]}" >"$log" 2>&1 || rc=$?
    end=$(date +%s)
    after=$(find "$root/fuzz/artifacts/$t" -type f | wc -l)
    local execs finding=none
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    if [[ $rc -ne 0 || $after -gt $before ]]; then
        finding=$(find "$root/fuzz/artifacts/$t" -type f -newer "$log.start" -printf '%f ' 2>/dev/null || true)
        finding=${finding:-"exit-$rc"}
        finding=${finding// /,}
        finding=${finding%,}
    fi
    echo "$t $((end - start)) ${execs:-?} $(find "$root/$corpus" -type f | wc -l) $finding"
}

summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
for t in "${targets[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do
        wait -n || true
    done
    touch "$logs/$t.log.start"
    echo "running $t for ${seconds}s (log: $logs/$t.log)"
    run_one "$t" >>"$summary" &
done
wait

printf '\n%-18s %8s %14s %8s  %s\n' target seconds executions corpus finding
status=0
while read -r t secs execs corpus finding; do
    printf '%-18s %8s %14s %8s  %s\n' "$t" "$secs" "$execs" "$corpus" "$finding"
    [[ $finding == none ]] || status=1
done < <(sort "$summary")
exit $status
