#!/usr/bin/env bash
# Query surfaces at scale: builds a database of N (default 1,000,000) realistic records, then
# measures q= full-text search latency (p50/p95/max over 200 varied queries) and a full
# change-feed read (records/s), through SQL and, when the routes exist, the HTTP API.
# Results go to stdout; record them in docs/benchmarks.md ("Query surfaces").
#
#   scripts/bench-query.sh                 # build (or reuse) the database, measure
#   BENCH_REBUILD=1 scripts/bench-query.sh # drop and regenerate the database first
#
# Environment:
#   DATABASE_URL   server to use (default postgres://postgres@127.0.0.1:5432/postgres);
#                  its database part is replaced by BENCH_DB
#   BENCH_DB       database name (default sheaf_bench_query)
#   BENCH_RECORDS  number of records (default 1000000)
#   BENCH_JOBS     parallel generator sessions (default 2)
#   BENCH_BIN      sheaf binary (default: target/release/sheaf, built if missing)
#   BENCH_HTTP     0 to skip the HTTP measurements (default 1: run when the routes exist)
#   BENCH_SQL      0 to skip the SQL measurements (default 1)
#   BENCH_SEARCH   0 to skip the search measurements (default 1)
#   BENCH_FEED     0 to skip the change-feed measurements (default 1)
#   BENCH_COPY     1 to also stream the view's contract JSON with COPY (default 0; slow)
#   BENCH_FEED_LIMITS  page sizes of the HTTP change-feed reads (default "1000 10000")
set -euo pipefail

cd "$(dirname "$0")/.."
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=${BENCH_DB:-sheaf_bench_query}
N=${BENCH_RECORDS:-1000000}
JOBS=${BENCH_JOBS:-2}
BENCH_HTTP=${BENCH_HTTP:-1}
BENCH_SQL=${BENCH_SQL:-1}
BENCH_SEARCH=${BENCH_SEARCH:-1}
BENCH_FEED=${BENCH_FEED:-1}
BENCH_COPY=${BENCH_COPY:-0}
FEED_LIMITS=${BENCH_FEED_LIMITS:-1000 10000}
DB_URL="${ADMIN_URL%/*}/$DB"
BIN=${BENCH_BIN:-target/release/sheaf}
PORT=${BENCH_PORT:-18089}

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$DB_URL" "$@"; }

if [[ ! -x $BIN ]]; then
    log "building $BIN"
    cargo build --release --bin sheaf
fi

# --- database -----------------------------------------------------------------------------
exists=$(psql -X -At "$ADMIN_URL" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")
if [[ ${BENCH_REBUILD:-0} == 1 || -z $exists ]]; then
    psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" \
        -c "CREATE DATABASE \"$DB\""
fi
log "migrating $DB"
DATABASE_URL=$DB_URL SHEAF_LOG__LEVEL=warn "$BIN" db migrate >/dev/null

have=$(q -c "SELECT count(*) FROM records")
if [[ $have -ne $N ]]; then
    [[ $have -eq 0 ]] || { log "$DB holds $have records, not $N: set BENCH_REBUILD=1"; exit 1; }
    log "generating $N records in $JOBS sessions"
    start=$(date +%s)
    # Generator functions live in a scratch schema, dropped afterwards.
    q <<'SQL'
CREATE SCHEMA bench;
-- Words follow Zipf's law (P(rank r) ~ 1/r, drawn log-uniformly) over 150,000 ranks per
-- language, starting at rank 20 as if stop words (not generated) held the first ranks. The
-- 80 most frequent ranks are real subject words; the rest are distinct made-up terms built
-- from the rank's digits in base 20 (syllables). So the commonest word is in about a third
-- of the records and most terms are in a handful, like real abstracts.
CREATE FUNCTION bench.words(lang text, n bigint) RETURNS text LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    common text[] := CASE WHEN lang = 'ru' THEN
        ARRAY['политика','развитие','регион','история','экономика','общество','государство','анализ',
              'россия','сотрудничество','отношения','безопасность','культура','образование','право',
              'исследование','модель','система','управление','интеграция','реформа','стратегия',
              'инновации','технологии','энергетика','экология','демография','миграция','население',
              'рынок','торговля','финансы','инвестиции','кризис','конфликт','дипломатия','китай',
              'корея','япония','азия','европа','сибирь','арктика','граница','город','язык',
              'литература','философия','религия','наука','университет','школа','здоровье',
              'медицина','климат','вода','лес','почва','сельское','хозяйство','промышленность',
              'транспорт','инфраструктура','цифровизация','санкции','идентичность','память','война',
              'мир','договор','полуостров','приоритеты','подходы','методология','восток','запад',
              'тенденции','перспективы','проблемы','опыт','оценка']
    ELSE
        ARRAY['policy','development','region','history','economy','society','state','analysis',
              'russia','cooperation','relations','security','culture','education','law','research',
              'model','system','management','integration','reform','strategy','innovation',
              'technology','energy','ecology','demography','migration','population','market',
              'trade','finance','investment','crisis','conflict','diplomacy','china','korea','japan',
              'asia','europe','siberia','arctic','border','city','language','literature',
              'philosophy','religion','science','university','school','health','medicine','climate',
              'water','forest','soil','agriculture','farming','industry','transport',
              'infrastructure','digitalization','sanctions','identity','memory','war','peace',
              'treaty','peninsula','priorities','approaches','methodology','east','west','trends',
              'prospects','problems','experience','assessment']
    END;
    syl text[] := CASE WHEN lang = 'ru' THEN
        ARRAY['ка','ро','ми','тел','ван','сор','лу','бен','дра','ки','нос','ва','гор','ле','тус',
              'мар','пи','зин','хо','дель']
    ELSE
        ARRAY['ka','ro','mi','tel','van','sor','lu','ben','dra','ki','nos','va','gor','le','tus',
              'mar','pi','zin','ho','del']
    END;
    out text[] := '{}';
    r int;
    w text;
BEGIN
    FOR k IN 1..n LOOP
        r := floor(exp(ln(20) + random() * (ln(150000) - ln(20))))::int - 20;
        IF r < 80 THEN
            w := common[r + 1];
        ELSE
            w := syl[1 + r % 20] || syl[1 + (r / 20) % 20] || syl[1 + (r / 400) % 20];
            IF r >= 8000 THEN w := w || syl[1 + (r / 8000) % 20]; END IF;
        END IF;
        out := out || w;
    END LOOP;
    RETURN array_to_string(out, ' ');
END $f$;
CREATE FUNCTION bench.keywords(lang text, n bigint) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    out jsonb := '[]';
BEGIN
    FOR k IN 1..n LOOP
        out := out || jsonb_build_object('value', bench.words(lang, 1 + k % 2), 'lang', lang);
    END LOOP;
    RETURN out;
END $f$;
CREATE FUNCTION bench.person(lang text) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    f text := initcap(bench.words(lang, 1));
    g text := (CASE WHEN lang = 'ru' THEN ARRAY['А. В.','И. С.','М. Н.','Е. П.','О. К.']
                    ELSE ARRAY['A. V.','J. S.','M. N.','E. P.','O. K.'] END)[1 + floor(random() * 5)::int];
BEGIN
    RETURN jsonb_build_object('name', f || ', ' || g, 'family', f, 'given', g);
END $f$;

-- One batch of records [lo, hi].
CREATE FUNCTION bench.fill(lo bigint, hi bigint) RETURNS void LANGUAGE sql VOLATILE AS $$
INSERT INTO records (source_id, oai_identifier, datestamp, datestamp_raw, sets, normalized, normalized_text, title,
                     doi, issued, languages, types, flags, work_key, raw_metadata, content_hash,
                     first_harvested_at, last_harvested_at, updated_at)
SELECT src, 'oai:journal' || src || '.example.org:article/' || g, ds,
       to_char(ds AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ARRAY['journal' || src],
       n, n::text, n -> 'titles' -> 0 ->> 'value', n ->> 'doi', n ->> 'issued',
       ARRAY(SELECT jsonb_array_elements_text(n -> 'languages')), '{article}', '{}',
       coalesce(n ->> 'doi', 'journal' || src || '.example.org/article/' || g),
       -- raw XML of realistic size: the texts again, wrapped in oai_dc
       '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
           || (SELECT string_agg('<dc:title>' || (t ->> 'value') || '</dc:title>', '') FROM jsonb_array_elements(n -> 'titles') t)
           || (SELECT string_agg('<dc:description>' || (t ->> 'value') || '</dc:description>', '') FROM jsonb_array_elements(n -> 'descriptions') t)
           || '<dc:identifier>' || coalesce(n ->> 'doi', '') || '</dc:identifier></oai_dc:dc>',
       decode(md5(g::text), 'hex'),
       ts, ts, ts
FROM (
    SELECT g, src, ds, ts,
           jsonb_build_object(
               'titles', CASE lang WHEN 'ru' THEN jsonb_build_array(
                                       jsonb_build_object('value', initcap(bench.words('ru', 6 + g % 5)), 'lang', 'ru'),
                                       jsonb_build_object('value', initcap(bench.words('en', 6 + g % 5)), 'lang', 'en'))
                                   ELSE jsonb_build_array(jsonb_build_object('value', initcap(bench.words('en', 6 + g % 5)), 'lang', lang)) END,
               'creators', (SELECT jsonb_agg(bench.person(CASE WHEN lang = 'ru' THEN 'ru' ELSE 'en' END) ORDER BY i) FROM generate_series(0, g % 4) i),
               'contributors', '[]'::jsonb,
               'subjects', CASE lang WHEN 'ru' THEN bench.keywords('ru', 3 + g % 3) || bench.keywords('en', 3 + g % 3)
                                     ELSE bench.keywords('en', 3 + g % 4) END,
               'descriptions', CASE lang WHEN 'ru' THEN jsonb_build_array(
                                         jsonb_build_object('value', bench.words('ru', 40 + g % 30), 'lang', 'ru'),
                                         jsonb_build_object('value', bench.words('en', 40 + g % 30), 'lang', 'en'))
                                         ELSE jsonb_build_array(jsonb_build_object('value', bench.words('en', 40 + g % 30), 'lang', lang)) END,
               'publishers', jsonb_build_array('Publisher ' || src),
               'issued', CASE WHEN g % 3 = 0 THEN yr::text ELSE to_char(make_date(yr, (1 + g % 12)::int, (1 + g % 28)::int), 'YYYY-MM-DD') END,
               'types', '["article"]'::jsonb,
               'formats', '["application/pdf"]'::jsonb,
               'languages', CASE WHEN lang IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(lang) END,
               'doi', CASE WHEN g % 5 <> 0 THEN '10.' || (5000 + src) || '/bench.' || g END,
               'identifiers', jsonb_build_array(jsonb_build_object('scheme', 'url', 'value', 'https://journal' || src || '.example.org/article/' || g))
                              || CASE WHEN g % 5 <> 0 THEN jsonb_build_array(jsonb_build_object('scheme', 'doi', 'value', '10.' || (5000 + src) || '/bench.' || g)) ELSE '[]' END,
               'source_info', jsonb_build_object('title', 'Journal ' || src, 'volume', (yr - 1990)::text, 'issue', (1 + g % 4)::text,
                                                 'year', yr, 'pages', NULL, 'issn', NULL),
               'relations', '[]'::jsonb, 'coverage', '[]'::jsonb,
               'rights', '[{"value": "https://creativecommons.org/licenses/by/4.0/", "license": "CC-BY-4.0"}]'::jsonb
           ) AS n
    FROM (
        SELECT g,
               1 + (g % 40) AS src,
               -- 65% Russian journals with English translations, 30% English, 5% unknown
               CASE WHEN g % 20 < 13 THEN 'ru' WHEN g % 20 < 19 THEN 'en' END AS lang,
               (2000 + (g * 7919) % 26)::int AS yr,
               timestamptz '2015-01-01' + (g % 3650) * interval '1 day' AS ds,
               timestamptz '2026-01-01' + g * interval '10 ms' AS ts
        FROM generate_series(lo, hi) g
    ) a
) b
$$;
SQL
    q -c "INSERT INTO sources (name, base_url, repository_name, granularity, deleted_record)
          SELECT 'journal' || i, 'https://journal' || i || '.example.org/oai', 'Journal ' || i, 'YYYY-MM-DDThh:mm:ssZ', 'persistent'
          FROM generate_series(1, 40) i"
    # Secondary indexes are built once after the load, as in any bulk load (same definitions).
    q <<'SQL'
CREATE TABLE bench.indexes AS
SELECT indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename IN ('records', 'record_search')
  AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid IN ('records'::regclass, 'record_search'::regclass));
DO $$ DECLARE i record; BEGIN
    FOR i IN SELECT indexname FROM bench.indexes LOOP EXECUTE format('DROP INDEX %I', i.indexname); END LOOP;
END $$;
SQL
    # Batches in order of g (so id and change_seq follow harvest order), JOBS at a time.
    batch=50000
    pids=()
    for ((lo = 1; lo <= N; lo += batch)); do
        hi=$((lo + batch - 1 < N ? lo + batch - 1 : N))
        q -c "SELECT setseed($lo::float8 / ($N + 1)); SELECT bench.fill($lo, $hi)" >/dev/null &
        pids+=($!)
        if ((${#pids[@]} >= JOBS)); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
    done
    for p in "${pids[@]}"; do wait "$p"; done
    log "inserted in $(($(date +%s) - start)) s; deleting 2%, adding runs"
    q <<'SQL'
-- 2% tombstones, deleted later than they were harvested (a new change_seq, as the harvester does).
UPDATE records SET deleted = true, normalized = NULL, normalized_text = NULL, title = NULL, doi = NULL, issued = NULL,
       languages = '{}', types = '{}', work_key = NULL, raw_metadata = NULL,
       updated_at = updated_at + interval '1 day', change_seq = nextval('record_change_seq')
WHERE id % 50 = 7;
INSERT INTO harvest_runs (source_id, trigger, status, metadata_prefix, worker, started_at, finished_at, error)
SELECT s.id, 'schedule', CASE WHEN k % 7 = 0 THEN 'failed' ELSE 'completed' END, 'oai_dc', 'bench:1:0',
       now() - k * interval '1 day', now() - k * interval '1 day' + interval '5 min',
       CASE WHEN k % 7 = 0 THEN 'HTTP 503 after 6 attempts' END
FROM sources s, generate_series(1, 30) k;
SQL
    # The search index as the indexer leaves it once caught up (src/store/search_index.rs):
    # a vector per live record, computed from the same function, JOBS sessions at a time.
    log "search vectors of the live records in $JOBS sessions"
    pids=()
    for ((lo = 1; lo <= N; lo += batch)); do
        hi=$((lo + batch - 1))
        q -c "INSERT INTO record_search (record_id, change_seq, search)
              SELECT id, change_seq, sheaf_search_vector(normalized) FROM records
              WHERE id BETWEEN $lo AND $hi AND NOT deleted AND normalized IS NOT NULL" >/dev/null &
        pids+=($!)
        if ((${#pids[@]} >= JOBS)); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
    done
    for p in "${pids[@]}"; do wait "$p"; done
    log "indexed in $(($(date +%s) - start)) s; building indexes"
    q <<'SQL'
UPDATE search_index_state SET last_change_seq = (SELECT coalesce(max(change_seq), 0) FROM records);
-- The Cyrillic lexemes the indexer would have added (migration 0015).
DO $$ BEGIN
    IF to_regclass('search_lexemes') IS NOT NULL THEN
        INSERT INTO search_lexemes SELECT DISTINCT u.lexeme FROM record_search, unnest(search) u
        WHERE u.lexeme ~ '[а-яё]' ON CONFLICT DO NOTHING;
    END IF;
END $$;
SET maintenance_work_mem = '512MB';
DO $$ DECLARE i record; BEGIN
    FOR i IN SELECT indexdef FROM bench.indexes LOOP EXECUTE i.indexdef; END LOOP;
END $$;
DROP SCHEMA bench CASCADE;
SQL
    log "VACUUM ANALYZE"
    q -c "VACUUM (ANALYZE) records" -c "VACUUM (ANALYZE) record_search" -c "VACUUM (ANALYZE) sources" \
      -c "VACUUM (ANALYZE) harvest_runs"
    log "generated in $(($(date +%s) - start)) s"
fi

# --- queries ----------------------------------------------------------------------------------
# 200 varied queries drawn from the records themselves, Russian and English: single keywords
# (from the commonest words to made-up terms in a handful of records), two title words,
# two-word phrases from abstracts, author family names.
q <<'SQL'
DROP TABLE IF EXISTS bench_queries;
CREATE TABLE bench_queries (i int PRIMARY KEY, kind text NOT NULL, q text NOT NULL);
-- Picked by a hash of the text, not at random: the same queries whatever the rows' physical
-- order (a VACUUM FULL or a rebuild changed the random picks, so runs compared different sets).
INSERT INTO bench_queries
SELECT row_number() OVER (), kind, q FROM (
    (SELECT 'keyword' AS kind, w AS q FROM (SELECT DISTINCT lower(split_part(value, ' ', 1)) AS w FROM sheaf_api.subjects
                         WHERE record_id % 997 = 0) s ORDER BY md5(w) LIMIT 80)
    UNION ALL
    (SELECT 'two title words', split_part(value, ' ', 1) || ' ' || split_part(value, ' ', 3) FROM sheaf_api.titles
     WHERE record_id % 1009 = 0 ORDER BY md5(value), record_id LIMIT 60)
    UNION ALL
    (SELECT 'phrase', '"' || split_part(value, ' ', 2) || ' ' || split_part(value, ' ', 3) || '"' FROM sheaf_api.descriptions
     WHERE record_id % 1013 = 0 ORDER BY md5(value), record_id LIMIT 40)
    UNION ALL
    (SELECT 'author', lower(family) FROM sheaf_api.creators WHERE record_id % 1019 = 0 ORDER BY md5(family), record_id LIMIT 20)
) x;
SQL
count=$(q -c "SELECT count(*) FROM bench_queries")

# The first page of GET /api/records?q=...&limit=20 as src/store/search.rs builds it (keep the
# two in step): the 500 newest matches, from record_search alone, looked for in windows of
# the newest ids (the first 2048 ids walked; the matches found size the next window; each
# window read as Plan::for_window says: walked up to 8192 ids, else through the GIN index,
# intersected with the key range while that saves more heap visits than it costs), then
# those matches ranked by their vectors (the best page + 1 + 32), joined to records for the
# page only (ranked_ids_query).
WINDOW_SQL="SELECT array_agg(id ORDER BY id DESC) FROM (SELECT rs.record_id AS id FROM record_search rs WHERE rs.search @@ %L::tsquery AND rs.record_id%s >= %s ORDER BY rs.record_id DESC LIMIT 500) c"
PAGE_SQL="SELECT r.id, s.name AS source, r.oai_identifier, r.datestamp, r.deleted, r.sets, r.normalized, r.updated_at, m.rank FROM (SELECT * FROM (SELECT rs.record_id AS id, ts_rank(rs.search, %L::tsquery) AS rank FROM record_search rs WHERE rs.record_id = ANY(%L) AND rs.search @@ %L::tsquery) m ORDER BY m.rank DESC, m.id LIMIT 53) m JOIN records r ON r.id = m.id JOIN sources s ON s.id = r.source_id WHERE NOT r.deleted ORDER BY m.rank DESC, m.id LIMIT 21"

echo "== $N records in $DB ($(q -c "SELECT pg_size_pretty(pg_total_relation_size('records'))") records table, $(q -c "SELECT pg_size_pretty(pg_total_relation_size('record_search'))") record_search), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm the OS cache with the tables, their TOAST and the full-text index (the machine has
# the RAM for it), so the figures are of a warm server rather than of the disk.
q -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
  -c "SELECT pg_prewarm(c, 'read') FROM (VALUES ('records'::regclass), ((SELECT reltoastrelid FROM pg_class WHERE oid = 'records'::regclass)::regclass),
        ('record_search'::regclass), ((SELECT reltoastrelid FROM pg_class WHERE oid = 'record_search'::regclass)::regclass),
        ('records_search'::regclass)) v (c)" >/dev/null
if [[ $BENCH_SQL == 1 && $BENCH_SEARCH == 1 ]]; then
log "SQL search: $count queries"
q <<SQL
DROP TABLE IF EXISTS bench_timings;
CREATE TABLE bench_timings (i int PRIMARY KEY, ms float8 NOT NULL, floor_ms float8 NOT NULL, matches bigint);
DO \$\$
DECLARE
    t0 timestamptz; t1 timestamptz; r record; qq record; newest bigint; w bigint; found int; ids bigint[]; tsq text;
BEGIN
    FOR qq IN SELECT i, q FROM bench_queries ORDER BY i LOOP
        t0 := clock_timestamp();
        -- The words made a tsquery once, as search_records does.
        tsq := sheaf_search_query(qq.q)::text;
        SELECT max(record_id) INTO newest FROM record_search;
        PERFORM set_config('enable_seqscan', 'off', false);
        w := 2048;
        PERFORM set_config('work_mem', '32MB', false);
        LOOP
            PERFORM set_config('enable_indexscan', CASE WHEN w <= 8192 THEN 'on' ELSE 'off' END, false);
            PERFORM set_config('enable_bitmapscan', CASE WHEN w <= 8192 THEN 'off' ELSE 'on' END, false);
            -- + 0 (the index alone) when the key range would cost more than it saves
            EXECUTE format(\$f\$$WINDOW_SQL\$f\$, tsq,
                           CASE WHEN w > 8192 AND w / 8.0 >= 500.0 * newest / w THEN ' + 0' ELSE '' END,
                           newest - w + 1) INTO ids;
            found := coalesce(array_length(ids, 1), 0);
            EXIT WHEN found = 500 OR newest - w + 1 <= 1;
            w := CASE WHEN found = 0 THEN w * 8 ELSE greatest(500 * w / found * 5 / 4, w * 2) END;
        END LOOP;
        PERFORM set_config('enable_seqscan', 'on', false);
        PERFORM set_config('enable_indexscan', 'on', false);
        PERFORM set_config('enable_bitmapscan', 'on', false);
        PERFORM set_config('work_mem', '4MB', false);
        t1 := clock_timestamp();
        FOR r IN EXECUTE format(\$f\$$PAGE_SQL\$f\$, tsq, coalesce(ids, '{}'), tsq) LOOP NULL; END LOOP;
        INSERT INTO bench_timings VALUES (qq.i, extract(epoch FROM clock_timestamp() - t0) * 1000,
                                          extract(epoch FROM t1 - t0) * 1000);
    END LOOP;
END \$\$;
-- How many live records each query matches (not timed), with the query text as a literal:
-- as a parameter of a correlated subquery it would hide the GIN index.
DO \$\$
DECLARE qq record; n bigint;
BEGIN
    FOR qq IN SELECT i, q FROM bench_queries ORDER BY i LOOP
        EXECUTE format('SELECT count(*) FROM sheaf_api.records WHERE NOT deleted AND search @@ %L::tsquery',
                       sheaf_search_query(qq.q)::text) INTO n;
        UPDATE bench_timings SET matches = n WHERE i = qq.i;
    END LOOP;
END \$\$;
SQL
echo "sql q= search, first page (server-side, ms; floor = its first query; matches = live records matching):"
psql -X -q "$DB_URL" -c "SELECT coalesce(b.kind, 'all') AS queries, count(*) AS n,
        round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p50,
        round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p95,
        round(max(ms)::numeric, 1) AS max,
        round(percentile_cont(0.95) WITHIN GROUP (ORDER BY floor_ms)::numeric, 1) AS floor_p95,
        percentile_disc(0.5) WITHIN GROUP (ORDER BY matches) AS median_matches,
        max(matches) AS max_matches
    FROM bench_timings t JOIN bench_queries b USING (i) GROUP BY ROLLUP (b.kind) ORDER BY b.kind NULLS LAST"
fi

if [[ $BENCH_SQL == 1 && $BENCH_FEED == 1 ]]; then
log "SQL change feed: keyset pages of 1000 by change_seq, as GET /api/changes reads them"
q <<'SQL'
DO $$
DECLARE
    t0 timestamptz := clock_timestamp(); last bigint := 0; n bigint := 0; got int; secs float8; bytes bigint;
BEGIN
    LOOP
        -- The contract JSON as the API reads it (src/store/reads.rs, change_page); `|| ''`
        -- makes the server read the value itself, as sending it would, not just its length.
        SELECT count(*), max(change_seq), sum(octet_length(normalized || '')) INTO got, last, bytes FROM (
            SELECT r.change_seq, r.id, s.name AS source, r.oai_identifier, r.datestamp, r.deleted, r.sets,
                   CASE WHEN NOT r.deleted THEN COALESCE(r.normalized_text, r.normalized::text) END AS normalized,
                   r.updated_at
            FROM records r JOIN sources s ON s.id = r.source_id
            WHERE r.change_seq > last ORDER BY r.change_seq LIMIT 1000) p;
        EXIT WHEN got = 0;
        n := n + got;
    END LOOP;
    secs := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'sql change feed (stored text): % records in % s = % records/s', n, round(secs::numeric, 2), round(n / secs);
    -- The same pages with the jsonb rendered as text (the API before migration 0010).
    t0 := clock_timestamp(); last := 0; n := 0;
    LOOP
        SELECT count(*), max(change_seq), sum(octet_length(normalized::text)) INTO got, last, bytes FROM (
            SELECT r.change_seq, r.normalized FROM records r JOIN sources s ON s.id = r.source_id
            WHERE r.change_seq > last ORDER BY r.change_seq LIMIT 1000) p;
        EXIT WHEN got = 0;
        n := n + got;
    END LOOP;
    secs := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'sql change feed (jsonb rendered): % records in % s = % records/s', n, round(secs::numeric, 2), round(n / secs);
END $$;
SQL
if [[ $BENCH_COPY == 1 ]]; then
    log "psql change feed: the view's contract JSON streamed to a client (COPY)"
    t0=$(date +%s.%N)
    rows=$(psql -X -At "$DB_URL" -c "COPY (SELECT record FROM sheaf_api.records ORDER BY change_seq) TO STDOUT" | wc -l)
    t1=$(date +%s.%N)
    awk -v n="$rows" -v a="$t0" -v b="$t1" 'BEGIN { printf "psql COPY feed: %d records in %.2f s = %d records/s\n", n, b - a, n / (b - a) }'
fi
fi

# --- HTTP ---------------------------------------------------------------------------------------
if [[ $BENCH_HTTP == 1 ]]; then
    DATABASE_URL=$DB_URL SHEAF_LOG__LEVEL=warn "$BIN" serve --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null || true' EXIT
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/records?q=policy&limit=20")
    if [[ $status != 200 ]]; then
        echo "http: GET /api/records?q= answered $status; HTTP measurements skipped"
    else
        if [[ $BENCH_SEARCH == 1 ]]; then
        log "HTTP search: $count queries"
        # Each query asked twice, the second timed (curl: request to last byte).
        q -F $'\t' -c "SELECT kind, q FROM bench_queries ORDER BY i" | while IFS=$'\t' read -r kind query; do
            curl -s -o /dev/null -G "http://127.0.0.1:$PORT/api/records" \
                --data-urlencode "q=$query" --data-urlencode "limit=20"
            t=$(curl -s -o /dev/null -G -w '%{time_total}' "http://127.0.0.1:$PORT/api/records" \
                --data-urlencode "q=$query" --data-urlencode "limit=20")
            printf '%s\t%s\n' "$kind" "$t"
        done | awk -F'\t' '
            function pct(a, n, p) { return a[int(n * p + 0.5) < 1 ? 1 : int(n * p + 0.5)] }
            function report(name, list,    a, n, i) {
                n = split(list, a, " "); asort(a)
                printf "http q= search, %-16s %3d queries: p50 %7.1f ms, p95 %7.1f ms, max %7.1f ms\n",
                    name, n, pct(a, n, 0.5), pct(a, n, 0.95), a[n]
            }
            { ms = $2 * 1000; by[$1] = by[$1] " " ms; all = all " " ms }
            END { for (k in by) report(k, by[k]); report("all", all) }'
        fi
        if [[ $BENCH_FEED == 1 ]]; then
        for limit in $FEED_LIMITS; do
        log "HTTP change feed: GET /api/changes?since=...&limit=$limit following next_cursor"
        # Timed by curl (request to last byte); the cursor is cut from the body's end.
        since=0; total=0; secs=0; body=$(mktemp)
        t0=$(date +%s.%N)
        while :; do
            t=$(curl -sf -o "$body" -w '%{time_total}' "http://127.0.0.1:$PORT/api/changes?since=$since&limit=$limit")
            secs=$(awk -v a="$secs" -v b="$t" 'BEGIN { print a + b }')
            total=$((total + $(grep -o '"change_seq":' "$body" | wc -l)))
            since=$(tail -c 200 "$body" | grep -o '"next_cursor":"[0-9]*"' | grep -o '[0-9]*' || true)
            [[ -n $since ]] || break
        done
        t1=$(date +%s.%N)
        rm -f "$body"
        awk -v n="$total" -v s="$secs" -v a="$t0" -v b="$t1" -v l="$limit" 'BEGIN {
            printf "http change feed, pages of %d: %d records in %.2f s of requests = %d records/s (%.2f s wall with the client loop)\n", l, n, s, n / s, b - a }'
        done
        fi
    fi
fi
