"""Turn a choreography model into EventBridge event patterns: one rule per event source.

A rule per source matches only the detail-types the model assigns to that source, so an event with a
known name from an unexpected service never reaches the correlator as if it were genuine. The rules route
the events of every shipped version: an event that an instance still open on an earlier version awaits is
routed while that version ships, even when the current version no longer has it.
"""

from __future__ import annotations

from typing import Any

from lambdas.choreography.versions import Versions


def event_patterns(versions: Versions) -> dict[str, dict[str, Any]]:
    """Rule patterns by source."""
    return {
        source: {"source": [source], "detail-type": list(versions.event_names_from(source))}
        for source in versions.sources()
    }


def forwarded_pattern(versions: Versions) -> dict[str, Any]:
    """What a rule on the services' own bus forwards to the monitor's: the model's events, and no other."""
    return {"source": list(versions.sources()), "detail-type": sorted(versions.event_names)}
