"""Turn a choreography model into EventBridge event patterns: one rule per event source.

A rule per source matches only the detail-types the model assigns to that source, so an event with a
known name from an unexpected service never reaches the correlator as if it were genuine.
"""

from __future__ import annotations

from typing import Any

from lambdas.choreography.model import Choreography


def event_patterns(model: Choreography) -> dict[str, dict[str, Any]]:
    """Rule patterns by source."""
    return {
        source: {"source": [source], "detail-type": list(model.event_names_from(source))} for source in model.sources
    }


def forwarded_pattern(model: Choreography) -> dict[str, Any]:
    """What a rule on the services' own bus forwards to the monitor's: the model's events, and no other."""
    return {"source": list(model.sources), "detail-type": sorted(model.roles)}
