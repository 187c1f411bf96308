"""The plugin-facing API: everything a plugin may import from fssync, in one module.

A plugin imports ``fssync`` (the public API: `sync`, `Entry`, `Report`, ...) and this module,
nothing else: every other module of the package is internal and may change in any release
(docs/reference/python-api.md lists them). What is here, beyond `fssync`'s own names:

- secrets: `register` a value so it is redacted from all output, `scrub` a text, and
  `redact_options` for a mapping of options;
- units: the size and duration parsers the core uses (`parse_size`, `parse_duration`,
  `parse_age`), and argparse types made of any parser that raises ValueError: `checked`
  keeps the option's text, `converted` gives the parsed value;
- stores, for a plugin that serves a location (``fssync_open_store``): the `Store` and `Reader`
  base classes, `Listing`, the declared `Operations` and `Features`, `Stated` (what a reader knows of its file), `PositionalWriter` (what
  ``Store.write_ranged`` hands the ranged download of a store that declares positional
  writes), the errors that make a transfer retried, and the S3 layer both S3 request paths share: `S3ObjectStore` over an
  `S3Transport` (`s3objects`), and `s3meta`, `s3pages`, `resume`, `httplog`, `unconfirmed_put`,
  `abort_twins`, `KeySource`;
- headers: `RequestHeaders`, the answer of ``fssync_request_headers`` (extra headers both S3
  request paths sign into a location's requests);
- retries: `RetryPolicy`, the run's one retry policy (`RetryPolicy.from_config(config)`), which
  a store that makes its own requests follows for its request-level retries, and
  `throttled`, whether an error answer asks to slow down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fssync import __all__ as _public

if TYPE_CHECKING:
    from fssync import *  # noqa: F403 - the public API is part of the plugin API
    from fssync.content.integrity import ChecksumMismatch, IntegrityError, mismatch
    from fssync.settings.secrets import redact_options, register, scrub
    from fssync.settings.units import checked, converted, parse_age, parse_duration, parse_size
    from fssync.state.leftovers import abort_twins
    from fssync.stores import (
        Features,
        Listing,
        ListingProgress,
        Operations,
        PositionalWriter,
        RangeIgnored,
        RangeSink,
        Reader,
        S3ObjectStore,
        S3Transport,
        Stalled,
        Stated,
        Store,
        httplog,
        known_md5,
        resume,
        s3meta,
        s3objects,
        s3pages,
        source_mtime_ns,
        unconfirmed_put,
        unsafe_reason,
    )
    from fssync.stores.features import S3 as S3_OPERATIONS
    from fssync.stores.request_headers import RequestHeaders
    from fssync.stores.s3.keys import EXPIRED_CODES, KeySource
    from fssync.transfer.retrying import RetryPolicy, throttled

# Loaded on first use, as `fssync` itself does: a plugin that registers a secret does not load
# the S3 layer, and a local run does not build its data classes.
_FROM = {
    "settings.secrets": ("redact_options", "register", "scrub"),
    "transfer.retrying": ("RetryPolicy", "throttled"),
    "stores.request_headers": ("RequestHeaders",),
    "settings.units": ("checked", "converted", "parse_age", "parse_duration", "parse_size"),
    "stores": [
        "Features",
        "Listing",
        "ListingProgress",
        "Operations",
        "PositionalWriter",
        "RangeIgnored",
        "RangeSink",
        "Reader",
        "S3ObjectStore",
        "S3Transport",
        "Stalled",
        "Stated",
        "Store",
        "httplog",
        "known_md5",
        "resume",
        "s3meta",
        "s3objects",
        "s3pages",
        "source_mtime_ns",
        "unconfirmed_put",
        "unsafe_reason",
        "ChecksumMismatch",
        "IntegrityError",
        "mismatch",
        "abort_twins",
        "KeySource",
        "EXPIRED_CODES",
    ],
}
_EXPORTS = {name: module for module, names in _FROM.items() for name in names}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "S3_OPERATIONS":
        value = importlib.import_module(".stores.features", __package__).S3
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __package__), name)
    elif name in _public:
        value = getattr(importlib.import_module(__package__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    *_public,
    "EXPIRED_CODES",
    "ChecksumMismatch",
    "Features",
    "IntegrityError",
    "KeySource",
    "Listing",
    "ListingProgress",
    "Operations",
    "PositionalWriter",
    "RangeIgnored",
    "RangeSink",
    "RequestHeaders",
    "Reader",
    "RetryPolicy",
    "S3ObjectStore",
    "S3Transport",
    "S3_OPERATIONS",
    "Stalled",
    "Stated",
    "Store",
    "abort_twins",
    "checked",
    "converted",
    "httplog",
    "known_md5",
    "mismatch",
    "parse_age",
    "parse_duration",
    "parse_size",
    "redact_options",
    "register",
    "resume",
    "s3meta",
    "s3objects",
    "s3pages",
    "scrub",
    "source_mtime_ns",
    "throttled",
    "unconfirmed_put",
    "unsafe_reason",
]
