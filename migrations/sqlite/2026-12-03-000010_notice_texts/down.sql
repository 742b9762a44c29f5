ALTER TABLE notices ADD COLUMN text TEXT NOT NULL DEFAULT '';
ALTER TABLE notices ADD COLUMN text_kk TEXT NOT NULL DEFAULT '';
UPDATE notices SET
    text = (SELECT t.text FROM notice_texts t WHERE t.kind = notices.kind AND t.month = notices.month),
    text_kk = (SELECT t.text_kk FROM notice_texts t WHERE t.kind = notices.kind AND t.month = notices.month);
DROP TABLE notice_texts;
