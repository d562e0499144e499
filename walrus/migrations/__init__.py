"""Numbered SQL migrations for walrus.db (a package so wheels ship the .sql files)."""
