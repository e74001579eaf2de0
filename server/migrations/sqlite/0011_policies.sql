-- Version 11: the organisation's policy (issue 12), one row per version an
-- admin saved: the whole document (kluis_policy::Policy as JSON), who saved
-- it and when. The current policy is the highest version; an organisation
-- without a row has the server's [policy]. Versions are kept, so the
-- console can show what each change changed.
CREATE TABLE policies (
    org_id    INTEGER NOT NULL REFERENCES organisation(id),
    version   INTEGER NOT NULL,
    document  TEXT NOT NULL,
    saved_at  INTEGER NOT NULL,
    saved_by  TEXT NOT NULL,
    PRIMARY KEY (org_id, version)
);
