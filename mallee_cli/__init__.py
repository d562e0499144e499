"""The `mallee` command and the one-host orchestration: the composition root.

This package sits on top of every tier and may reach each one, but only
through that tier's own entry points (its RPC client, its `sites`, its
documented functions); the shared library `mallee` imports none of it.
"""
