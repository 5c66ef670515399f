-- The small columns of `records` are kept in their row (STORAGE MAIN) instead of in TOAST.
--
-- With `normalized_text` kept in the row (0010, ~2.5 KB), nearly every row is over the
-- 2 KB at which PostgreSQL starts moving values out of line, and it moves every EXTENDED
-- value larger than a TOAST pointer (18 bytes) before it compresses the MAIN one: the OAI
-- identifier, the set specs, the title, the DOI, the languages and types went to TOAST,
-- one index lookup and heap fetch each when read. The change feed spent half of
-- PostgreSQL's time per record there (docs/benchmarks.md, "Fourth round"); filters on
-- `languages`, `types` or `doi` paid it per candidate row. `raw_metadata` and `normalized`
-- stay EXTENDED: they are the large values that should go out of line.
--
-- New and updated rows follow the new setting; the next migration rewrites the rows
-- already stored.
ALTER TABLE records
    ALTER COLUMN oai_identifier SET STORAGE MAIN,
    ALTER COLUMN datestamp_raw SET STORAGE MAIN,
    ALTER COLUMN sets SET STORAGE MAIN,
    ALTER COLUMN title SET STORAGE MAIN,
    ALTER COLUMN doi SET STORAGE MAIN,
    ALTER COLUMN issued SET STORAGE MAIN,
    ALTER COLUMN languages SET STORAGE MAIN,
    ALTER COLUMN types SET STORAGE MAIN,
    ALTER COLUMN flags SET STORAGE MAIN,
    ALTER COLUMN work_key SET STORAGE MAIN,
    ALTER COLUMN content_hash SET STORAGE MAIN;
