-- The number of objects (current versions, the rows of `objects`) for the metrics
-- (docs/metrics.md), kept by triggers in the very transaction that changes `objects`:
-- a scrape reads one row instead of counting the table, and no writer has to remember.
CREATE TABLE object_totals (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    objects  INTEGER NOT NULL
);
INSERT INTO object_totals VALUES (1, (SELECT count(*) FROM objects));

-- INSERT OR REPLACE removes the row it replaces without firing delete triggers
-- (recursive_triggers is off), so the BEFORE trigger takes that row off the count first.
CREATE TRIGGER object_totals_replace BEFORE INSERT ON objects BEGIN
    UPDATE object_totals SET objects = objects -
        (SELECT count(*) FROM objects WHERE bucket = NEW.bucket AND key = NEW.key);
END;
CREATE TRIGGER object_totals_insert AFTER INSERT ON objects BEGIN
    UPDATE object_totals SET objects = objects + 1;
END;
CREATE TRIGGER object_totals_delete AFTER DELETE ON objects BEGIN
    UPDATE object_totals SET objects = objects - 1;
END;
