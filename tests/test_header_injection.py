"""Header injection: a user-supplied header name or value holding a line break or another
control character would end its header line early and smuggle in headers of its own
(``x-amz-acl: public-read``). Every way a user puts a header on an S3 request is refused with one
line (exit 2) before any request, on both S3 paths."""

from __future__ import annotations

import pytest

import fssync
from fssync.cli.main import main
from fssync.testing.servers import MotoAuth

from .helpers import make_tree, s3_args, s3_opts

pytestmark = pytest.mark.usefixtures("s3_backend")

SMUGGLED = "\r\nx-amz-acl: public-read"


@pytest.mark.parametrize(
    "flags",
    [
        ["--metadata", f"note=a{SMUGGLED}"],
        ["--metadata", "note=a\x00b"],
        ["--header", f"x-amz-meta-a:b{SMUGGLED}"],
        ["--header", "x-amz-meta-a:b\nx-amz-acl: public-read"],
        ["--header", "x-amz\r\n-acl:public-read"],
        ["--upload-header", f"x-amz-meta-a:b{SMUGGLED}"],
        ["--upload-header", "x-amz-meta-a:b\x7f"],
        ["--content-type", f"text/plain{SMUGGLED}"],
        ["--content-type-map", f".txt:text/plain{SMUGGLED}"],
        ["--cache-control", f"no-cache{SMUGGLED}"],
    ],
    ids=lambda flags: flags[0].lstrip("-") + ":" + repr(flags[1][-6:]),
)
def test_an_injected_header_is_refused_before_any_request(moto: MotoAuth, tmp_path, capsys, flags):
    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "s", {"x.txt": b"x"})
    code = main(["sync", str(tmp_path / "s"), f"s3://{name}/p", *s3_args(ep), *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    if "\r\n-" not in flags[1]:  # a value is never repeated (it may be a token); a name may be
        assert "public-read" not in err
    assert "Contents" not in ep.client().list_objects_v2(Bucket=name)


@pytest.mark.parametrize(
    "more",
    [
        {"metadata": {"note": f"a{SMUGGLED}"}},
        {"metadata": {f"n{SMUGGLED}": "a"}},
        {"content_type": f"text/plain{SMUGGLED}"},
        {"content_type_map": [f".txt:text/plain{SMUGGLED}"]},
        {"storage_options": {"headers": [("x-amz-meta-a", f"b{SMUGGLED}")]}},
        {"storage_options": {"upload_headers": [("x-amz-meta-a", f"b{SMUGGLED}")]}},
    ],
    ids=[
        "metadata-value",
        "metadata-name",
        "content-type",
        "content-type-map",
        "headers",
        "upload",
    ],
)
def test_the_python_api_refuses_injected_headers(moto: MotoAuth, tmp_path, more):
    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "s", {"x.txt": b"x"})
    with pytest.raises(fssync.UsageError) as caught:
        fssync.sync(str(tmp_path / "s"), f"s3://{name}/p", **s3_opts(ep, **more))
    if "metadata" not in more or "note" in more["metadata"]:  # a name may be repeated
        assert "public-read" not in str(caught.value)
    assert "Contents" not in ep.client().list_objects_v2(Bucket=name)
