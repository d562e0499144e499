"""Shared fixtures live in the conftest files beside the tests; helpers in
modules of this package (tests.harness, tests.api.walrus.helpers, ...)."""
