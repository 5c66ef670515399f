-- A query's Cyrillic prefixes are expanded into the exact lexemes of the index.
--
-- The Russian reading matches Cyrillic stems as prefixes (`'медицин':*`, migrations 0005 and
-- 0011), because Snowball stems inflected forms differently. GIN reads a prefix entry whole:
-- every posting list of every lexeme with that prefix goes into a bitmap before anything
-- else, so a common word costs its whole posting list (44.5 ms of a 1038-match query on 1M
-- records, against 2.8 ms with the word as an exact entry, which GIN can skip through to the
-- other word's matches; docs/benchmarks.md, "Fourth round"). And a bitmap that outgrows
-- work_mem turns lossy, where PostgreSQL 15 was seen to lose matches: `Развитие Государство`
-- counted 50,428 records with the default 4 MB, 50,469 with 64 MB.
--
-- `search_lexemes` holds every Cyrillic lexeme the index has held (the search indexer adds
-- those of each vector it writes, in the same transaction; none is ever removed, so it is a
-- superset). A prefix with at most 32 such lexemes becomes their disjunction, the same
-- matches as the prefix; a prefix with more keeps `:*`.
CREATE TABLE search_lexemes (
    lexeme text COLLATE "C" PRIMARY KEY
);

INSERT INTO search_lexemes
SELECT DISTINCT u.lexeme FROM record_search, unnest(search) u WHERE u.lexeme ~ '[а-яё]';

-- STABLE now that it reads a table; SECURITY DEFINER so that `sheaf_reader`, which may read
-- only `sheaf_api`, can still search.
CREATE OR REPLACE FUNCTION sheaf_search_query(q text) RETURNS tsquery
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    rest text := websearch_to_tsquery('russian'::regconfig, q)::text;
    out text := '';
    pos int;
    tok text;
    lex text;
    alts text;
    n int;
BEGIN
    -- The reading's text is quoted lexemes ('…', a quote inside doubled) between operators;
    -- each Cyrillic one is replaced, everything else is copied.
    LOOP
        pos := strpos(rest, '''');
        EXIT WHEN pos = 0;
        out := out || left(rest, pos - 1);
        rest := substr(rest, pos);
        tok := substring(rest FROM '^''((?:[^'']|'''')*)''');
        IF tok IS NULL THEN
            EXIT;
        END IF;
        rest := substr(rest, length(tok) + 3);
        IF tok !~ '[а-яё]' THEN
            out := out || '''' || tok || '''';
            CONTINUE;
        END IF;
        lex := replace(tok, '''''', '''');
        SELECT count(*), string_agg('''' || replace(replace(l, '\', '\\'), '''', '''''') || '''', ' | ')
          INTO n, alts
          FROM (SELECT lexeme AS l FROM search_lexemes
                 WHERE lexeme >= lex COLLATE "C" AND lexeme < (lex || chr(1114111)) COLLATE "C"
                 ORDER BY lexeme LIMIT 33) x;
        IF n = 0 THEN
            out := out || '''' || tok || '''';  -- no lexeme has the prefix: matches nothing
        ELSIF n <= 32 THEN
            out := out || '(' || alts || ')';
        ELSE
            out := out || '''' || tok || ''':*';
        END IF;
    END LOOP;
    out := out || rest;
    RETURN out::tsquery
        || websearch_to_tsquery('english'::regconfig, q)
        || websearch_to_tsquery('simple'::regconfig, q);
END
$$;

CREATE OR REPLACE FUNCTION sheaf_api.search_query(q text) RETURNS tsquery
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sheaf_search_query(q)
$$;
