"""`passback products` and the feedback `scores send` gives: one line per mistake, exit 2, nothing stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_cli_refusals import assert_refused, queued, run

from passback import container


def test_products_add_list_rotate_retire_remove(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key = tmp_path / "quiz.pem"
    status, out, _ = run(capsys, "products", "add", "quiz-app", "--rate", "20", "--key-out", str(key))
    assert status == 0
    made = json.loads(out)
    assert made["product_id"].startswith("quiz-app-")
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert "PRIVATE" not in out  # the key is in the file only
    status, out, _ = run(capsys, "products", "rotate", made["product_id"], "--key-out", str(tmp_path / "2.pem"))
    rotated = json.loads(out)
    status, out, _ = run(capsys, "products", "list")
    assert made["kid"] in out
    assert rotated["kid"] in out
    assert "rate=20/s" in out
    status, out, _ = run(capsys, "products", "rotate", made["product_id"], f"--retire={made['kid']}")
    assert status == 0
    assert [k for k, _ in container.products().keys(made["product_id"])] == [rotated["kid"]]
    status, out, _ = run(capsys, "products", "remove", made["product_id"])
    assert status == 0
    assert container.products().get(made["product_id"]) is None
    assert container.products().keys(made["product_id"]) == []


def test_products_mistakes_are_one_line_and_store_nothing(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert_refused(run(capsys, "products", "add", "Quiz App!"), 2, "lowercase")
    assert_refused(run(capsys, "products", "add", "quiz", "--issuer", "https://nowhere.example"), 2, "platforms list")
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    assert_refused(run(capsys, "products", "add", "quiz", "--public-key", str(bad_key)), 2, "PEM public key")
    assert container.products().list_all() == []
    assert_refused(run(capsys, "products", "rotate", "nobody-000000"), 2, "no product nobody-000000")
    assert_refused(run(capsys, "products", "remove", "nobody-000000"), 2, "no product")


def test_products_add_takes_the_products_own_public_key(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "public.pem"
    public.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    status, out, _ = run(capsys, "products", "add", "reader", "--public-key", str(public))
    assert status == 0
    assert "private_key_file" not in json.loads(out)


def test_scores_send_refuses_an_unknown_learner_id_and_warns_of_an_unpublished_activity(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def line(**fields: Any) -> str:
        message = {
            "type": "score",
            "message_id": "m1",
            "learner": {"learner_id": "unobody"},
            "activity_id": "quiz-1",
            "answered": 1,
            "score": 50,
            "occurred_at": "2026-11-23T14:05:09Z",
        }
        return json.dumps({**message, **fields}) + "\n"

    messages = tmp_path / "scores.jsonl"
    messages.write_text(line())
    assert_refused(run(capsys, "scores", "send", str(messages)), 2, "line 1", "no learner has the id 'unobody'")
    assert queued(aws, "PASSBACK_SCORE_QUEUE_URL") == 0
    messages.write_text(line(learner={"issuer": "https://lms.example.edu", "user_id": "u1"}))
    status, out, err = run(capsys, "scores", "send", str(messages))
    assert status == 0
    assert "sent 1 message(s)" in out
    assert "warning: 1 message(s) (line 1) name an activity not in the catalog" in err
    # Published earlier in the same input: no warning.
    activity = {"type": "activity", "message_id": "a1", "activity_id": "quiz-1", "title": "Quiz 1"}
    messages.write_text(json.dumps(activity) + "\n" + line(learner={"email": "ann@example.edu"}))
    status, out, err = run(capsys, "scores", "send", str(messages))
    assert status == 0
    assert "warning" not in err


def test_products_assign_gives_an_unowned_activity_to_a_product_and_never_takes_one(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    made = []
    for name in ("quiz-app", "other-app"):
        status, out, _ = run(capsys, "products", "add", name, "--key-out", str(tmp_path / f"{name}.pem"))
        made.append(json.loads(out)["product_id"])
    status, out, _ = run(capsys, "products", "assign", made[0], "quiz-1", "quiz-2")
    assert status == 0
    assert "quiz-2 belongs to" in out
    assert container.products().activity_owner("quiz-1") == made[0]
    assert_refused(run(capsys, "products", "assign", made[1], "quiz-1"), 2, f"belongs to {made[0]}")
    assert container.products().activity_owner("quiz-1") == made[0]
    assert_refused(run(capsys, "products", "assign", "nobody-000000", "quiz-3"), 2, "no product")
