"""A conformance suite for auth plugins: subclass `AuthPluginSuite` in a plugin's tests.

    from fssync.testing.auth import AuthPluginSuite

    class TestMyAuth(AuthPluginSuite):
        entry_point = "my_auth"           # its name in the fssync entry-point group, if any

        @pytest.fixture
        def auth_plugin(self):
            return my_auth_plugin         # the module or object registered with fssync

        @pytest.fixture
        def auth_options(self):
            return {"vault_role": "sync"} # options under which it supplies credentials

        @pytest.fixture
        def auth_secrets(self):
            return ["the-secret-it-will-hand-out"]

Every test of the suite then runs against the plugin. Options are given by their Python names,
as ``fssync.sync(..., name=value)`` takes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from fssync.errors import UsageError
from fssync.hooks.manager import Hooks, make_hooks
from fssync.settings.auth import CredentialProvider, Credentials
from fssync.settings.config import Config
from fssync.settings.location import parse
from fssync.settings.options import config_from_api
from fssync.settings.secrets import scrub

__all__ = ["AuthPluginSuite"]

# Storage options that carry credentials to s3fs.
CREDENTIAL_OPTIONS = ("key", "secret", "token", "profile", "anon", "session")


class AuthPluginSuite:
    """What every auth plugin must do. Override the fixtures; the tests are inherited."""

    #: The plugin's name in the ``fssync`` entry-point group (None for one registered by hand);
    #: the suite disables that entry point so the plugin under test is registered once.
    entry_point: str | None = None

    @pytest.fixture
    def auth_plugin(self) -> object:
        raise NotImplementedError("override the auth_plugin fixture")

    @pytest.fixture
    def auth_options(self) -> Mapping[str, Any]:
        raise NotImplementedError("override the auth_options fixture")

    @pytest.fixture
    def auth_environ(self) -> Mapping[str, str]:
        """The environment the plugin sees; empty by default, so the host's cannot leak in."""
        return {}

    @pytest.fixture
    def auth_secrets(self) -> list[str]:
        """Secrets among the options (or the environment) that must never be shown."""
        return []

    @pytest.fixture
    def bad_auth_options(self) -> list[Mapping[str, Any]]:
        """Option sets the plugin must refuse with a UsageError (exit code 2)."""
        return []

    # -- helpers ---------------------------------------------------------------------------

    @pytest.fixture
    def auth_hooks(self, auth_plugin: object) -> Iterator[Hooks]:
        disable = [self.entry_point] if self.entry_point else []
        yield make_hooks(plugins=[auth_plugin], disable=disable)

    def config(
        self, hooks: Hooks, options: Mapping[str, Any], environ: Mapping[str, str], url: str
    ) -> Config:
        base = config_from_api(hooks, "sync", "/tmp/fssync-auth-suite", url, dict(options))
        return Config(
            command="sync", src=base.src, dst=base.dst, options=base.options, environ=environ
        )

    def answers(
        self, hooks: Hooks, config: Config, url: str
    ) -> tuple[dict[str, Any], CredentialProvider | None]:
        location = parse(url)
        hooks.configure(config)
        options = hooks.storage_options(location, config)
        provider = hooks.credential_provider(location, config)
        return {k: v for k, v in options.items() if k in CREDENTIAL_OPTIONS}, provider

    # -- the contract ----------------------------------------------------------------------

    def test_registers_with_known_hooks_only(self, auth_plugin: object) -> None:
        hooks = make_hooks(entry_points=False, plugins=[auth_plugin])
        hooks.pm.check_pending()  # raises for a misspelt fssync_* hook
        implemented = {c.name for c in hooks.pm.get_hookcallers(auth_plugin) or []}
        assert implemented & {"fssync_storage_options", "fssync_credential_provider"}

    def test_options_coexist_with_the_builtins(self, auth_hooks: Hooks) -> None:
        from fssync.settings.options import sync_parser

        sync_parser(auth_hooks)  # argparse raises on a clashing option

    def test_supplies_credentials_for_s3(
        self,
        auth_hooks: Hooks,
        auth_options: Mapping[str, Any],
        auth_environ: Mapping[str, str],
    ) -> None:
        url = "s3://fssync-suite/x"
        config = self.config(auth_hooks, auth_options, auth_environ, url)
        options, provider = self.answers(auth_hooks, config, url)
        assert options or provider is not None, "no credentials for an S3 location"

    def test_nothing_for_local_folders(
        self,
        auth_hooks: Hooks,
        auth_options: Mapping[str, Any],
        auth_environ: Mapping[str, str],
        tmp_path: Any,
    ) -> None:
        url = str(tmp_path)
        config = self.config(auth_hooks, auth_options, auth_environ, url)
        options, provider = self.answers(auth_hooks, config, url)
        assert not options and provider is None

    def test_quiet_without_its_settings(self, auth_hooks: Hooks) -> None:
        url = "s3://fssync-suite/x"
        config = self.config(auth_hooks, {}, {}, url)
        options, provider = self.answers(auth_hooks, config, url)
        assert provider is None and not {"key", "secret", "token"} & set(options)

    def test_secrets_stay_out_of_reprs_and_messages(
        self,
        auth_hooks: Hooks,
        auth_options: Mapping[str, Any],
        auth_environ: Mapping[str, str],
        auth_secrets: list[str],
    ) -> None:
        url = "s3://fssync-suite/x"
        config = self.config(auth_hooks, auth_options, auth_environ, url)
        _, provider = self.answers(auth_hooks, config, url)
        shown = repr(config) + repr(provider)
        secrets = list(auth_secrets)
        if provider is not None:
            creds = asyncio.run(provider.fetch())
            secrets += [creds.secret_access_key, creds.session_token or ""]
            shown += repr(creds)
        for secret in filter(None, secrets):
            assert secret not in shown
            assert secret not in scrub(f"error: {secret} was refused"), "secret not registered"

    def test_provider_fetches_fresh_credentials(
        self,
        auth_hooks: Hooks,
        auth_options: Mapping[str, Any],
        auth_environ: Mapping[str, str],
    ) -> None:
        url = "s3://fssync-suite/x"
        config = self.config(auth_hooks, auth_options, auth_environ, url)
        _, provider = self.answers(auth_hooks, config, url)
        if provider is None:
            pytest.skip("the plugin gives storage options, not a credential provider")
        assert isinstance(provider.description, str) and provider.description
        first = asyncio.run(provider.fetch())
        assert isinstance(first, Credentials) and first.access_key_id
        if first.expires is not None:
            assert first.expires > provider.now()
        if provider.refreshable:
            again = asyncio.run(provider.fetch())
            assert isinstance(again, Credentials)
            assert again.expires is None or again.expires > provider.now()

    def test_bad_settings_are_usage_errors(
        self,
        auth_hooks: Hooks,
        bad_auth_options: list[Mapping[str, Any]],
        auth_environ: Mapping[str, str],
    ) -> None:
        url = "s3://fssync-suite/x"
        for options in bad_auth_options:
            with pytest.raises(UsageError):
                config = self.config(auth_hooks, options, auth_environ, url)
                self.answers(auth_hooks, config, url)
