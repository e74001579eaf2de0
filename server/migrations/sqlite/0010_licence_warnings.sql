-- Version 10: warnings to admins as a licence nears its end (issue 12).
--
-- The last warning mailed for the installed licence, as `<licence id>:<stage>`
-- (stages: 30d, 7d, 1d, grace, lapsed). The janitor moves it forward with a
-- compare-and-set in the same transaction that queues the mails, so each
-- admin gets each warning once, whichever process or round gets there first.
-- A new licence has another id, so its warnings start again.
ALTER TABLE licences ADD COLUMN warned TEXT;
