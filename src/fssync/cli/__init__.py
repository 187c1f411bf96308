"""The command line: the entry point and the commands beside sync."""
