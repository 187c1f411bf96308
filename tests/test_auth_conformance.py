"""The built-in auth plugins pass the conformance suite third-party ones subclass."""

from __future__ import annotations

import pytest

from fssync.testing.auth import AuthPluginSuite
from fssync.testing.servers import MotoAuth
from fssync_plugins import auth_static, auth_sts


class TestStaticKeys(AuthPluginSuite):
    entry_point = "auth_static"

    @pytest.fixture
    def auth_plugin(self):
        return auth_static

    @pytest.fixture
    def auth_options(self):
        return {
            "access_key_id": "ASIASUITEEXAMPLE0001",
            "secret_access_key": "suite-secret-key-0123456789",
            "session_token": "suite-session-token-abcdefghijklmnop",
        }

    @pytest.fixture
    def auth_secrets(self):
        return ["suite-secret-key-0123456789", "suite-session-token-abcdefghijklmnop"]

    @pytest.fixture
    def bad_auth_options(self):
        return [
            {"access_key_id": "AKIAONLY"},
            {"secret_access_key": "only-a-secret"},
            {"session_token": "a-token-without-keys"},
            {"access_key_id": "AKIA", "secret_access_key": "s", "profile": "p"},
            {"anonymous": True, "profile": "p"},
        ]


class TestStaticEnvironment(TestStaticKeys):
    """The same plugin when the keys come from the standard variables."""

    @pytest.fixture
    def auth_options(self):
        return {}

    @pytest.fixture
    def auth_environ(self):
        return {
            "AWS_ACCESS_KEY_ID": "AKIASUITEENV0000001",
            "AWS_SECRET_ACCESS_KEY": "suite-env-secret-0123456789",
        }

    @pytest.fixture
    def auth_secrets(self):
        return ["suite-env-secret-0123456789"]

    @pytest.fixture
    def bad_auth_options(self):
        # a token alone on the command line is fine here: it joins the keys of the environment
        return [
            {"access_key_id": "AKIAONLY"},
            {"access_key_id": "AKIA", "secret_access_key": "s", "profile": "p"},
        ]


class TestStsAssumeRole(AuthPluginSuite):
    entry_point = "auth_sts"

    @pytest.fixture
    def auth_plugin(self):
        return auth_sts

    @pytest.fixture
    def auth_options(self, moto: MotoAuth):
        ep = moto.endpoint
        return {
            "role_arn": moto.role_arn,
            "sts_endpoint_url": ep.url,
            "access_key_id": ep.access_key,
            "secret_access_key": ep.secret_key,
            "sts_duration": 900,
        }

    @pytest.fixture
    def auth_secrets(self, moto: MotoAuth):
        return [moto.endpoint.secret_key]

    @pytest.fixture
    def bad_auth_options(self):
        return [
            {"sts": "session", "role_arn": "arn:aws:iam::1:role/x"},
            {"role_arn": "arn:aws:iam::1:role/x", "sts_duration": 100},
            {"role_arn": "arn:aws:iam::1:role/x", "role_session_name": "x"},
            {"sts": "federation", "sts_name": "a b"},
            {"sts": "session", "mfa_code": "123456"},
        ]
