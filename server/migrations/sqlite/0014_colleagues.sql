-- Version 14 (issue 13): users of one organisation send to each other's keys.
-- docs/inbound.md, "Packages to colleagues".

-- A package whose blobs the sender also encrypted to colleagues' recipients
-- (recipients of the package who are users of its organisation with a key):
-- it is in their inboxes while it lives, opened with their own key. The
-- recipient is the key the server found current when the package was made.
CREATE TABLE package_receivers (
    package_id  TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    recipient   TEXT NOT NULL,
    PRIMARY KEY (package_id, user_id)
);
CREATE INDEX package_receivers_by_user ON package_receivers (user_id);
-- packages.received_at is set at finalize for such a package too (the
-- inbox orders by it); a package without receivers keeps it NULL.
