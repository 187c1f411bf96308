"""fssync testing helpers."""
