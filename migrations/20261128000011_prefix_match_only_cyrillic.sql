-- The Russian reading of a query matches Cyrillic lexemes as prefixes only.
--
-- Migration 0005 appended `:*` to every lexeme of the Russian reading, so that inflected
-- forms Snowball stems differently still meet (`полуостров` → `полуостр`, `полуострову`
-- → `полуостров`). The `russian` configuration stems Latin words with the English
-- stemmer, so English words became prefixes too: `war` found `warm` and `warsaw`, and every
-- English word was a partial-match scan of the GIN index, which for a common word was most
-- of a search's time on a million records (docs/benchmarks.md, "Query surfaces"). English
-- words are matched by their stem (the English and Russian readings agree on it) and by
-- the exact word (the `simple` reading), as for any other language.
CREATE OR REPLACE FUNCTION sheaf_search_query(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(websearch_to_tsquery('russian'::regconfig, q)::text,
                          '''((?:[^'']|'''')*[а-яё](?:[^'']|'''')*)''', '''\1'':*', 'g')::tsquery
        || websearch_to_tsquery('english'::regconfig, q)
        || websearch_to_tsquery('simple'::regconfig, q)
$$;
