"""fssync testing helpers for plugin authors: `capture_events()` records what a run reports.

The S3 test servers live in `fssync.testing.servers` (they need boto3 and moto or SeaweedFS).
"""

from fssync.testing.events import Captured, capture_events

__all__ = ["Captured", "capture_events"]
