"""Numbered SQL migrations for the SC's sc.db (a package so wheels ship the .sql files)."""
