"""The built-in comparison modes, offered through the same hook any plugin can implement."""

from __future__ import annotations

from collections.abc import Mapping

import fssync


@fssync.hookimpl(trylast=True)
def fssync_compare_modes() -> Mapping[str, fssync.CompareMode]:
    return dict(fssync.BUILTIN_MODES)
