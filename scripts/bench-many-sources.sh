#!/usr/bin/env bash
# Many-sources benchmark (docs/benchmarks.md, "Many sources"): H hosts × S sources per host ×
# N records, served by examples/static_provider.rs on 127.0.0.2 … 127.0.0.{H+1} with a fixed
# latency per request, all registered in one fresh database and harvested by ONE `sheaf serve`
# process (every source triggered before it starts). Prints the total time (serve start →
# last run finished) against the ideal the per-host limits allow.
#
#   scripts/bench-many-sources.sh                       # 50 hosts × 4 sources × 500 records
#   scripts/bench-many-sources.sh --delay-ms 500 --max-runs 8
#
# Ideal: a run is a chain of q = 1 (Identify) + ceil(N / page) (ListRecords) requests of
# latency d each, so it takes at least q·d. A host gets at most r = min(per_host_runs,
# per_host_concurrency) requests in flight, so its S runs need ceil(S / r)·q·d; all H·S runs
# share max_concurrent_runs = C slots, so ceil(H·S / C)·q·d. Ideal = the larger of the two.
#
# Options: --hosts H (50), --sources-per-host S (4), --records N (500), --page-size P (100),
#   --delay-ms D (1000), --max-runs C (H × per_host_runs = 100, so the per-host limits bind;
#   the shipped default is 8), --port PORT (18290).
# Environment: SHEAF picks the sheaf binary (target/release/sheaf); BENCH_NO_BUILD=1 uses the
#   release binaries already built; DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
# The service keeps sheaf's default [http]/[service] limits otherwise (per_host_runs 2,
# per_host_concurrency 2, min_request_interval_ms 0). Logs: target/bench-many/.
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTS=50 PER_HOST=4 RECORDS=500 PAGE=100 DELAY=1000 MAX_RUNS="" PORT=18290
PER_HOST_RUNS=2 PER_HOST_CONC=2 # sheaf's defaults (config/default.toml)
while (($#)); do
    case $1 in
    --hosts) HOSTS=$2; shift ;;
    --sources-per-host) PER_HOST=$2; shift ;;
    --records) RECORDS=$2; shift ;;
    --page-size) PAGE=$2; shift ;;
    --delay-ms) DELAY=$2; shift ;;
    --max-runs) MAX_RUNS=$2; shift ;;
    --port) PORT=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
MAX_RUNS=${MAX_RUNS:-$((HOSTS * PER_HOST_RUNS))}

ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=sheaf_bench_many
DB_URL="${ADMIN_URL%/*}/$DB"
OUT=target/bench-many
SHEAF=${SHEAF:-target/release/sheaf}
mkdir -p "$OUT"
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
q() { psql -X -At -v ON_ERROR_STOP=1 "$DB_URL" "$@"; }

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    cargo build --release --quiet --bin sheaf --example static_provider
fi

target/release/examples/static_provider --hosts "$HOSTS" --port "$PORT" --sources "$PER_HOST" \
    --records "$RECORDS" --page-size "$PAGE" --delay-ms "$DELAY" >"$OUT/provider.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.$((HOSTS + 1)):$PORT/oai?verb=Identify" >/dev/null && break; sleep 0.1; done

psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
    -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL=$DB_URL SHEAF_LOG__LEVEL=warn
"$SHEAF" db migrate >/dev/null
log "registering and triggering $((HOSTS * PER_HOST)) sources"
for ((h = 2; h < HOSTS + 2; h++)); do
    for ((s = 0; s < PER_HOST; s++)); do
        echo "h$h-s$s http://127.0.0.$h:$PORT/$s/oai"
    done
done >"$OUT/sources.txt"
# Two at a time: each is a short-lived sheaf process.
xargs -P 2 -L 1 sh -c '"$0" sources add "$1" "$2" --no-check >/dev/null' "$SHEAF" <"$OUT/sources.txt"
cut -d' ' -f1 "$OUT/sources.txt" | xargs -P 2 -n 1 sh -c '"$0" trigger "$1" >/dev/null' "$SHEAF"
queued=$(q -c "SELECT count(*) FROM harvest_runs WHERE status = 'queued'")

pages=$(((RECORDS + PAGE - 1) / PAGE))
reqs=$((1 + pages))
runs=$((HOSTS * PER_HOST))
r=$((PER_HOST_RUNS < PER_HOST_CONC ? PER_HOST_RUNS : PER_HOST_CONC))
host_bound=$(awk -v s="$PER_HOST" -v r="$r" -v q="$reqs" -v d="$DELAY" \
    'BEGIN { printf "%.1f", int((s + r - 1) / r) * q * d / 1000 }')
slot_bound=$(awk -v n="$runs" -v c="$MAX_RUNS" -v q="$reqs" -v d="$DELAY" \
    'BEGIN { printf "%.1f", int((n + c - 1) / c) * q * d / 1000 }')
ideal=$(awk -v a="$host_bound" -v b="$slot_bound" 'BEGIN { print (a > b ? a : b) }')

echo "== bench-many-sources: $HOSTS hosts × $PER_HOST sources × $RECORDS records ($PAGE per page)," \
    "latency $DELAY ms/request; max_concurrent_runs $MAX_RUNS, per_host_runs $PER_HOST_RUNS," \
    "per_host_concurrency $PER_HOST_CONC; $(date -u +%FT%TZ); nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
log "$queued runs queued; starting sheaf serve"
t0=$(date +%s.%N)
SHEAF_SERVICE__MAX_CONCURRENT_RUNS=$MAX_RUNS SHEAF_SERVICE__PER_HOST_RUNS=$PER_HOST_RUNS \
    SHEAF_HTTP__PER_HOST_CONCURRENCY=$PER_HOST_CONC SHEAF_SERVICE__LISTEN=127.0.0.1:$((PORT + 1)) \
    /usr/bin/time -v -o "$OUT/time.txt" "$SHEAF" serve >"$OUT/serve.log" 2>&1 &
PIDS+=($!)
SERVE=$!
while :; do
    left=$(q -c "SELECT count(*) FROM harvest_runs WHERE status IN ('queued', 'running')")
    ((left == 0)) && break
    kill -0 "$SERVE" 2>/dev/null || { echo "sheaf serve exited (see $OUT/serve.log)"; exit 1; }
    sleep 0.2
done
t1=$(date +%s.%N)
# SIGTERM to sheaf itself (the child of /usr/bin/time), so that time writes its report.
pkill -TERM -P "$SERVE" || true
wait "$SERVE" 2>/dev/null || true

total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
q -F ' ' -c "SELECT status, count(*) FROM harvest_runs GROUP BY status ORDER BY status" |
    sed 's/^/runs: /'
stored=$(q -c "SELECT count(*) FROM records")
span=$(q -c "SELECT round(extract(epoch FROM max(finished_at) - min(started_at))::numeric, 1) FROM harvest_runs")
per_run=$(q -c "SELECT round(avg(extract(epoch FROM finished_at - started_at))::numeric, 2) FROM harvest_runs")
echo "records stored: $stored of $((runs * RECORDS)); peak RSS" \
    "$(awk '/Maximum resident set size/ { printf "%.1f MB", $NF / 1024 }' "$OUT/time.txt")"
echo "ideal: each run is q = 1 + ceil($RECORDS/$PAGE) = $reqs requests × $DELAY ms;" \
    "per host ceil($PER_HOST / min($PER_HOST_RUNS, $PER_HOST_CONC)) × q × d = $host_bound s;" \
    "global ceil($runs / $MAX_RUNS) × q × d = $slot_bound s; ideal = $ideal s"
echo "total: $total s from serve start to the last run finished (first start → last finish" \
    "$span s; mean run $per_run s vs q × d = $(awk -v q="$reqs" -v d="$DELAY" 'BEGIN { print q * d / 1000 }') s)"
echo "total / ideal = $(awk -v a="$total" -v b="$ideal" 'BEGIN { printf "%.2f", a / b }') (target <= 1.2)"
