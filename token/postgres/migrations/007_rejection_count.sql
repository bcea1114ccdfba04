-- tokengate schema, version 7: a rejection counts the identical refused
-- attempts it stands for (the write-behind coalesces them per flush).
-- Applied by tern; a text/template, so it must not contain double braces.
-- Rows of earlier versions stood for one attempt each.

ALTER TABLE rejections ADD COLUMN count integer NOT NULL DEFAULT 1
	CONSTRAINT rejections_count_positive CHECK (count >= 1);

---- create above / drop below ----

ALTER TABLE rejections DROP COLUMN count;
