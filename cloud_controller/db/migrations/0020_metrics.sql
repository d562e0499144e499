-- CloudWatch metrics (docs/metrics.md, "CloudWatch"). A series is one account's
-- metric: namespace, name and dimensions (canonical JSON: [[name, value], ...]
-- sorted by name); AWS/EC2 series come from the nodes' guest samples, others
-- from PutMetricData. Its points are statistic sets (count, sum, min, max) per
-- unit per period: 60-second points kept a day, 3600-second points (rolled up
-- as the 60-second ones are written) kept 30 days.
-- metric_acks: the last CC sample stored per cluster, written in the same
-- transaction as its points, so a CC's resend after a CLC restart is not
-- counted twice.

CREATE TABLE metric_series (
    id          INTEGER PRIMARY KEY,
    account_id  TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    dimensions  TEXT NOT NULL,
    last_at     REAL NOT NULL,           -- the newest point's time (ListMetrics)
    UNIQUE (account_id, namespace, name, dimensions)
);

CREATE TABLE metric_points (
    series_id     INTEGER NOT NULL REFERENCES metric_series(id) ON DELETE CASCADE,
    period        INTEGER NOT NULL,      -- 60 or 3600
    at            INTEGER NOT NULL,      -- the period's start, Unix seconds
    unit          TEXT NOT NULL,
    sample_count  REAL NOT NULL,
    sum           REAL NOT NULL,
    minimum       REAL NOT NULL,
    maximum       REAL NOT NULL,
    PRIMARY KEY (series_id, period, at, unit)
) WITHOUT ROWID;

CREATE INDEX metric_points_age ON metric_points (period, at);

CREATE TABLE metric_acks (
    cluster  TEXT PRIMARY KEY,
    epoch    TEXT NOT NULL,
    seq      INTEGER NOT NULL
);
