-- tokengate schema, version 8: drop tokens_owner_unrevoked_idx. It indexes
-- (owner) WHERE revoked_at IS NULL, a prefix of tokens_owner_id_idx (005:
-- (owner, id) with the same predicate), which serves every query it served.
-- Every change of expires_at (a cap, for one) rewrites each index entry of
-- the row, so one index fewer is one write fewer per capped token.
-- Applied by tern; a text/template, so it must not contain double braces.

DROP INDEX tokens_owner_unrevoked_idx;

---- create above / drop below ----

CREATE INDEX tokens_owner_unrevoked_idx ON tokens (owner) WHERE revoked_at IS NULL;
