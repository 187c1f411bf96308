"""AWS Signature Version 4 for S3 requests, with nothing but hashlib and hmac.

Why not botocore's signer: it walks an event system and builds request objects on every call,
which costs more CPU than the request itself for a small object. The algorithm is short and
public; ``tests/test_s3_fast.py`` checks this code against botocore's signer on fixed inputs,
``tests/test_sigv4_property.py`` on random ones.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_SAFE = "-_.~"  # with letters and digits: the unreserved characters SigV4 leaves as they are
# Sent but never signed, as botocore does: hop-by-hop headers a proxy may drop or rewrite, and
# tracing headers that tools add on the way. Signing them would make both transports disagree
# and a proxied request fail its signature check.
UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)


def uri_encode(text: str, *, keep_slash: bool) -> str:
    """Percent-encode everything but the unreserved characters (and '/' in paths)."""
    return quote(text, safe=_SAFE + "/" if keep_slash else _SAFE)


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """Sorted ``name=value`` pairs, both encoded; the same string is sent on the wire."""
    encoded = sorted(
        (uri_encode(k, keep_slash=False), uri_encode(v, keep_slash=False)) for k, v in params
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


class Signer:
    """Signs requests for one region and service; the derived key is cached per day."""

    def __init__(self, region: str, service: str = "s3") -> None:
        self.region = region
        self.service = service
        self._keys: dict[tuple[str, str], bytes] = {}

    def signing_key(self, secret: str, day: str) -> bytes:
        cached = self._keys.get((secret, day))
        if cached is not None:
            return cached
        k = hmac.digest(("AWS4" + secret).encode(), day.encode(), "sha256")
        for part in (self.region, self.service, "aws4_request"):
            k = hmac.digest(k, part.encode(), "sha256")
        if len(self._keys) > 8:
            self._keys.clear()
        self._keys[(secret, day)] = k
        return k

    def authorization(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        payload_hash: str,
        amz_date: str,
        access_key: str,
        secret: str,
    ) -> str:
        """The Authorization header for a request.

        `path` is already URI-encoded (S3 paths are encoded once and not normalised), `query`
        is the canonical query string, `headers` maps lower-case names to values and holds
        every header sent (host, x-amz-date, x-amz-content-sha256 among them); the ones in
        `UNSIGNED_HEADERS` are left out of the signature.
        """
        names = sorted(n for n in headers if n not in UNSIGNED_HEADERS)
        canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
        signed = ";".join(names)
        canonical = f"{method}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{payload_hash}"
        day = amz_date[:8]
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{scope}\n"
            + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        )
        signature = hmac.new(
            self.signing_key(secret, day), to_sign.encode("utf-8"), "sha256"
        ).hexdigest()
        return f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
