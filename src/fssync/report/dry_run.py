"""What a dry run and --explain tell: the events that say what the plan would do, without
doing it (the reporters print them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fssync.model import Event, Kind, Plan


def tell_would(plan: Plan, emit: Callable[[Event], None]) -> None:
    """One ``would`` event per action a dry run would carry out."""
    for a in plan.changes:
        if a.kind is not Kind.SKIP:
            emit(
                Event(
                    "would",
                    {
                        "kind": a.kind.name.lower(),
                        "sigil": a.kind.value,
                        "key": a.key,
                        "reason": a.reason,
                    },
                )
            )


def explain(plan: Plan, key: str) -> dict[str, Any]:
    """What the plan does with one key, and why (for --explain)."""
    a = plan.action_for(key)
    if a is not None:
        return {
            "key": key,
            "kind": a.kind.name.lower(),
            "sigil": a.kind.value,
            "reason": a.reason,
        }
    return {
        "key": key,
        "kind": "none",
        "sigil": " ",
        "reason": "not in the source (and not deleted: --delete not given)"
        if not plan.of(Kind.DELETE)
        else "on neither side",
    }
