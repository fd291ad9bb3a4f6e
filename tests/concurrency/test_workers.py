"""Many workers, one learner: real worker processes racing on the same cells, judged by the oracle.

Three worker processes (`worker.py`, each the score and release handlers polling the same queues,
like three Lambda instances of each) share one moto server with this process, which launches
learners through the API gateway, queues Release Grades jobs and runs sweeps while the workers
are busy. The LMS emulator answers every score POST after a random 0 to 300 ms, so concurrent
POSTs finish in any order. Every message is delivered once or twice, shuffled. Bounded: a fixed
stream per seed (5 learners x 2 activities x 2 to 4 reports, about 60 messages) and 60 s to drain.
The bench (`./dev bench concurrency`) runs the large version.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from cluster import Cluster, cluster
from streams import busy_stream, play, posts_per_owed_value, set_up, verdict

from passback.emulator import LmsEmulator

PROCESSES = 3


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with (
        pytest.MonkeyPatch.context() as env,
        cluster(env, tmp_path_factory.mktemp("cluster"), processes=PROCESSES) as made,
    ):
        yield made


@pytest.fixture
def lms() -> Iterator[Any]:
    with LmsEmulator(mode="moodle") as emulator:  # the strictest: timestamps must strictly increase
        emulator.faults.jitter_ms(0, 300, target="score", seed=17)
        yield emulator


@pytest.mark.parametrize("seed", [1, 2])
def test_concurrent_workers_send_each_owed_value_once_in_order_and_end_as_the_oracle_says(
    workers: Cluster, lms: Any, seed: int
) -> None:
    rng = random.Random(seed)
    stream = busy_stream(rng, students=5, activities=2, reports=(2, 4), manual=seed % 2 == 1)
    played = set_up(workers.stack, lms, stream, workers.wait_idle)
    play(workers.stack, played, rng, copies=2)
    workers.wait_idle(timeout=120)
    for _ in range(2):
        workers.stack.sweep()
        workers.wait_idle(timeout=120)

    verdict(played)
    posts, owed = posts_per_owed_value(played)
    assert owed > 0
    assert posts / owed == 1.0
    assert workers.stack.dead_letters() == []
    # A batch may fail and be delivered again (a DynamoDB call timing out on a loaded machine, say):
    # that is the queue's job and loses nothing; the checks above are what must hold.
    print(f"{len(workers.failures_logged())} batches returned to the queue so far")
