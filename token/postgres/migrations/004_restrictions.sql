-- tokengate schema, version 4: per-token restrictions (issue 9). Applied by
-- tern; a text/template, so it must not contain double braces.
--
-- allowed_ips: when not empty, the only client addresses (masked CIDR
-- ranges, a single address as /32 or /128) the token is accepted from, in
-- the order the person gave them. scopes: when not empty, the names of the
-- only scopes (defined in tokengate_auth) the token reaches, sorted. Both
-- are fixed at creation. Rows from before this version, and legacy tokens,
-- get '{}': unrestricted, as they were.

ALTER TABLE tokens ADD COLUMN allowed_ips cidr[] NOT NULL DEFAULT '{}';
ALTER TABLE tokens ADD COLUMN scopes text[] NOT NULL DEFAULT '{}';

---- create above / drop below ----

ALTER TABLE tokens DROP COLUMN scopes;
ALTER TABLE tokens DROP COLUMN allowed_ips;
