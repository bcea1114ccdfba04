-- tokengate schema, version 3: the order in which tokens were added, for the
-- Validator's prefilter (token.Store.Digests). Applied by tern; a
-- text/template, so it must not contain double braces.
--
-- added_xid is the 64-bit id of the transaction that inserted the row. A
-- reader that takes pg_snapshot_xmin(pg_current_snapshot()) as its cursor
-- and next reads rows with added_xid >= cursor never misses a row whose
-- transaction was still in progress (unlike a bigserial or a timestamp,
-- which are assigned before commit, out of commit order). Rows from before
-- this version get 0: a full read covers them.

ALTER TABLE tokens ADD COLUMN added_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE tokens ALTER COLUMN added_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX tokens_added_xid_idx ON tokens (added_xid);

---- create above / drop below ----

DROP INDEX tokens_added_xid_idx;
ALTER TABLE tokens DROP COLUMN added_xid;
