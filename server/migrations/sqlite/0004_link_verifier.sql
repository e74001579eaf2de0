-- Version 4: the link verifier SHA-256(A_L), set when the sender finalizes
-- (issue 10, docs/architecture.md §3 link proof). It lets a recipient who
-- holds the link see who sent the package before being asked for anything.
-- Packages finalized before this version have none: they show no sender.
ALTER TABLE packages ADD COLUMN link_verifier BLOB;
