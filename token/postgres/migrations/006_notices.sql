-- tokengate schema, version 6: notification claims (issue 13). Applied by
-- tern; a text/template, so it must not contain double braces.
--
-- One row per token and notice kind ("expiring:7d", "expired", "rejected"):
-- the instance that inserts (or takes over) the row sends the notice, so
-- several instances and restarts send each one once. sent_at NULL: claimed
-- by holder at claimed_at, not sent yet.

CREATE TABLE notices (
	token_id   text NOT NULL,
	kind       text NOT NULL,
	holder     text NOT NULL,
	claimed_at timestamptz NOT NULL,
	sent_at    timestamptz,
	PRIMARY KEY (token_id, kind)
);

-- ExpiringPage: unrevoked tokens expiring within a window, a page at a time.
CREATE INDEX tokens_expiring_idx ON tokens (expires_at, id COLLATE "C")
	WHERE revoked_at IS NULL AND expires_at IS NOT NULL;

---- create above / drop below ----

DROP INDEX tokens_expiring_idx;
DROP TABLE notices;
