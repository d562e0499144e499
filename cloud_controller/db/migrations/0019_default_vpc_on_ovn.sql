-- VPC mode (docs/vpc.md "The default VPC"): an account's default VPC becomes a
-- real VPC on OVN, with parts of its own (main route table, internet gateway,
-- default network ACL), the first time the account needs it. on_ovn marks the
-- VPC (and so its default subnets) as made so: set in the unit that makes the
-- parts, so a restart or a second request never makes them twice. In edge mode
-- it stays 0 and the default VPC is EDGE's facade, as before.
ALTER TABLE vpcs ADD COLUMN on_ovn INTEGER NOT NULL DEFAULT 0;
