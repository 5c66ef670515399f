#!/usr/bin/env bash
# End-to-end harvest benchmark (docs/benchmarks.md, "End-to-end harvest").
#
# Starts examples/static_provider.rs on 127.0.0.1 with N seed-like records (5.1 KB each) and,
# for each provider mode, measures side by side in one run:
#   bare    a plain keep-alive HTTP client (examples/bench_download.rs) downloading every page
#   sheaf   `sheaf harvest` into a fresh PostgreSQL database under /usr/bin/time -v
#           (records stored / wall time of the process; peak RSS)
#   sickle  Sickle 0.7.0 (PyPI, throwaway virtualenv) iterating all records, parsing only
# Modes: fast (pages assembled from memory) and server (a server-bound provider: one response
# at a time, at most --server-rate records/s, like a Python provider rendering each page).
#
#   scripts/bench-e2e.sh                          # 100k records, both modes
#   scripts/bench-e2e.sh --records 1000000 --modes fast --no-sickle
#   scripts/bench-e2e.sh --perf                   # also one extra harvest per mode under perf -a
#
# Options: --records N (100000), --page-size P (100), --modes "fast server",
#   --server-rate R (2800), --no-sickle, --perf, --port PORT (18190).
# Environment: SHEAF picks the sheaf binary to measure (target/release/sheaf); BENCH_NO_BUILD=1
#   uses the release binaries already built; BENCH_KEEP_DB=1 keeps
#   the last harvest's database ($DB) for inspection; DATABASE_URL (server for the throwaway database; default
#   postgres://postgres@127.0.0.1:5432/postgres). Logs and perf data: target/bench-e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=100000 PAGE=100 MODES="fast server" RATE=2800 SICKLE=1 PERF=0 PORT=18190
while (($#)); do
    case $1 in
    --records) RECORDS=$2; shift ;;
    --page-size) PAGE=$2; shift ;;
    --modes) MODES=$2; shift ;;
    --server-rate) RATE=$2; shift ;;
    --no-sickle) SICKLE=0 ;;
    --perf) PERF=1 ;;
    --port) PORT=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=sheaf_bench_e2e
DB_URL="${ADMIN_URL%/*}/$DB"
OUT=target/bench-e2e
VENV=target/bench-venv
URL="http://127.0.0.1:$PORT/oai"
mkdir -p "$OUT"
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

PROVIDER=""
cleanup() {
    [[ -z $PROVIDER ]] || kill "$PROVIDER" 2>/dev/null || true
    [[ ${BENCH_KEEP_DB:-0} == 1 ]] ||
        psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    cargo build --release --quiet --bin sheaf --example static_provider --example bench_download
fi
SHEAF=${SHEAF:-target/release/sheaf}

if ((SICKLE)) && [[ ! -x $VENV/bin/python ]]; then
    log "creating $VENV with Sickle"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check Sickle==0.7.0 lxml==6.1.3 \
        requests==2.34.2 certifi==2026.10.19.post1 charset-normalizer==3.5.3 idna==3.20 urllib3==2.8.0
fi

fresh_db() {
    psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
        -c "CREATE DATABASE $DB" >/dev/null
    DATABASE_URL=$DB_URL SHEAF_LOG__LEVEL=warn "$SHEAF" db migrate >/dev/null
}

# sheaf_harvest LABEL [wrapper...]: one harvest of $URL into a fresh database; prints
# "seconds stored". The wall time is the whole process (connect, Identify, every page).
sheaf_harvest() {
    local label=$1; shift
    fresh_db
    local t0 t1
    t0=$(date +%s.%N)
    DATABASE_URL=$DB_URL SHEAF_LOG__LEVEL=warn "$@" "$SHEAF" harvest "$URL" --name bench \
        >"$OUT/$label.out" 2>"$OUT/$label.err" &
    local pid=$! sampler
    pg_cpu_sampler "$pid" >"$OUT/$label.pgcpu" &
    sampler=$!
    wait "$pid"
    t1=$(date +%s.%N)
    # Not a bare `wait`: called from the main shell (--perf), it would wait for the provider.
    wait "$sampler"
    # Stored: the run's finish (its last page committed); searchable: the process's exit,
    # after the search indexer has caught up.
    local done
    done=$(psql -X -At "$DB_URL" -c "SELECT extract(epoch FROM max(finished_at)) FROM harvest_runs")
    echo "$(awk -v a="$t0" -v b="$done" 'BEGIN { printf "%.3f", b - a }') \
$(psql -X -At "$DB_URL" -c "SELECT count(*) FROM records") \
$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
}

# pg_cpu_sampler PID: while PID runs, samples the CPU time (utime + stime, clock ticks) of
# every PostgreSQL backend connected to $DB every 0.2 s; prints the last sample per backend.
# The load of other processes on the machine does not change these figures much, so
# "database CPU per record" compares across runs where wall-clock rates do not.
pg_cpu_sampler() {
    declare -A last
    while kill -0 "$1" 2>/dev/null; do
        for b in $(pgrep -f "^postgres: .* $DB "); do
            read -r -a st <"/proc/$b/stat" 2>/dev/null || continue
            last[$b]=$((st[13] + st[14]))
        done
        sleep 0.2
    done
    for b in "${!last[@]}"; do echo "$b ${last[$b]}"; done
}

# cpu_ms_per_record LABEL STORED: sheaf's (from time -v) and the database's CPU per record.
cpu_per_record() {
    local label=$1 stored=$2 tick
    tick=$(getconf CLK_TCK)
    awk -v n="$stored" -v tick="$tick" -v tf="$OUT/time-$label.txt" '
        { db += $2 }
        END {
            while ((getline line < tf) > 0) {
                if (line ~ /User time/ || line ~ /System time/) { split(line, f, ": "); sh += f[2] }
            }
            printf "%.3f %.3f\n", 1000 * sh / n, 1000 * db / tick / n
        }' "$OUT/sheaf-$label.pgcpu"
}

SICKLE_PY='
import sys, time
from sickle import Sickle
t = time.monotonic()
n = 0
for r in Sickle(sys.argv[1], max_retries=0).ListRecords(metadataPrefix="oai_dc"):
    # Record parses header and metadata into dicts when it is built; touch them anyway.
    if r.header.identifier and r.metadata.get("title"):
        n += 1
print(n, "%.3f" % (time.monotonic() - t))
'

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "== bench-e2e: $RECORDS records, $PAGE per page; $(date -u +%FT%TZ); nproc $(nproc);" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A R
for mode in $MODES; do
    args=(--records "$RECORDS" --page-size "$PAGE" --listen "127.0.0.1:$PORT")
    [[ $mode == server ]] && args+=(--server-rate "$RATE")
    target/release/examples/static_provider "${args[@]}" >"$OUT/provider-$mode.log" 2>&1 &
    PROVIDER=$!
    for _ in $(seq 100); do curl -sf "$URL?verb=Identify" >/dev/null && break; sleep 0.1; done
    log "$mode: $(head -n1 "$OUT/provider-$mode.log")"

    log "$mode: bare download"
    read -r n secs bytes < <(target/release/examples/bench_download "$URL")
    R[$mode.bare]=$(rate "$n" "$secs")
    echo "$mode bare download: $n records, $bytes bytes in $secs s = ${R[$mode.bare]} records/s"

    log "$mode: sheaf harvest"
    read -r secs stored total < <(sheaf_harvest "sheaf-$mode" /usr/bin/time -v -o "$OUT/time-$mode.txt")
    R[$mode.sheaf]=$(rate "$stored" "$secs")
    R[$mode.searchable]=$(rate "$stored" "$total")
    R[$mode.rss]=$(awk '/Maximum resident set size/ { printf "%.1f", $NF / 1024 }' "$OUT/time-$mode.txt")
    echo "$mode sheaf harvest: $stored records stored in $secs s = ${R[$mode.sheaf]} records/s;" \
        "all searchable at exit after $total s = ${R[$mode.searchable]} records/s;" \
        "peak RSS ${R[$mode.rss]} MB ($(awk -F': ' '/Percent of CPU/ { print $2 }' "$OUT/time-$mode.txt") CPU)"
    read -r sheaf_ms db_ms < <(cpu_per_record "$mode" "$stored")
    echo "$mode CPU per record: sheaf $sheaf_ms ms, PostgreSQL $db_ms ms (all backends of the run);" \
        "on $(nproc) idle cores at most $(awk -v a="$sheaf_ms" -v b="$db_ms" -v c="$(nproc)" 'BEGIN { printf "%.0f", 1000 * c / (a + b) }') records/s"
    [[ $stored == "$RECORDS" ]] || echo "WARNING: $stored records stored, $RECORDS served (see $OUT/sheaf-$mode.err)"

    if ((SICKLE)); then
        log "$mode: Sickle"
        read -r n secs < <("$VENV/bin/python" -c "$SICKLE_PY" "$URL")
        R[$mode.sickle]=$(rate "$n" "$secs")
        echo "$mode Sickle (parse only): $n records in $secs s = ${R[$mode.sickle]} records/s"
    fi

    if ((PERF)); then
        log "$mode: sheaf harvest under perf record"
        # System-wide (-a): the PostgreSQL backend doing the writes is where the time goes.
        sheaf_harvest "perf-$mode" perf record -a -e cpu-clock -F 499 -g -o "$OUT/perf-$mode.data" -- >/dev/null
        echo "$mode profile: perf report -i $OUT/perf-$mode.data --sort comm --stdio -g none;" \
            "perf report -i $OUT/perf-$mode.data --comm postgres --children --sort sym --stdio -g none"
    fi
    kill "$PROVIDER"; wait "$PROVIDER" 2>/dev/null || true; PROVIDER=""
done

echo
printf '%-7s %12s %12s %12s %12s %12s %14s %10s\n' mode bare_rec/s sheaf_rec/s sheaf/bare searchable/s \
    sickle_rec/s sheaf/sickle peak_RSS
for mode in $MODES; do
    s=${R[$mode.sickle]:-}
    printf '%-7s %12s %12s %12s %12s %12s %14s %9sM\n' "$mode" "${R[$mode.bare]}" "${R[$mode.sheaf]}" \
        "$(ratio "${R[$mode.sheaf]}" "${R[$mode.bare]}")" "${R[$mode.searchable]}" "${s:--}" \
        "${s:+$(ratio "${R[$mode.sheaf]}" "$s")}" "${R[$mode.rss]}"
done
echo "(sheaf_rec/s: records stored by the run's end; searchable/s: by the process's exit, after"
echo " the search indexer caught up)"
echo "targets: server sheaf/bare >= 0.9; fast sheaf/sickle >= 10; peak RSS <= 64 MB"
