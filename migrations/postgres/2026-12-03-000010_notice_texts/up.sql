-- A notice's texts, once per kind and month (issue 19). They are a function of the two (see
-- `notices::texts`), so a row per family repeated the same ≈ 410 bytes: a national issue wrote
-- 163 MB of notices for 333 000 families, a third of the issue's bytes. The text a month's notices
-- were first written with is kept here, so a later change of wording does not rewrite what was
-- shown. Rows of one kind and month written before now carry one text (the code's); MIN picks it.
CREATE TABLE notice_texts (
    kind TEXT NOT NULL,
    month TEXT NOT NULL,
    text TEXT NOT NULL,
    text_kk TEXT NOT NULL,
    PRIMARY KEY (kind, month)
);
INSERT INTO notice_texts (kind, month, text, text_kk)
SELECT kind, month, MIN(text), MIN(text_kk) FROM notices GROUP BY kind, month;
ALTER TABLE notices DROP COLUMN text;
ALTER TABLE notices DROP COLUMN text_kk;
