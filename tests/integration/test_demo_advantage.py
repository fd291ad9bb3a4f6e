"""`passback demo`'s Physics course: set up by deep linking, with a learner who never launched."""

from __future__ import annotations

from typing import Any

from gradebook_kit import play_demo
from passback import container
from stack_harness import Stack


def test_the_demo_sets_up_physics_by_deep_linking_and_grades_a_learner_who_never_launched(
    stack: Stack, lms: Any
) -> None:
    demo = play_demo(stack, lms)
    physics = demo["phys-120"]
    links = lms.links("phys-120")
    assert sorted(link["custom"].get("activity_id", "home") for link in links) == [
        "home",
        "phys-lab-pendulum",
        "phys-quiz-motion",
    ]
    assert sorted(i["resourceId"] for i in lms.line_items("phys-120")) == [
        "homepage",
        "phys-lab-pendulum",
        "phys-quiz-motion",
    ]
    lab = next(link["resource_link_id"] for link in links if link["custom"].get("activity_id") == "phys-lab-pendulum")
    assert lms.gradebook()["phys-120"]["niels"][lab] == 0.0
    assert lms.gradebook()["phys-120"]["lise"][lab] == 90.0
    niels = container.learners().by_identity(container.courses().get(physics.course_id).platform_id, "niels")
    assert niels is not None
    assert container.enrollments().get(physics.course_id, niels).never_opened
