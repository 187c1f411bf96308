"""Carry out a plan: bounded, retried copies and deletes, ranges, limits, backups."""
