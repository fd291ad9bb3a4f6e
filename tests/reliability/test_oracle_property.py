"""Generated streams of launches, scores, releases and deadlines end in the LMS as the oracle says."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from scenario import Delivery, Scenario, make_stream

from stack_harness import Stack


@given(rng=st.randoms(use_true_random=False))
def test_every_generated_stream_ends_in_the_lms_exactly_as_the_oracle_says(
    stack: Stack, lms: Any, clock: Any, rng: random.Random
) -> None:
    scenario = Scenario(stack, lms, clock, make_stream(rng))
    scenario.run()
    scenario.verdict()


@given(rng=st.randoms(use_true_random=False))
def test_duplicated_and_shuffled_delivery_ends_exactly_as_the_oracle_says(
    stack: Stack, lms: Any, clock: Any, rng: random.Random
) -> None:
    delivery = Delivery(rng=random.Random(rng.random()), copies=3, shuffle=True)
    scenario = Scenario(stack, lms, clock, make_stream(rng), delivery=delivery)
    scenario.run()
    scenario.verdict()
