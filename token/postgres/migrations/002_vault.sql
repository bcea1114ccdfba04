-- tokengate schema, version 2: the vault. Applied by tern; a text/template,
-- so it must not contain double braces.
--
-- One row per person and kind of upstream credential (a Jira API token, a
-- Jira app's token). ciphertext is the XChaCha20-Poly1305 nonce followed by
-- the sealed secret; the key never reaches the database. kind sorts bytewise
-- (COLLATE "C") so that VaultSecrets' order does not depend on the locale.

CREATE TABLE vault_secrets (
	owner      text NOT NULL CONSTRAINT vault_secrets_owner_set CHECK (owner <> ''),
	kind       text COLLATE "C" NOT NULL CONSTRAINT vault_secrets_kind_set CHECK (kind <> ''),
	ciphertext bytea NOT NULL CONSTRAINT vault_secrets_ciphertext_set CHECK (octet_length(ciphertext) > 0),
	hint       text NOT NULL DEFAULT '',
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (owner, kind)
);

---- create above / drop below ----

DROP TABLE vault_secrets;
