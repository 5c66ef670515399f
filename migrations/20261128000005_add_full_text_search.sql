-- Full-text search over titles, keywords, creators and abstracts.
--
-- Each text is indexed with the stemmer of its own language (`lang` in the normalized
-- JSON): Russian, English, else `simple`. The `russian` configuration also stems Latin
-- words with the English stemmer, so mixed records stay findable. The vector is a stored
-- generated column, so every write path (harvest upsert, re-normalization) keeps it in step
-- without application code. Weights: titles A, keywords and creators B, abstracts C.

-- Texts of one JSON array of {value, lang} objects in one language bucket.
CREATE FUNCTION sheaf_lang_texts(items jsonb, bucket text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(e->>'value', ' '), '')
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(items) = 'array' THEN items ELSE '[]'::jsonb END) AS e
    WHERE CASE bucket
        WHEN 'ru' THEN e->>'lang' = 'ru'
        WHEN 'en' THEN e->>'lang' = 'en'
        ELSE e->>'lang' IS NULL OR e->>'lang' NOT IN ('ru', 'en')
    END
$$;

-- One weighted vector for a {value, lang} array, each language with its own stemmer.
CREATE FUNCTION sheaf_lang_vector(items jsonb, weight "char") RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('russian'::regconfig, sheaf_lang_texts(items, 'ru')), weight)
        || setweight(to_tsvector('english'::regconfig, sheaf_lang_texts(items, 'en')), weight)
        || setweight(to_tsvector('simple'::regconfig, sheaf_lang_texts(items, 'other')), weight)
$$;

-- The search vector of a normalized record (NULL-safe: tombstones give an empty vector).
CREATE FUNCTION sheaf_search_vector(doc jsonb) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sheaf_lang_vector(doc->'titles', 'A')
        || sheaf_lang_vector(doc->'subjects', 'B')
        || setweight(to_tsvector('simple'::regconfig, coalesce((
               SELECT string_agg(p->>'name', ' ')
               FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc->'creators') = 'array'
                                              THEN doc->'creators' ELSE '[]'::jsonb END) AS p
           ), '')), 'B')
        || sheaf_lang_vector(doc->'descriptions', 'C')
$$;

-- A user's query (web-search syntax: words, "phrases", -not, or) read in each language;
-- a record matches when any reading matches. Russian lexemes match as prefixes: Snowball
-- stems inflected forms of one word differently (`полуостров` → `полуостр`, but
-- `полуострову` → `полуостров`), so "Корейский полуостров" must also find "к Корейскому
-- полуострову".
CREATE FUNCTION sheaf_search_query(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(websearch_to_tsquery('russian'::regconfig, q)::text,
                          '''((?:[^'']|'''')+)''', '''\1'':*', 'g')::tsquery
        || websearch_to_tsquery('english'::regconfig, q)
        || websearch_to_tsquery('simple'::regconfig, q)
$$;

ALTER TABLE records
    ADD COLUMN search tsvector GENERATED ALWAYS AS (sheaf_search_vector(normalized)) STORED;

CREATE INDEX records_search ON records USING GIN (search);
