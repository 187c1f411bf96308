"""The filter rules' human units come from fssync.settings.units, the same parsers the core uses."""

from fssync.plugin import parse_age, parse_duration, parse_size

__all__ = ["parse_age", "parse_duration", "parse_size"]
