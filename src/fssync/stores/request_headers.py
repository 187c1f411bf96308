"""Extra request headers a plugin asks for (``fssync_request_headers``), as data.

A plugin says which headers go on a location's requests; it never touches a client. The hook
manager folds every plugin's answer into the storage options ``headers``, ``upload_headers`` and
``operation_headers``, which both S3 request paths (s3fs and the fast client) sign into their
requests, so one answer works on either path and a header cannot be honoured by one and
forgotten by the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from fssync.errors import UsageError
from fssync.stores.s3.meta import OPERATION_HEADERS, UPLOAD_OPERATIONS, header_problem

Pairs = tuple[tuple[str, str], ...]


def _pairs(given: Iterable[tuple[str, str]]) -> Pairs:
    return tuple((str(name), str(value)) for name, value in given)


def _operations(given: Mapping[str, Iterable[tuple[str, str]]]) -> Mapping[str, Pairs]:
    return {str(op): _pairs(pairs) for op, pairs in given.items()}


def _names(pairs: Pairs) -> str:
    return "(" + ", ".join(name for name, _ in pairs) + ")"


@attrs.frozen(repr=False)
class RequestHeaders:
    """Headers signed into a location's requests: on every request, on the requests that create
    an object only (``uploads``: PutObject, CreateMultipartUpload, CopyObject), or on named S3
    operations (botocore's names, e.g. ``{"GetObject": (...)}``).

    Values often are secrets (``x-amz-security-token``): the repr shows header names only.
    """

    every: Pairs = attrs.field(default=(), converter=_pairs)
    uploads: Pairs = attrs.field(default=(), converter=_pairs)
    operations: Mapping[str, Pairs] = attrs.field(factory=dict, converter=_operations)

    def __attrs_post_init__(self) -> None:
        groups = [("every", self.every), ("uploads", self.uploads)]
        groups += [(f"operations[{op!r}]", pairs) for op, pairs in self.operations.items()]
        for what, pairs in groups:
            problem = header_problem(pairs, f"request headers ({what})")
            if problem:
                raise UsageError(problem)

    def __repr__(self) -> str:
        ops = {op: _names(pairs) for op, pairs in self.operations.items()}
        return f"RequestHeaders(every={_names(self.every)}, uploads={_names(self.uploads)}, " + (
            f"operations={ops})"
        )

    def __bool__(self) -> bool:
        return bool(self.every or self.uploads or any(self.operations.values()))


def fold_into(
    options: dict[str, Any], answers: Iterable[RequestHeaders | None], protocol: str
) -> dict[str, Any]:
    """`options` with the hook's answers added to its header options (in the order given).

    A header name given twice for the same requests is a usage error: which value S3 would see
    depends on the request path, so neither is picked silently. Only S3 locations send them.
    """
    given = [a for a in answers if a is not None]
    for answer in given:
        if not isinstance(answer, RequestHeaders):
            raise UsageError(
                f"a plugin returned {type(answer).__name__} from fssync_request_headers; "
                "expected an fssync.plugin.RequestHeaders"
            )
    given = [a for a in given if a]  # an empty answer adds nothing
    if not given:
        return options
    if protocol != "s3":
        names = _names(tuple(p for a in given for p in (*a.every, *a.uploads)))
        raise UsageError(
            f"request headers {names} were given for a {protocol} location; only S3 locations "
            "send extra request headers"
        )
    every = [*_pairs(options.get("headers") or ())]
    uploads = [*_pairs(options.get("upload_headers") or ())]
    known = _operations(options.get(OPERATION_HEADERS) or {})
    operations = {op: [*pairs] for op, pairs in known.items()}
    for answer in given:
        every += answer.every
        uploads += answer.uploads
        for op, more in answer.operations.items():
            operations.setdefault(op, []).extend(more)
    _once([*every, *uploads], "every request and uploads")
    for op, extra in operations.items():
        _once([*every, *(uploads if op in UPLOAD_OPERATIONS else ()), *extra], op)
    out = dict(options)
    for key, value in (("headers", every), ("upload_headers", uploads)):
        if value:
            out[key] = tuple(value)
    if operations:
        out[OPERATION_HEADERS] = {op: tuple(pairs) for op, pairs in operations.items()}
    return out


def _once(pairs: list[tuple[str, str]], where: str) -> None:
    seen: set[str] = set()
    for name, _ in pairs:
        key = name.lower()
        if key in seen:
            raise UsageError(f"header {name} is given twice for {where}; give it once")
        seen.add(key)
