"""Mallee's shared package: what every tier uses (settings, auth, RPC, XML, ids)."""
