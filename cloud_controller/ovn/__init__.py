"""The CLC's side of OVN (VPC mode, docs/vpc.md): writing the VPC model to
OVN's northbound database. Below the services: it knows OVN, not EC2's
rules, and imports no service and no repository."""
