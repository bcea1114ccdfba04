-- tokengate schema, version 1. Applied by tern (github.com/jackc/tern/v2/migrate);
-- the file is a text/template, so it must not contain double braces.

CREATE TABLE tokens (
	id              text PRIMARY KEY,
	owner           text NOT NULL,
	label           text NOT NULL,
	digest          bytea NOT NULL CONSTRAINT tokens_digest_key UNIQUE
	                CONSTRAINT tokens_digest_length CHECK (octet_length(digest) = 32),
	hint            text NOT NULL DEFAULT '',
	created_at      timestamptz,          -- NULL: legacy token
	expires_at      timestamptz,          -- NULL: never expires
	revoked_at      timestamptz,          -- NULL: not revoked
	revoked_by      text NOT NULL DEFAULT '',
	last_used_at    timestamptz,
	last_used_ip    text NOT NULL DEFAULT '',
	last_used_agent text NOT NULL DEFAULT ''
);

-- Listing and counting a person's unrevoked tokens.
CREATE INDEX tokens_owner_unrevoked_idx ON tokens (owner) WHERE revoked_at IS NULL;
-- HasLegacy.
CREATE INDEX tokens_legacy_idx ON tokens (id) WHERE created_at IS NULL AND revoked_at IS NULL;

CREATE TABLE events (
	id       bigserial PRIMARY KEY,
	at       timestamptz NOT NULL,
	kind     text NOT NULL,
	actor    text NOT NULL,
	owner    text NOT NULL DEFAULT '',
	token_id text NOT NULL DEFAULT '',
	label    text NOT NULL DEFAULT '',
	detail   text NOT NULL DEFAULT ''
);

CREATE INDEX events_at_idx ON events (at DESC, id DESC);
CREATE INDEX events_owner_idx ON events (owner, at DESC, id DESC);

CREATE TABLE rejections (
	id       bigserial PRIMARY KEY,
	owner    text NOT NULL,
	token_id text NOT NULL,
	label    text NOT NULL DEFAULT '',
	at       timestamptz NOT NULL,
	ip       text NOT NULL DEFAULT '',
	agent    text NOT NULL DEFAULT '',
	reason   text NOT NULL
);

CREATE INDEX rejections_owner_idx ON rejections (owner, at DESC, id DESC);

---- create above / drop below ----

DROP TABLE rejections;
DROP TABLE events;
DROP TABLE tokens;
