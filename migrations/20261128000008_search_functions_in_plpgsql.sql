-- The search vector's helper functions, rewritten in PL/pgSQL with the same results.
--
-- As LANGUAGE sql functions holding sub-SELECTs they were never inlined, and the generated
-- column re-parsed and re-planned their bodies ten times per stored record: ~40% of the
-- database's time during a harvest (docs/benchmarks.md, "End-to-end harvest"). PL/pgSQL
-- caches the plans per session. The vectors are identical, so stored rows need no rewrite.

CREATE OR REPLACE FUNCTION sheaf_lang_texts(items jsonb, bucket text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    e jsonb;
    lang text;
    keep boolean;
    parts text[] := '{}';
BEGIN
    IF jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
        RETURN '';
    END IF;
    FOR e IN SELECT value FROM jsonb_array_elements(items) LOOP
        lang := e->>'lang';
        keep := CASE bucket
                    WHEN 'ru' THEN lang = 'ru'
                    WHEN 'en' THEN lang = 'en'
                    ELSE lang IS NULL OR lang NOT IN ('ru', 'en')
                END;
        IF keep AND e->>'value' IS NOT NULL THEN
            parts := parts || (e->>'value');
        END IF;
    END LOOP;
    RETURN array_to_string(parts, ' ');
END
$$;

CREATE OR REPLACE FUNCTION sheaf_lang_vector(items jsonb, weight "char") RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN setweight(to_tsvector('russian'::regconfig, sheaf_lang_texts(items, 'ru')), weight)
        || setweight(to_tsvector('english'::regconfig, sheaf_lang_texts(items, 'en')), weight)
        || setweight(to_tsvector('simple'::regconfig, sheaf_lang_texts(items, 'other')), weight);
END
$$;

CREATE OR REPLACE FUNCTION sheaf_search_vector(doc jsonb) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    p jsonb;
    names text[] := '{}';
BEGIN
    IF jsonb_typeof(doc->'creators') = 'array' THEN
        FOR p IN SELECT value FROM jsonb_array_elements(doc->'creators') LOOP
            IF p->>'name' IS NOT NULL THEN
                names := names || (p->>'name');
            END IF;
        END LOOP;
    END IF;
    RETURN sheaf_lang_vector(doc->'titles', 'A')
        || sheaf_lang_vector(doc->'subjects', 'B')
        || setweight(to_tsvector('simple'::regconfig, array_to_string(names, ' ')), 'B')
        || sheaf_lang_vector(doc->'descriptions', 'C');
END
$$;
