"""DNS names of instance addresses, as EC2 forms them (shared by CLC and CC)."""
from __future__ import annotations


def private_dns_name(ip: str | None, region: str) -> str:
    """ip-10-64-0-5.<region>.compute.internal; "" without an address."""
    return f"ip-{ip.replace('.', '-')}.{region}.compute.internal" if ip else ""


def public_dns_name(ip: str | None, region: str) -> str:
    """ec2-198-51-100-10.<region>.compute.external; "" without an address."""
    return f"ec2-{ip.replace('.', '-')}.{region}.compute.external" if ip else ""
