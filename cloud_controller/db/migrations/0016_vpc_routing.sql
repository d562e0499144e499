-- VPC mode's routing resources (docs/vpc.md): internet gateways, route tables
-- (their associations and routes), NAT gateways and DHCP option sets of the
-- accounts' own VPCs. The default VPC's parts stay derived (services/vpcs.py).

CREATE TABLE internet_gateways (
    id          TEXT PRIMARY KEY,               -- igw-...
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    vpc_id      TEXT REFERENCES vpcs(id),       -- attached to, or NULL
    outside_ip  TEXT UNIQUE,                    -- the gateway port's address while attached
    created_at  REAL NOT NULL
);
CREATE UNIQUE INDEX internet_gateways_vpc ON internet_gateways(vpc_id)
    WHERE vpc_id IS NOT NULL;
CREATE INDEX internet_gateways_account ON internet_gateways(account_id, id);

CREATE TABLE route_tables (
    id           TEXT PRIMARY KEY,              -- rtb-...
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    vpc_id       TEXT NOT NULL REFERENCES vpcs(id),
    client_token TEXT,                          -- CreateRouteTable's ClientToken
    created_at   REAL NOT NULL,
    UNIQUE (account_id, client_token)
);
CREATE INDEX route_tables_vpc ON route_tables(vpc_id);
CREATE INDEX route_tables_account ON route_tables(account_id, id);

-- A subnet's table (subnet_id set) or the VPC's main table (subnet_id NULL).
CREATE TABLE route_table_associations (
    id              TEXT PRIMARY KEY,           -- rtbassoc-...
    route_table_id  TEXT NOT NULL REFERENCES route_tables(id),
    vpc_id          TEXT NOT NULL REFERENCES vpcs(id),
    subnet_id       TEXT REFERENCES subnets(id)
);
CREATE UNIQUE INDEX route_table_associations_subnet ON route_table_associations(subnet_id)
    WHERE subnet_id IS NOT NULL;
CREATE UNIQUE INDEX route_table_associations_main ON route_table_associations(vpc_id)
    WHERE subnet_id IS NULL;
CREATE INDEX route_table_associations_table ON route_table_associations(route_table_id);

-- Routes other than the implicit `local` one (the VPC's CIDR).
CREATE TABLE routes (
    route_table_id  TEXT NOT NULL REFERENCES route_tables(id),
    destination     TEXT NOT NULL,              -- an IPv4 CIDR
    target_kind     TEXT NOT NULL CHECK (target_kind IN
                        ('gateway', 'nat-gateway', 'instance', 'network-interface')),
    target_id       TEXT NOT NULL,
    origin          TEXT NOT NULL DEFAULT 'CreateRoute',
    PRIMARY KEY (route_table_id, destination)
);

CREATE TABLE nat_gateways (
    id             TEXT PRIMARY KEY,            -- nat-...
    account_id     TEXT NOT NULL REFERENCES accounts(id),
    vpc_id         TEXT NOT NULL,               -- kept after the VPC (deleted rows)
    subnet_id      TEXT NOT NULL,               -- kept after the subnet (deleted rows)
    allocation_id  TEXT NOT NULL,               -- eipalloc-...
    public_ip      TEXT NOT NULL,
    private_ip     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN
                       ('pending', 'available', 'deleting', 'deleted', 'failed')),
    failure_code   TEXT,
    failure_message TEXT,
    client_token   TEXT,                        -- CreateNatGateway's ClientToken
    created_at     REAL NOT NULL,
    deleted_at     REAL,
    UNIQUE (account_id, client_token)
);
-- An elastic IP serves one live NAT gateway.
CREATE UNIQUE INDEX nat_gateways_allocation ON nat_gateways(allocation_id)
    WHERE state IN ('pending', 'available', 'deleting');
CREATE INDEX nat_gateways_account ON nat_gateways(account_id, id);

CREATE TABLE dhcp_options (
    id          TEXT PRIMARY KEY,               -- dopt-...
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    config      TEXT NOT NULL,                  -- JSON: [[key, [values...]], ...]
    created_at  REAL NOT NULL
);
CREATE INDEX dhcp_options_account ON dhcp_options(account_id, id);

-- An own VPC's option set: NULL is `default` (AmazonProvidedDNS), as in EC2.
ALTER TABLE vpcs ADD COLUMN dhcp_options_id TEXT REFERENCES dhcp_options(id);
