-- VPC mode (docs/vpc.md): an account may have VPCs and subnets of its own
-- beside its default VPC, so the one-per-account and one-per-zone constraints
-- go (the default ones stay unique through partial indexes). The tables are
-- rebuilt because sqlite cannot drop a table constraint.
CREATE TABLE vpcs_v2 (
    id          TEXT PRIMARY KEY,               -- vpc-...
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    cidr        TEXT NOT NULL,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL
);
INSERT INTO vpcs_v2 (id, account_id, cidr, is_default, created_at)
    SELECT id, account_id, cidr, 1, created_at FROM vpcs;

CREATE TABLE subnets_v2 (
    id                   TEXT PRIMARY KEY,      -- subnet-...
    account_id           TEXT NOT NULL REFERENCES accounts(id),
    vpc_id               TEXT NOT NULL REFERENCES vpcs_v2(id),
    zone                 TEXT NOT NULL,
    cidr                 TEXT NOT NULL,
    is_default           INTEGER NOT NULL DEFAULT 0,
    map_public_ip        INTEGER NOT NULL DEFAULT 0,  -- MapPublicIpOnLaunch
    created_at           REAL NOT NULL
);
INSERT INTO subnets_v2 (id, account_id, vpc_id, zone, cidr, is_default, created_at)
    SELECT id, account_id, vpc_id, zone, cidr, 1, created_at FROM subnets;

DROP TABLE subnets;
DROP TABLE vpcs;
ALTER TABLE vpcs_v2 RENAME TO vpcs;
ALTER TABLE subnets_v2 RENAME TO subnets;
CREATE UNIQUE INDEX vpcs_default ON vpcs(account_id) WHERE is_default = 1;
CREATE INDEX vpcs_account ON vpcs(account_id, id);
CREATE UNIQUE INDEX subnets_default ON subnets(account_id, zone) WHERE is_default = 1;
CREATE INDEX subnets_vpc ON subnets(vpc_id, id);
