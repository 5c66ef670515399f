#!/usr/bin/env bash
# End-to-end check of sheaf against a third-party OAI-PMH provider implementation:
# pyoai's server (tests/third_party/pyoai_server.py) over HTTP on 127.0.0.1.
#
# For each server flavour (seconds granularity; day granularity; day granularity with
# pyoai's unpatched seconds-form header datestamps), on a fresh throwaway database:
#   a. first harvest: every served record stored exactly (count, deleted flag, datestamp,
#      sets, title, DOI), no duplicates, run counters = served totals
#   b. second (incremental) harvest: 0 new / 0 updated / 0 deleted
#   c. the server retitles K and deletes M records; third harvest: exactly K updated,
#      M deleted, 0 new, and the database matches the server again
#   d. kill test (fresh database, server slowed down): kill -9 sheaf after >= 3 pages,
#      harvest again: first run abandoned, second resumed_from it, no page fetched twice,
#      final state exact
#   e. (after c, same database) a second source on the same endpoint with --set ling:
#      exactly that set's records
#   f. (after e, same database; first flavour only) `sheaf serve` exposes that database at
#      /oai and Sickle, a third-party harvester (tests/third_party/harvest_sheaf.py),
#      harvests it completely: every record with the identifier sheaf serves it under
#      (two sources share identifiers here), its deleted flag and its first title
#
# Usage: scripts/e2e-third-party.sh
# Environment: DATABASE_URL (server to create throwaway databases on; default
#   postgres://postgres@127.0.0.1:5432/postgres), SHEAF_BIN (default target/debug/sheaf,
#   built if missing), E2E_GRANULARITIES (default "seconds day day-raw"), E2E_RECORDS (3000),
#   E2E_UPDATE (K, 37), E2E_DELETE (M, 11), E2E_DELAY_MS (150), SHEAF_CONFIG (default: an
#   empty file, i.e. sheaf's built-in defaults).
# Logs of the last run stay in target/e2e-logs/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SHEAF_BIN=${SHEAF_BIN:-target/debug/sheaf}
GRANULARITIES=${E2E_GRANULARITIES:-seconds day day-raw}
RECORDS=${E2E_RECORDS:-3000}
K=${E2E_UPDATE:-37}
M=${E2E_DELETE:-11}
DELAY_MS=${E2E_DELAY_MS:-150}
SHEAF_TIMEOUT=${E2E_SHEAF_TIMEOUT:-300} # seconds for one sheaf command
VENV=target/e2e-venv
# The server's first title must be among the record's normalized titles. (sheaf's `title`
# column holds the title in the record's main language, which may be the other one.)
HAS_TITLE="EXISTS (SELECT 1 FROM jsonb_array_elements(r.normalized->'titles') t WHERE t->>'value' = e.title)"
LOGS=target/e2e-logs
START=$SECONDS

FAILURES=0
SERVER_PID=""
SHEAF_PID=""
DBS=()

log() { printf '%s\n' "$*" >&2; }
pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; FAILURES=$((FAILURES + 1)); }
# check NAME ACTUAL EXPECTED
check() {
    if [[ "$2" == "$3" ]]; then pass "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

cleanup() {
    local rc=$?
    if ((rc != 0)) && [[ -z "${FINISHED:-}" ]]; then
        echo "FAIL  aborted with exit code $rc before all checks ran (logs in $LOGS)"
    fi
    if [[ -n "$SHEAF_PID" ]]; then
        kill -9 "$SHEAF_PID" 2>/dev/null || true
        wait "$SHEAF_PID" 2>/dev/null || true
    fi
    stop_server
    for db in "${DBS[@]}"; do
        psql "$ADMIN_URL" -qAtX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 \
            || log "warning: could not drop database $db"
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- setup

if [[ ! -x "$SHEAF_BIN" ]]; then
    log "building sheaf ($SHEAF_BIN missing)"
    cargo build --quiet
fi
rm -rf "$LOGS"
mkdir -p "$LOGS"
# A private copy, so a rebuild in the work tree during the run cannot mix two binaries.
cp "$SHEAF_BIN" "$LOGS/sheaf"
SHEAF_BIN=$ROOT/$LOGS/sheaf
# sheaf's built-in defaults, not the work tree's config/default.toml (which may be ahead
# of or behind the binary while someone edits it); SHEAF_CONFIG overrides.
if [[ -z "${SHEAF_CONFIG:-}" ]]; then
    echo "# scripts/e2e-third-party.sh: built-in defaults" >"$LOGS/sheaf.toml"
    export SHEAF_CONFIG=$ROOT/$LOGS/sheaf.toml
fi
log "sheaf: $("$SHEAF_BIN" --version), config $SHEAF_CONFIG"

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/third_party/requirements.txt
PY="$VENV/bin/python"

# db_url NAME: $ADMIN_URL with its database replaced by NAME.
db_url() {
    "$PY" - "$ADMIN_URL" "$1" <<'EOF'
import sys
from urllib.parse import urlsplit, urlunsplit
u = urlsplit(sys.argv[1])
print(urlunsplit((u.scheme, u.netloc, "/" + sys.argv[2], u.query, u.fragment)))
EOF
}

# new_db: creates a fresh database, sets DB_URL.
new_db() {
    local name
    name="sheaf_e2e_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    psql "$ADMIN_URL" -qAtX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\"" >/dev/null
    DBS+=("$name")
    DB_URL=$(db_url "$name")
    log "database $name"
}

q() { psql "$DB_URL" -qAtX -v ON_ERROR_STOP=1 -F ' ' -c "$1"; }

# start_server LABEL [extra args]: sets SERVER_PID, PORT, BASE_URL, STATE, LIVE, DELETED.
start_server() {
    local label=$1
    shift
    STATE="$LOGS/$label.state.tsv"
    "$PY" tests/third_party/pyoai_server.py --records "$RECORDS" --state "$STATE" "$@" \
        >"$LOGS/$label.server.out" 2>"$LOGS/$label.server.log" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        [[ -s "$LOGS/$label.server.out" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOGS/$label.server.log" >&2; log "server died"; exit 1; }
        sleep 0.1
    done
    local line
    line=$(head -n1 "$LOGS/$label.server.out")
    read -r PORT LIVE DELETED < <("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["port"], d["live"], d["deleted"])' "$line")
    BASE_URL="http://127.0.0.1:$PORT/oai"
    log "server $label on $BASE_URL: $LIVE live, $DELETED deleted"
}

# sheaf ARGS...: runs sheaf against $DB_URL, stderr appended to $LOGS/$LABEL.sheaf.log.
sheaf() {
    DATABASE_URL="$DB_URL" timeout "$SHEAF_TIMEOUT" "$SHEAF_BIN" "$@" 2>>"$LOGS/$LABEL.sheaf.log"
}

harvest() {
    local what=$1
    shift
    if sheaf harvest "$@" >>"$LOGS/$LABEL.harvest.out"; then
        pass "$LABEL $what: sheaf harvest $* exited 0"
    else
        fail "$LABEL $what: sheaf harvest $* exited non-zero (see $LOGS/$LABEL.sheaf.log)"
        tail -n 20 "$LOGS/$LABEL.sheaf.log" >&2
    fi
}

# run_fields N FIELD...: fields of the Nth newest run (0 = newest), space-separated.
run_fields() {
    local n=$1
    shift
    local out
    out=$(sheaf runs --json --limit 50) || out="[]"
    "$PY" -c '
import json, sys
try:
    runs = json.loads(sys.argv[2])
except ValueError:
    runs = []
n = int(sys.argv[1])
if n >= len(runs):
    print(" ".join("none" for _ in sys.argv[3:]))
else:
    print(" ".join(str(runs[n].get(f)) for f in sys.argv[3:]))
' "$n" "$out" "$@"
}

# compare_db: the records table against the server's state file, record by record.
compare_db() {
    local what=$1
    q "SET client_min_messages = warning; DROP TABLE IF EXISTS e2e_expected; CREATE TABLE e2e_expected (id text PRIMARY KEY, deleted bool, datestamp text, sets text, title text, doi text)"
    psql "$DB_URL" -qAtX -v ON_ERROR_STOP=1 -c "\\copy e2e_expected FROM '$STATE'"
    local counts
    counts=$(q "SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted) FROM records")
    check "$LABEL $what: records live/deleted = served" "$counts" "$LIVE $DELETED"
    check "$LABEL $what: duplicated identifiers" \
        "$(q "SELECT count(*) - count(DISTINCT oai_identifier) FROM records")" 0
    local mismatch="
        FROM e2e_expected e FULL JOIN records r ON r.oai_identifier = e.id
        WHERE r.id IS NULL OR e.id IS NULL OR r.deleted <> e.deleted
           OR r.datestamp_raw IS DISTINCT FROM e.datestamp
           OR array_to_string(r.sets, ',') <> e.sets
           OR (NOT e.deleted AND (NOT $HAS_TITLE OR r.doi IS DISTINCT FROM e.doi
                                  OR r.raw_metadata IS NULL))
           OR (e.deleted AND r.raw_metadata IS NOT NULL)"
    local bad
    bad=$(q "SELECT count(*) $mismatch")
    check "$LABEL $what: records differing from the server (id, deleted, datestamp, sets, title, DOI)" "$bad" 0
    if [[ "$bad" != 0 ]]; then
        q "SELECT coalesce(e.id, r.oai_identifier), e.deleted, r.deleted, e.datestamp, r.datestamp_raw, e.sets,
                  array_to_string(r.sets, ','), e.title, r.title, e.doi, r.doi $mismatch LIMIT 5" >&2
    fi
}

# ---------------------------------------------------------------- scenarios

# server_args GRAN: "seconds", "day", or "day-raw" (day granularity with pyoai's own,
# non-conforming seconds datestamps in the headers).
server_args() {
    case $1 in
        day-raw) echo "--granularity day --no-day-fix" ;;
        *) echo "--granularity $1" ;;
    esac
}

incremental_scenario() {
    local gran=$1
    LABEL="$gran"
    # shellcheck disable=SC2046
    start_server "$LABEL" $(server_args "$gran")
    new_db

    # a. first harvest
    harvest "a first harvest" "$BASE_URL" --name e2e
    read -r status new upd del failed < <(run_fields 0 status records_new records_updated records_deleted records_failed)
    check "$LABEL a: run status" "$status" completed
    check "$LABEL a: run new/updated/deleted/failed" "$new $upd $del $failed" "$LIVE 0 $DELETED 0"
    compare_db "a"

    # b. nothing changed
    harvest "b incremental, no change" e2e
    read -r status new upd del window < <(run_fields 0 status records_new records_updated records_deleted window_from)
    check "$LABEL b: run status" "$status" completed
    check "$LABEL b: run new/updated/deleted" "$new $upd $del" "0 0 0"
    [[ "$window" != None ]] && pass "$LABEL b: incremental window_from=$window" \
        || fail "$LABEL b: second run was not incremental (window_from None)"

    # c. K retitled, M deleted
    local summary
    summary=$(curl -fsS "http://127.0.0.1:$PORT/admin/mutate?update=$K&delete=$M")
    read -r LIVE DELETED < <("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["live"], d["deleted"])' "$summary")
    log "mutated: $K updated, $M deleted; now $LIVE live, $DELETED deleted"
    harvest "c incremental after mutation" e2e
    read -r status new upd del < <(run_fields 0 status records_new records_updated records_deleted)
    check "$LABEL c: run status" "$status" completed
    check "$LABEL c: run new/updated/deleted" "$new $upd $del" "0 $K $M"
    compare_db "c"

    # e. a second source on the same endpoint, one set only (set=ling)
    harvest "e one set" "$BASE_URL" --name e2e-ling --set ling
    read -r status < <(run_fields 0 status)
    check "$LABEL e: run status" "$status" completed
    check "$LABEL e: set ling live/deleted = served" \
        "$(q "SELECT count(*) FILTER (WHERE NOT r.deleted), count(*) FILTER (WHERE r.deleted)
              FROM records r JOIN sources s ON s.id = r.source_id WHERE s.name = 'e2e-ling'")" \
        "$(q "SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted)
              FROM e2e_expected WHERE 'ling' = ANY (string_to_array(sets, ','))")"
    check "$LABEL e: set ling records differing from the server" \
        "$(q "SELECT count(*) FROM (SELECT * FROM e2e_expected WHERE 'ling' = ANY (string_to_array(sets, ','))) e
              FULL JOIN (SELECT r.* FROM records r JOIN sources s ON s.id = r.source_id
                         WHERE s.name = 'e2e-ling') r ON r.oai_identifier = e.id
              WHERE r.id IS NULL OR e.id IS NULL OR r.deleted <> e.deleted
                 OR array_to_string(r.sets, ',') <> e.sets
                 OR (NOT e.deleted AND NOT $HAS_TITLE)")" 0
    stop_server
    if [[ -z "${PROVIDER_DONE:-}" ]]; then
        provider_scenario
        PROVIDER_DONE=1
    fi
}

# provider_scenario: sheaf's own /oai over $DB_URL, harvested by a third-party client.
provider_scenario() {
    local port serve_pid
    port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    DATABASE_URL="$DB_URL" SHEAF_PROVIDER__PAGE_SIZE=100 "$SHEAF_BIN" serve --listen "127.0.0.1:$port" \
        >"$LOGS/$LABEL.serve.out" 2>"$LOGS/$LABEL.serve.log" &
    serve_pid=$!
    SHEAF_PID=$serve_pid
    local up=""
    for _ in $(seq 200); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && { up=1; break; }
        kill -0 "$serve_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z "$up" ]]; then
        fail "$LABEL f: sheaf serve did not come up (see $LOGS/$LABEL.serve.log)"
    elif "$PY" tests/third_party/harvest_sheaf.py "http://127.0.0.1:$port/oai" \
        >"$LOGS/$LABEL.sickle.csv" 2>"$LOGS/$LABEL.sickle.log"; then
        pass "$LABEL f: Sickle harvested sheaf's /oai ($(tail -n1 "$LOGS/$LABEL.sickle.log"))"
        q "SET client_min_messages = warning; DROP TABLE IF EXISTS e2e_oai; CREATE TABLE e2e_oai (id text, deleted bool, title text)"
        psql "$DB_URL" -qAtX -v ON_ERROR_STOP=1 -c "\\copy e2e_oai FROM '$LOGS/$LABEL.sickle.csv' WITH (FORMAT csv)"
        # What sheaf should serve: every oai_dc-disseminable record, under its served identifier
        # (sheaf:<source>:<id> when an earlier source holds the same identifier).
        local served="SELECT CASE WHEN EXISTS (SELECT 1 FROM records d WHERE d.oai_identifier = r.oai_identifier
                                                  AND d.source_id < r.source_id)
                                   THEN 'sheaf:' || s.name || ':' || r.oai_identifier ELSE r.oai_identifier END AS id,
                              r.deleted, coalesce(r.normalized->'titles'->0->>'value', '') AS title
                       FROM records r JOIN sources s ON s.id = r.source_id
                       WHERE r.deleted OR r.normalized IS NOT NULL"
        check "$LABEL f: records harvested by Sickle = records in the database" \
            "$(q "SELECT count(*), count(DISTINCT id) FROM e2e_oai")" "$(q "SELECT count(*), count(*) FROM ($served) x")"
        local bad
        bad=$(q "SELECT count(*) FROM e2e_oai o FULL JOIN ($served) x ON x.id = o.id
                 WHERE o.id IS NULL OR x.id IS NULL OR o.deleted <> x.deleted OR (NOT x.deleted AND o.title <> x.title)")
        check "$LABEL f: records whose identifier, deleted flag or title differ" "$bad" 0
        if [[ "$bad" != 0 ]]; then
            q "SELECT o.id, x.id, o.deleted, x.deleted, o.title, x.title FROM e2e_oai o FULL JOIN ($served) x ON x.id = o.id
               WHERE o.id IS NULL OR x.id IS NULL OR o.deleted <> x.deleted OR (NOT x.deleted AND o.title <> x.title) LIMIT 5" >&2
        fi
    else
        fail "$LABEL f: Sickle failed on sheaf's /oai (see $LOGS/$LABEL.sickle.log)"
        tail -n 20 "$LOGS/$LABEL.sickle.log" >&2
    fi
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
    SHEAF_PID=""
}

kill_scenario() {
    local gran=$1
    LABEL="$gran-kill"
    # One list per run here, so "no page fetched twice" can be checked as an exact page
    # count; scenarios a-c and e run with adaptive date windows (the default), and a kill
    # inside a window is tested in tests/windows.rs.
    export SHEAF_HARVEST__WINDOW_DAYS=0
    # shellcheck disable=SC2046
    start_server "$LABEL" $(server_args "$gran") --delay-ms "$DELAY_MS"
    new_db

    DATABASE_URL="$DB_URL" "$SHEAF_BIN" harvest "$BASE_URL" --name e2e \
        >"$LOGS/$LABEL.harvest.out" 2>"$LOGS/$LABEL.sheaf.log" &
    SHEAF_PID=$!
    local pages=0 deadline=$((SECONDS + 120))
    while ((SECONDS < deadline)); do
        pages=$(q "SELECT coalesce(max(pages), 0) FROM harvest_runs" 2>/dev/null || echo 0)
        ((pages >= 3)) && break
        kill -0 "$SHEAF_PID" 2>/dev/null || break
        sleep 0.05
    done
    if ! kill -0 "$SHEAF_PID" 2>/dev/null; then
        fail "$LABEL d: sheaf ended before it could be killed (pages=$pages)"
    elif ((pages < 3)); then
        kill -9 "$SHEAF_PID"
        fail "$LABEL d: sheaf stored only $pages pages in 120 s; killed it anyway"
    else
        kill -9 "$SHEAF_PID"
        pass "$LABEL d: killed sheaf (pid $SHEAF_PID) at pages=$pages"
    fi
    wait "$SHEAF_PID" 2>/dev/null || true # reap it: a zombie still counts as a live worker
    SHEAF_PID=""
    local first_id first_status first_pages
    read -r first_id first_status first_pages < <(q "SELECT id, status, pages FROM harvest_runs ORDER BY id")
    log "run $first_id left as $first_status with $first_pages pages"

    harvest "d harvest after kill" e2e
    read -r id status resumed < <(run_fields 0 id status resumed_from)
    read -r old_id old_status < <(run_fields 1 id status)
    check "$LABEL d: second run status" "$status" completed
    check "$LABEL d: first run status" "$old_id $old_status" "$first_id abandoned"
    check "$LABEL d: second run resumed_from" "$resumed" "$first_id"
    local total_pages=$(( (LIVE + DELETED + 99) / 100 ))
    check "$LABEL d: pages over both runs, records seen twice by the resumed run" \
        "$(q "SELECT sum(pages), sum(records_unchanged) FROM harvest_runs")" "$total_pages 0"
    check "$LABEL d: runs new/updated/deleted summed over both runs" \
        "$(q "SELECT sum(records_new), sum(records_updated), sum(records_deleted) FROM harvest_runs")" "$LIVE 0 $DELETED"
    compare_db "d"
    stop_server
    unset SHEAF_HARVEST__WINDOW_DAYS
}

for g in $GRANULARITIES; do
    incremental_scenario "$g"
    kill_scenario "$g"
done

FINISHED=1
elapsed=$((SECONDS - START))
if ((FAILURES == 0)); then
    echo "e2e-third-party: ALL PASSED (${elapsed}s; logs in $LOGS)"
else
    echo "e2e-third-party: $FAILURES FAILED (${elapsed}s; logs in $LOGS)"
    exit 1
fi
