"""`passback demo`: the one-minute tour. The local stack, an emulated LMS, three courses, a stream of scores.

It starts `passback serve`'s stack in this process and an LMS emulator beside it (registered as an
LTI 1.3 platform and as an LTI 1.1 consumer), then plays a course's first weeks:

- "Biology 101" over LTI 1.1, released by hand: synced grades, a column not released yet, a
  learner who never opened the Quiz 1 link (no target), a grade the LMS refused (LMS error), a
  learner below the question threshold, and the course average sent by the homepage link;
- "Chemistry 110" over LTI 1.3, released immediately: a learner who only opened the homepage link
  still gets their activity grades (1.3 reaches further), and a learner who dropped the LMS course
  (user not in course).

It prints each instructor's gradebook URL (a real instructor launch through the emulator made the
session) and what the emulated LMS received, and keeps running until Ctrl-C. `populate` is also
what the browser tests and the documentation's screenshot use.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from passback.cli import validate as v

if TYPE_CHECKING:
    from passback.emulator import LmsEmulator

# Not `passback serve`'s port or state file: the demo runs beside a serve and never touches it.
DEMO_PORT = 8100
DEMO_STATE_FILE = ".passback/demo.json"
CLIENT_ID = "passback-demo"
DEPLOYMENT_ID = "demo-deployment"
CONSUMER_KEY = "passback-demo-11"
CONSUMER_SECRET = "demo-shared-secret"

ACTIVITIES = (
    # activity id, title, minimum questions
    ("bio-quiz-cells", "Quiz 1: Cells", 3),
    ("bio-quiz-genetics", "Quiz 2: Genetics", 3),
    ("bio-reading-evolution", "Reading: Evolution", 1),
    ("chem-lab-1", "Lab report 1", 1),
    ("chem-quiz-stoich", "Quiz: Stoichiometry", 2),
    ("phys-quiz-motion", "Quiz: Motion", 2),
    ("phys-lab-pendulum", "Lab: Pendulum", 1),
)


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str

    @property
    def email(self) -> str:
        return f"{self.user_id}@example.edu"


@dataclass
class DemoCourse:
    context_id: str
    title: str
    lti_version: str
    people: list[Person]
    # resource link id -> (title, activity id or None for the homepage link)
    links: dict[str, tuple[str, str | None]]
    course_id: str = ""
    gradebook_url: str = ""


@dataclass
class DemoWorld:
    """Where the demo plays: the LMS emulator, the tool's base URL, and a way to wait for the queues."""

    lms: LmsEmulator
    base_url: str
    drain: Callable[[], Any]
    courses: list[DemoCourse] = field(default_factory=list)


INSTRUCTOR = Person("grace", "Grace Hopper")
BIOLOGY = DemoCourse(
    "bio-101",
    "Biology 101",
    "1.1",
    [
        Person("ada", "Ada Lovelace"),
        Person("alan", "Alan Turing"),
        Person("barbara", "Barbara Liskov"),
        Person("edsger", "Edsger Dijkstra"),
        Person("katherine", "Katherine Johnson"),
        Person("tim", "Tim Berners-Lee"),
    ],
    {
        "bio-home": ("Biology 101 home", None),
        "bio-quiz-1": ("Quiz 1: Cells", "bio-quiz-cells"),
        "bio-quiz-2": ("Quiz 2: Genetics", "bio-quiz-genetics"),
        "bio-reading": ("Reading: Evolution", "bio-reading-evolution"),
    },
)
CHEMISTRY = DemoCourse(
    "chem-110",
    "Chemistry 110",
    "1.3",
    [
        Person("marie", "Marie Curie"),
        Person("rosalind", "Rosalind Franklin"),
        Person("dmitri", "Dmitri Mendeleev"),
        Person("linus", "Linus Pauling"),
    ],
    {
        "chem-home": ("Chemistry 110 home", None),
        "chem-lab": ("Lab report 1", "chem-lab-1"),
        "chem-quiz": ("Quiz: Stoichiometry", "chem-quiz-stoich"),
    },
)
# Set up by deep linking: its links come from the instructor's picks in Passback's picker.
PHYSICS = DemoCourse(
    "phys-120",
    "Physics 120",
    "1.3",
    [Person("lise", "Lise Meitner"), Person("richard", "Richard Feynman"), Person("niels", "Niels Bohr")],
    {},
)
LMS_ERROR_BODY = "Grades for this assignment are locked: the LMS gradebook column is closed for editing"


def _message(kind: str, **fields: Any) -> str:
    import json

    return json.dumps({"type": kind, "message_id": uuid.uuid4().hex, **fields})


def _scores(world: DemoWorld, course: DemoCourse, rows: Iterable[tuple[str, str, int, float]], now: datetime) -> None:
    from passback import container

    issuer = world.lms.issuer
    bodies = []
    for user_id, activity_id, answered, percent in rows:
        learner = (
            {"consumer_key": CONSUMER_KEY, "user_id": user_id}
            if course.lti_version == "1.1"
            else {"issuer": issuer, "user_id": user_id}
        )
        bodies.append(
            _message(
                "score",
                learner=learner,
                activity_id=activity_id,
                answered=answered,
                score=percent,
                occurred_at=now.isoformat(),
            )
        )
    container.queues().publish(bodies)
    world.drain()


def _launch(world: DemoWorld, course: DemoCourse, person: Person, link: str, *, instructor: bool = False) -> Any:
    import requests

    lms = world.lms
    if course.lti_version == "1.3":
        response = lms.lti13_launch(requests.Session(), CLIENT_ID, person.user_id, course.context_id, link)
    else:
        response = lms.lti11_launch(
            requests.Session(),
            CONSUMER_KEY,
            f"{world.base_url}/lti11/launch",
            person.user_id,
            course.context_id,
            link,
            roles="Instructor" if instructor else "Learner",
        )
    if response.status_code >= 400:
        raise RuntimeError(f"the demo launch of {link} by {person.name} was refused: {response.text[:300]}")
    return response


def register(world: DemoWorld, now: datetime) -> None:
    """Register the emulator with the tool as an LTI 1.3 platform and as an LTI 1.1 consumer."""
    from passback import container

    lms, base = world.lms, world.base_url
    lms.register_tool(
        CLIENT_ID,
        login_url=f"{base}/lti13/login",
        launch_url=f"{base}/lti13/launch",
        jwks_url=f"{base}/.well-known/jwks.json",
        deployment_ids=[DEPLOYMENT_ID],
    )
    config = lms.platform_config(CLIENT_ID)
    container.platforms().add(
        issuer=config["issuer"],
        client_id=CLIENT_ID,
        deployment_ids=[DEPLOYMENT_ID],
        login_url=config["login_url"],
        token_url=config["token_url"],
        jwks_url=config["jwks_url"],
        name="Demo LMS (emulated)",
        token_audience=None,
        now=now,
    )
    lms.register_tool(
        f"{CLIENT_ID}-11",
        login_url=f"{base}/lti13/login",
        launch_url=f"{base}/lti11/launch",
        jwks_url=f"{base}/.well-known/jwks.json",
        deployment_ids=["lti11"],
        lti11_consumer_key=CONSUMER_KEY,
        lti11_secret=CONSUMER_SECRET,
    )
    container.consumers().add(
        consumer_key=CONSUMER_KEY, secret=CONSUMER_SECRET, name="Demo LMS (emulated, LTI 1.1)", now=now
    )


def _set_up_lms_course(world: DemoWorld, course: DemoCourse) -> None:
    lms = world.lms
    lms.add_course(course.context_id, course.title)
    lms.enroll(course.context_id, INSTRUCTOR.user_id, "instructor")
    for person in course.people:
        lms.add_user(person.user_id, name=person.name, email=person.email)
        lms.enroll(course.context_id, person.user_id, "student")
    for link, (title, activity_id) in course.links.items():
        lms.add_link(course.context_id, link, title=title, custom={"activity_id": activity_id} if activity_id else None)


def _instructor_launches(world: DemoWorld, course: DemoCourse) -> None:
    """The instructor opens every link once: the course creates itself and its activities are assigned."""
    for link in course.links:
        response = _launch(world, course, INSTRUCTOR, link, instructor=True)
        location = response.headers.get("Location", "")
        course.gradebook_url = location
        course.course_id = location.split("/gradebook/", 1)[1].split("?", 1)[0] if "/gradebook/" in location else ""
    if not course.course_id:
        raise RuntimeError(f"the instructor's launch of {course.title} did not lead to the gradebook")
    world.drain()


def populate(world: DemoWorld, now: datetime) -> list[DemoCourse]:
    """Play the demo's story on a running stack; returns the courses with their gradebook URLs."""
    from passback import container
    from passback.domain.release import ReleasePolicy

    biology = replace(BIOLOGY, people=list(BIOLOGY.people), links=dict(BIOLOGY.links))
    chemistry = replace(CHEMISTRY, people=list(CHEMISTRY.people), links=dict(CHEMISTRY.links))
    world.courses = [biology, chemistry]
    lms = world.lms
    register(world, now)
    lms.add_user(INSTRUCTOR.user_id, name=INSTRUCTOR.name, email=INSTRUCTOR.email, roles=["instructor"])
    for course in world.courses:
        _set_up_lms_course(world, course)
    # The product announces its activities (the catalog), then the instructors open their links.
    container.queues().publish(_message("activity", activity_id=a, title=t, min_questions=m) for a, t, m in ACTIVITIES)
    world.drain()
    for course in world.courses:
        _instructor_launches(world, course)

    # Biology: grades leave only when the instructor releases them; Quiz 2 is not released yet.
    settings, jobs = container.course_settings(), container.jobs()
    settings.set_policy(biology.course_id, ReleasePolicy.MANUAL, None, now=now)
    settings.set_gau(biology.course_id, "bio-quiz-genetics", (now + timedelta(days=7)).replace(second=0), now)
    for activity_id in ("bio-quiz-cells", "bio-reading-evolution"):
        jobs.request("release", biology.course_id, now, activity_id=activity_id, requested_by="demo")
    world.drain()

    barbara, edsger = biology.people[2], biology.people[3]
    # Barbara opens Quiz 1 and finishes it while the LMS refuses grades for that column.
    _launch(world, biology, barbara, "bio-quiz-1")
    world.drain()
    lms.faults.fail(status=403, body=LMS_ERROR_BODY, target="outcomes")
    _scores(world, biology, [("barbara", "bio-quiz-cells", 10, 88.0)], now)
    lms.faults.clear()
    # Everyone opens the links; Edsger never opens the Quiz 1 link (he works from the home page).
    for person in biology.people:
        for link in biology.links:
            if (person is edsger and link == "bio-quiz-1") or (person is barbara and link == "bio-quiz-1"):
                continue
            _launch(world, biology, person, link)
    world.drain()
    _scores(
        world,
        biology,
        [
            ("ada", "bio-quiz-cells", 10, 92.0),
            ("alan", "bio-quiz-cells", 10, 85.0),
            ("edsger", "bio-quiz-cells", 10, 78.0),
            ("katherine", "bio-quiz-cells", 10, 97.5),
            ("tim", "bio-quiz-cells", 10, 64.0),
            ("ada", "bio-quiz-genetics", 8, 81.0),
            ("alan", "bio-quiz-genetics", 8, 74.0),
            ("barbara", "bio-quiz-genetics", 8, 90.0),
            ("edsger", "bio-quiz-genetics", 8, 69.0),
            ("katherine", "bio-quiz-genetics", 8, 100.0),
            ("tim", "bio-quiz-genetics", 1, 100.0),  # one question of three: below the threshold
            ("ada", "bio-reading-evolution", 1, 100.0),
            ("alan", "bio-reading-evolution", 1, 100.0),
            ("barbara", "bio-reading-evolution", 1, 75.0),
            ("edsger", "bio-reading-evolution", 1, 100.0),
            ("katherine", "bio-reading-evolution", 1, 100.0),
        ],
        now,
    )

    # Chemistry: released immediately. Dmitri only opens the home page; Linus drops the course.
    dmitri, linus = chemistry.people[2], chemistry.people[3]
    for person in chemistry.people:
        for link in chemistry.links:
            if person is dmitri and link != "chem-home":
                continue
            _launch(world, chemistry, person, link)
    world.drain()
    lms.drop(chemistry.context_id, linus.user_id)
    _scores(
        world,
        chemistry,
        [
            ("marie", "chem-lab-1", 1, 95.0),
            ("rosalind", "chem-lab-1", 1, 98.0),
            ("dmitri", "chem-lab-1", 1, 88.0),
            ("linus", "chem-lab-1", 1, 91.0),
            ("marie", "chem-quiz-stoich", 6, 83.0),
            ("rosalind", "chem-quiz-stoich", 6, 90.0),
            ("linus", "chem-quiz-stoich", 6, 77.0),
        ],
        now,
    )
    _physics_by_deep_linking(world, now)
    # Fresh instructor launches, after everything. A launch's gradebook URL carries a one-time ticket
    # good for minutes (web/session.py); the banner's is the same ticket, good once within two hours.
    from passback.web.session import TICKET_PARAMETER, reticket

    for course in world.courses:
        home = next(link for link, (_, activity) in course.links.items() if activity is None)
        location = _launch(world, course, INSTRUCTOR, home, instructor=True).headers["Location"]
        page, _, ticket = location.partition(f"?{TICKET_PARAMETER}=")
        longer = reticket(container.tool_keys(), ticket, now=now, lifetime=timedelta(hours=2))
        course.gradebook_url = f"{page}?{TICKET_PARAMETER}={longer}"
    return world.courses


def _physics_by_deep_linking(world: DemoWorld, now: datetime) -> None:
    """Physics: the instructor adds Passback through deep linking (two activities and the homepage, picked in
    Passback's picker; the LMS makes each activity's column). Niels never opens Passback: the course roster
    (NRPS) lists him, and his deadline zero reaches the LMS all the same (LTI 1.3)."""
    import requests

    from passback import container

    physics = replace(PHYSICS, people=list(PHYSICS.people), links={})
    world.courses.append(physics)
    lms = world.lms
    lms.add_course(physics.context_id, physics.title)
    lms.enroll(physics.context_id, INSTRUCTOR.user_id, "instructor")
    for person in physics.people:
        lms.add_user(person.user_id, name=person.name, email=person.email)
        lms.enroll(physics.context_id, person.user_id, "student")
    picked = ["phys-quiz-motion", "phys-lab-pendulum"]
    done = lms.deep_link(requests.Session(), CLIENT_ID, INSTRUCTOR.user_id, physics.context_id, picked, homepage=True)
    if done.status_code != 200:
        raise RuntimeError(f"the demo's deep linking was refused: {done.text[:300]}")
    for made in lms.links(physics.context_id):
        physics.links[made["resource_link_id"]] = (made["title"], made["custom"].get("activity_id"))
    _instructor_launches(world, physics)  # the first one also reads the roster: Niels is enrolled
    lise, richard = physics.people[0], physics.people[1]
    for person in (lise, richard):
        for resource_link_id in physics.links:
            _launch(world, physics, person, resource_link_id)
    world.drain()
    _scores(
        world,
        physics,
        [
            ("lise", "phys-quiz-motion", 4, 94.0),
            ("richard", "phys-quiz-motion", 4, 87.0),
            ("lise", "phys-lab-pendulum", 1, 90.0),
        ],
        now - timedelta(minutes=10),  # done before the lab's deadline, which passed a minute ago
    )
    # The lab's deadline has passed: whoever has no lab grade gets a zero, Niels included.
    container.course_settings().set_gau(physics.course_id, "phys-lab-pendulum", now - timedelta(minutes=1), now)
    world.drain()


def lms_summary(world: DemoWorld) -> str:
    """What the emulated LMS holds, per course: learners down, LMS columns across."""
    book = world.lms.gradebook()
    out: list[str] = []
    for course in world.courses:
        received = book.get(course.context_id, {})
        titles = [title for title, _ in course.links.values()]
        width = max(len(p.name) for p in course.people) + 2
        cols = [max(len(t), 6) + 2 for t in titles]
        out.append(f"{course.title} (LTI {course.lti_version}): what the LMS gradebook received")
        out.append("  " + "".ljust(width) + "".join(t.ljust(w) for t, w in zip(titles, cols, strict=True)))
        for person in course.people:
            cells = []
            for (link, _), w in zip(course.links.items(), cols, strict=True):
                value = received.get(person.user_id, {}).get(link)
                cells.append(("-" if value is None else f"{value:g}").ljust(w))
            out.append("  " + person.name.ljust(width) + "".join(cells))
        out.append("")
    return "\n".join(out)


def wait_for_queues(queue_urls: Iterable[str], timeout: float = 120.0) -> None:
    """Until the queues are empty and nothing is in flight (checked three times in a row)."""
    from passback import aws

    sqs = aws.sqs()
    names: list[Any] = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    quiet, deadline = 0, time.monotonic() + timeout
    while quiet < 3:
        if time.monotonic() > deadline:
            raise TimeoutError("the queues did not drain")
        busy = 0
        for url in queue_urls:
            found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
            attributes: dict[str, str] = {str(k): v for k, v in found["Attributes"].items()}
            busy += sum(int(attributes.get(name, "0")) for name in names)
        quiet = quiet + 1 if busy == 0 else 0
        time.sleep(0.15)


def register_verb(verbs: Any) -> None:
    demo = verbs.add_parser(
        "demo", help="the one-minute tour: the local stack, an emulated LMS, three courses and a stream of scores"
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    demo.add_argument(
        "--port",
        type=v.port,
        default=DEMO_PORT,
        help=f"HTTP port of the API (default {DEMO_PORT}, not serve's 8000; 0 picks a free one)",
    )
    demo.add_argument("--lms-port", type=v.port, default=0, help="port of the LMS emulator (0 picks a free one)")
    demo.add_argument(
        "--exit-after-setup", action="store_true", help="stop once the demo data is in place (for tests and scripts)"
    )
    demo.add_argument(
        "--verbose", action="store_true", help="show the functions' logs while the demo is set up (quiet by default)"
    )
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from passback.cli.errors import CliError
    from passback.cli.serve import refuse_running
    from passback.cli.target import state_file
    from passback.clock import utcnow
    from passback.emulator import LmsEmulator
    from passback.local.stack import LocalStack, StackError

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    # Its own state file: `passback serve`'s stays as it is, and so do the verbs acting on it.
    state = state_file(args, DEMO_STATE_FILE)
    refuse_running(state)
    stack = LocalStack(
        host=args.host,
        port=args.port,
        schedule_seconds=15.0,
        state_file=state,
        retry_delay_seconds=1,
    )
    lms = LmsEmulator(host=args.host, port=args.lms_port, mode="canvas")

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    # As `serve`: Ctrl-C stops the demo even if its parent left SIGINT ignored or blocked.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        started = time.monotonic()
        print("Starting the local stack and the LMS emulator...", flush=True)
        info = stack.start()
        lms.start()
        queues = [url for name, url in info.queues.items() if "DeadLetter" not in name]
        world = DemoWorld(lms=lms, base_url=info.base_url, drain=lambda: wait_for_queues(queues))
        print("Playing the demo: three courses, 13 learners, a stream of scores...", flush=True)
        from passback.observability import logger

        level = logger.log_level
        if not args.verbose:
            logger.setLevel("ERROR")  # the setup's log lines would bury the banner; the refusals are on purpose
        try:
            courses = populate(world, utcnow())
        finally:
            logger.setLevel(level)
        print(banner(world, courses, info.base_url, time.monotonic() - started), flush=True)
        if not args.exit_after_setup:
            stack.wait()
    except KeyboardInterrupt:
        pass
    except StackError as error:
        raise CliError(str(error)) from error
    finally:
        print("Stopping...", flush=True)
        lms.stop()
        stack.stop()
    return 0


def banner(world: DemoWorld, courses: list[DemoCourse], base_url: str, seconds: float) -> str:
    lines = [
        "",
        f"Passback demo ready in {seconds:.0f} s: the whole system on {base_url}, the emulated LMS on "
        f"{world.lms.base_url}.",
        "",
        "Open the instructor's gradebook (each link opens once, in one browser, within two hours;",
        "run the demo again for new links):",
    ]
    for course in courses:
        lines.append(f"  {course.title} (LTI {course.lti_version}):")
        lines.append(f"    {course.gradebook_url}")
    lines += [
        "",
        "Biology 101: Quiz 1 has a grade the LMS refused (LMS error: click Try again) and a learner who never opened",
        "its link (no target); Quiz 2 is not released (click Release Grades at the bottom of its column).",
        "Chemistry 110: Dmitri only opened the home page, yet his grades arrived (LTI 1.3); Linus dropped the course.",
        "Physics 120: set up by deep linking (each activity brought its own LMS column); Niels never opened",
        "Passback, yet the roster lists him and his lab deadline zero reached the LMS.",
        "",
        lms_summary(world),
        f"Other passback verbs act on this stack with `passback --state-file {DEMO_STATE_FILE} VERB` "
        "(`passback --help`). Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)
