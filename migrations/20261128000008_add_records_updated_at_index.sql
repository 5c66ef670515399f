-- The /oai provider's datestamp is records.updated_at: its earliestDatestamp is min(updated_at)
-- and every selective list filters on it; without an index both scan the whole table.
CREATE INDEX records_updated_at ON records (updated_at, id);
