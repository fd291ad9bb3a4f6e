"""Hypothesis profiles for the reliability suite.

`ci` (the default) keeps the property tests inside CI's budget; `PASSBACK_HYPOTHESIS_PROFILE=wide`
(40 streams) or `deep` (300, with `-o timeout=0`: one test runs them all) run many more before a
release or after touching the score path.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# One stack serves every example (each stream gets its own LMS course), so the function-scoped
# fixtures are deliberate.
_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    "derandomize": False,
}
settings.register_profile("ci", max_examples=5, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("wide", max_examples=40, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("deep", max_examples=300, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("PASSBACK_HYPOTHESIS_PROFILE", "ci"))
