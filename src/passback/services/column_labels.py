"""An activity's new title on its LMS columns (AGS line item labels), where the platform takes PUT.

A rename (an activity message or `passback activities put` with a new title) queues one `relabel` course
job per course the activity is assigned in, so the LMS calls are off the message's path: the job runs in
the release function, through the AGS client (token cache, the platform's concurrency cap, timeouts),
`LINKS_PER_CHUNK` links per chunk. For each LTI 1.3 link of the activity it reads the line item and PUTs
the new label only on a column Passback or deep linking made for that activity (`resourceId` = the
activity id): an instructor's own column keeps the name they gave it.

A platform that refuses the PUT with 405 or 501 (it does not take PUT at all) is recorded on its
registration, once; no label PUT goes to it for a month after (one probe then, in case it changed), and
each link it concerns carries a note the gradebook shows ("rename the column in the LMS"). A 403 is only
noted on the column: it may be about the request (a rate limit, a concluded course), and the next rename
asks again. The job always reads the catalog's current title, so renames applied out of order, or twice,
end with the last title.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from passback.data.catalog import ActivityRepository
from passback.data.column_labels import ColumnLabelRepository
from passback.data.courses import CourseRepository
from passback.domain.records import CourseRecord, LinkRecord
from passback.lms.errors import LmsError
from passback.lms.gateway import LmsGateway
from passback.lms.line_items import LabelRefused, LineItemsClient
from passback.messages import CourseJob
from passback.observability import count, logger
from passback.services.jobs import CourseJobs

REFUSING = (405, 501)  # the platform does not let a tool change a column: recorded on its registration
PROBE_AGAIN_AFTER = timedelta(days=30)
LINKS_PER_CHUNK = 25


def refusal_note(refusal: str) -> str:
    return (
        f"The LMS did not take the activity's new title as this column's name ({refusal}); "
        "rename the column in the LMS if you want them to match."
    )


class ColumnLabels:
    def __init__(
        self,
        courses: CourseRepository,
        labels: ColumnLabelRepository,
        catalog: ActivityRepository,
        jobs: CourseJobs,
        lms: LmsGateway,
        client: LineItemsClient,
    ) -> None:
        self.courses = courses
        self.labels = labels
        self.catalog = catalog
        self.jobs = jobs
        self.lms = lms
        self.client = client

    def activity_renamed(self, activity_id: str, title: str, now: datetime) -> int:
        """Queue a relabel of the activity's columns in every course it is assigned in; returns how many."""
        rename = f"{activity_id}\x1f{title}\x1f{now.isoformat()}"

        def job(course_id: str) -> CourseJob:
            # Named by the rename (two renames in one batch share `now`, not the title), so a redelivered
            # activity message queues the same jobs, which the release function runs once.
            return CourseJob(
                job_id=hashlib.sha256(f"relabel\x1f{rename}\x1f{course_id}".encode()).hexdigest()[:32],
                kind="relabel",
                course_id=course_id,
                activity_id=activity_id,
                requested_by="activity renamed",
                requested_at=now,
            )

        # Ten to a send: this runs on the activity message's path (the score function's 30 s), and an
        # activity may be assigned in thousands of courses.
        queued = self.jobs.queues.send_jobs(map(job, self.labels.courses_with_activity(activity_id)))
        logger.info("activity renamed", extra={"activity": activity_id, "courses": queued})
        return queued

    def run(self, job: CourseJob, now: datetime) -> int:
        """One chunk of a relabel job: the course's copy of the title, then up to LINKS_PER_CHUNK columns."""
        activity_id = job.activity_id
        course = self.courses.get(job.course_id)
        activity = self.catalog.fresh(activity_id) if activity_id else None
        if course is None or activity is None or activity_id is None or activity_id not in course.activities:
            return 0
        title = str(activity.title)
        if job.chunk == 0:
            self.labels.set_activity_title(course.course_id, activity_id, title)
        links = sorted(
            (
                link
                for link in course.links_for_activity(activity_id)
                if link.lti_version == "1.3" and link.line_item_url and not link.column_deleted
            ),
            key=lambda link: link.link_id,
        )
        start = job.chunk * LINKS_PER_CHUNK
        for link in links[start : start + LINKS_PER_CHUNK]:
            self._relabel(course, link, activity_id, title, now)
        if len(links) > start + LINKS_PER_CHUNK:
            self.jobs.queues.send_job(job.model_copy(update={"chunk": job.chunk + 1}))
        return len(links[start : start + LINKS_PER_CHUNK])

    def _relabel(self, course: CourseRecord, link: LinkRecord, activity_id: str, title: str, now: datetime) -> None:
        endpoint = self.lms.token_endpoint(course, link)
        issuer = course.lti13_issuer or course.platform_key.removeprefix("lti13:")
        refusal = self.labels.put_refusal(issuer, endpoint.client_id)
        if refusal is not None and refusal.at > now - PROBE_AGAIN_AFTER:
            # Known to refuse: no request at all (not a GET, not a PUT), just say so on the column.
            count("LineItemRelabelsSkipped")
            self._note(course, link, refusal_note(refusal.text))
            return
        assert link.line_item_url is not None
        try:
            outcome = self.client.relabel(endpoint, link.line_item_url, title, resource_id=activity_id)
        except LabelRefused as error:
            text = f"HTTP {error.status}: {error.message}"[:300]
            # 405/501: the platform does not take PUT at all. A 403 is about this request (Canvas answers
            # its rate limit with 403, a concluded course refuses changes): noted on this column only, and
            # the next rename asks again, rather than silencing the whole platform for a month.
            if error.status in REFUSING and self.labels.record_put_refusal(issuer, endpoint.client_id, text, now):
                logger.warning(
                    "the LMS refuses line item label changes",
                    extra={"issuer": issuer, "client_id": endpoint.client_id, "status": error.status},
                )
            count("LineItemRelabelsRefused")
            self._note(course, link, refusal_note(text))
            return
        except LmsError as error:
            if error.retryable:
                raise  # the job's chunk runs again (SQS), and repeats nothing: a label already so is not PUT
            detail = {"link": link.link_id, "status": error.status, "error": error.message}
            logger.warning("line item label not updated", extra=detail)
            return
        if outcome == "relabelled":
            count("LineItemsRelabelled")
            if refusal is not None:  # the month-later probe's PUT went through: the platform takes them now
                self.labels.clear_put_refusal(issuer, endpoint.client_id)
        self._note(course, link, None)

    def _note(self, course: CourseRecord, link: LinkRecord, note: str | None) -> None:
        if link.label_note != note:
            self.labels.set_label_note(course.course_id, link.link_id, note)
