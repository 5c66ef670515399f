-- no-transaction
-- Rewrites `records` so the rows stored before migration 0013 keep their small columns in
-- the row too (VACUUM FULL stores each value anew under the column's current storage).
-- It cannot run in a transaction, hence the directive above, nor beside another statement
-- (a multi-statement query is one implicit transaction), hence a file of its own. It holds
-- an exclusive lock on `records` while it copies the table: minutes for a million records
-- (README, "Upgrading").
VACUUM (FULL) records;
