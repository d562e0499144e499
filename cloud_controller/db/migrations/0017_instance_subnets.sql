-- VPC mode (docs/vpc.md): an instance launched into an account's own subnet
-- records that subnet and its VPC; its private address is the CLC's choice in
-- the subnet (EDGE instances keep NULL here and get theirs from the CC). One
-- address per subnet among instances that are not terminated.
ALTER TABLE instances ADD COLUMN subnet_id TEXT;
ALTER TABLE instances ADD COLUMN vpc_id TEXT;
CREATE UNIQUE INDEX instances_subnet_address ON instances(subnet_id, private_ip)
    WHERE subnet_id IS NOT NULL AND state <> 'terminated';
CREATE INDEX instances_subnet ON instances(subnet_id) WHERE subnet_id IS NOT NULL;
