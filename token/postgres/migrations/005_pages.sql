-- tokengate schema, version 5: keyset pagination of the token list (issue
-- 14). Applied by tern; a text/template, so it must not contain double
-- braces.
--
-- ListPage orders unrevoked tokens by id in byte order (COLLATE "C", as Go
-- compares strings), of everybody or of one owner, and seeks past a cursor.

CREATE INDEX tokens_unrevoked_id_idx ON tokens (id COLLATE "C") WHERE revoked_at IS NULL;
CREATE INDEX tokens_owner_id_idx ON tokens (owner, id COLLATE "C") WHERE revoked_at IS NULL;

---- create above / drop below ----

DROP INDEX tokens_owner_id_idx;
DROP INDEX tokens_unrevoked_id_idx;
