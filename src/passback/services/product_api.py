"""The product API's use cases: tokens for products, messages in, message statuses out (issue 21).

Tokens: OAuth 2.0 client credentials with a signed JWT assertion (RFC 7523, `private_key_jwt`,
the pattern LTI uses for AGS). The product signs an assertion with one of its registered keys;
we answer with a short-lived access token signed with the tool's key, which API Gateway's JWT
authorizer checks (issuer, audience, expiry, signature, scope) before the API function runs.
The function then checks that the credential the token was issued for is still live, so a
revocation counts at once, not when the token expires.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from passback.data.catalog import ActivityRepository
from passback.data.launch_state import NonceStore
from passback.data.products import MessageStatuses, ProductRecord, ProductRepository, RateWindows, StatusRecord
from passback.domain.clocks import DEFAULT_SKEW, future_report_refusal
from passback.domain.products import (
    SCOPES,
    LearnerFacts,
    Problem,
    activity_problem,
    learner_problem,
)
from passback.ids import platform_id, platform_key_lti11, platform_key_lti13
from passback.messages import ActivityMessage, ScoreMessage
from passback.observability import count, logger
from passback.queues import Queues
from passback.services.pool import run_all
from passback.services.refusals import RefusalNotices
from passback.tool_keys import ToolKeys

API_AUDIENCE = "passback-api"
ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
ASSERTION_MAX_LIFETIME = timedelta(minutes=5)
LEEWAY_SECONDS = 30
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ApiRefused(Exception):
    """A request the API refuses: HTTP status, an error code, words for people, and per-message problems."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        problems: Sequence[Problem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.problems = list(problems)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        found: dict[str, Any] = {"error": self.error, "error_description": self.description}
        if self.problems:
            found["problems"] = [p.as_json() for p in self.problems]
        return found


@dataclass(frozen=True)
class Caller:
    product: ProductRecord
    kid: str
    scopes: frozenset[str] = field(default_factory=frozenset)


def discovery(issuer: str) -> dict[str, Any]:
    """The OpenID discovery document API Gateway's JWT authorizer reads to find our key set."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/api/v1/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


class ProductTokens:
    def __init__(self, products: ProductRepository, nonces: NonceStore, keys: ToolKeys) -> None:
        self.products = products
        self.nonces = nonces
        self.keys = keys

    def issue(self, form: Mapping[str, str], *, issuer: str, now: datetime) -> dict[str, Any]:
        """Answer a token request (RFC 6749 4.4 with RFC 7523 client authentication), or raise ApiRefused."""
        import jwt

        if form.get("grant_type") != "client_credentials":
            raise ApiRefused(400, "unsupported_grant_type", "grant_type must be client_credentials")
        assertion = form.get("client_assertion") or ""
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            raise ApiRefused(
                400, "invalid_request", f"send client_assertion_type={ASSERTION_TYPE} and a signed client_assertion"
            )
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise ApiRefused(401, "invalid_client", "client_assertion is not a JWT") from None
        product_id, kid = str(unverified.get("iss") or ""), str(header.get("kid") or "")
        jwk = self.products.key(product_id, kid) if product_id and kid else None
        product = self.products.get(product_id) if jwk else None
        if jwk is None or product is None:
            count("ProductTokensRefused")
            raise ApiRefused(401, "invalid_client", "no live credential has this client id (iss) and key id (kid)")
        try:
            claims = jwt.decode(
                assertion,
                jwt.PyJWK(jwk).key,
                algorithms=["RS256"],
                audience=[f"{issuer}/api/v1/token", issuer],
                issuer=product_id,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "sub", "jti", "aud"]},
            )
        except jwt.InvalidTokenError as error:
            count("ProductTokensRefused")
            raise ApiRefused(401, "invalid_client", f"client_assertion refused: {error}") from None
        if claims["sub"] != product_id:
            raise ApiRefused(401, "invalid_client", "client_assertion: sub must equal iss (the product id)")
        if int(claims["exp"]) - int(claims["iat"]) > ASSERTION_MAX_LIFETIME.total_seconds():
            raise ApiRefused(401, "invalid_client", "client_assertion may live at most 5 minutes (exp - iat)")
        keep = datetime.fromtimestamp(int(claims["exp"]) + LEEWAY_SECONDS, tz=now.tzinfo)
        if not self.nonces.consume(f"product:{product_id}", str(claims["jti"]), now, keep):
            raise ApiRefused(401, "invalid_client", "client_assertion replayed: use a new jti for every request")
        asked = set((form.get("scope") or " ".join(SCOPES)).split())
        scopes = [s for s in SCOPES if s in asked]
        if not scopes:
            raise ApiRefused(400, "invalid_scope", f"ask for one or more of: {' '.join(SCOPES)}")
        lifetime = int(ACCESS_TOKEN_LIFETIME.total_seconds())
        token = self.keys.sign(
            {
                "iss": issuer,
                "aud": API_AUDIENCE,
                "sub": product_id,
                "client_id": product_id,
                "scope": " ".join(scopes),
                "cred": kid,
                "iat": int(now.timestamp()),
                "exp": int(now.timestamp()) + lifetime,
                "jti": uuid.uuid4().hex,
            }
        )
        count("ProductTokensIssued")
        return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": " ".join(scopes)}


class MessageIntake:
    def __init__(
        self,
        products: ProductRepository,
        statuses: MessageStatuses,
        rates: RateWindows,
        queues: Queues,
        catalog: ActivityRepository,
        clock_skew: timedelta = DEFAULT_SKEW,
        refusals: RefusalNotices | None = None,
    ) -> None:
        self.clock_skew = clock_skew
        self.refusals = refusals
        self.products = products
        self.statuses = statuses
        self.rates = rates
        self.queues = queues
        self.catalog = catalog
        self._owners: dict[str, str] = {}  # activity -> owner: ownership never moves, so it is cached

    def caller(self, claims: Mapping[str, Any]) -> Caller:
        """The product behind an access token API Gateway already verified; its credential must still be live."""
        product_id, kid = str(claims.get("sub") or ""), str(claims.get("cred") or "")
        product = self.products.get(product_id) if product_id else None
        if product is None or not kid or self.products.key(product_id, kid) is None:
            raise ApiRefused(401, "invalid_token", "this token's credential was revoked: get a token with a live key")
        raw = claims.get("scope") or ""
        scopes = frozenset(raw.split() if isinstance(raw, str) else (str(s) for s in raw))
        return Caller(product=product, kid=kid, scopes=scopes)

    def submit(self, caller: Caller, messages: Sequence[ScoreMessage | ActivityMessage], now: datetime) -> list[str]:
        """Check scope, take from the rate limit, record and queue; the accepted message ids (all of them)."""
        product = caller.product
        ahead = [
            Problem(i, m.message_id, "occurred_at", why)
            for i, m in enumerate(messages)
            if isinstance(m, ScoreMessage) and (why := future_report_refusal(m.occurred_at, now, self.clock_skew))
        ]
        if ahead:
            # The score function would dead-letter them (issue 17's clock rule): say so now instead.
            self._tell_instructors(product, messages, ahead, now)
            raise ApiRefused(400, "invalid", "some messages are not valid: none was accepted", ahead)
        problems = self._scope_problems(product, messages)
        if problems:
            count("ApiMessagesForbidden", len(problems))
            raise ApiRefused(403, "forbidden", "some messages are outside this product's scope", problems)
        if not self.rates.take(product.product_id, len(messages), product.rate_per_second, now):
            count("ApiRateLimited")
            raise ApiRefused(
                429,
                "rate_limited",
                f"more than {product.rate_per_second} messages in one second: retry after the Retry-After seconds",
                headers={"Retry-After": "1"},
            )
        for index, message in enumerate(messages):
            if isinstance(message, ActivityMessage):
                owner = self.products.claim_activity(message.activity_id, product.product_id, now)
                if owner != product.product_id:
                    problem = Problem(
                        index, message.message_id, "activity_id", "this activity belongs to another product"
                    )
                    raise ApiRefused(403, "forbidden", "some messages are outside this product's scope", [problem])
                self._owners[message.activity_id] = owner
        ids = [m.message_id for m in messages]
        failures: list[Exception] = []
        created: set[str] = set()  # statuses this request recorded (not a repost's earlier one)

        def accept(message_id: str) -> None:
            if self.statuses.accept(product.product_id, message_id, now):
                created.add(message_id)

        # Ten independent conditional puts: in parallel, so a batch costs about one round trip.
        run_all(list(dict.fromkeys(ids)), accept, len(ids), on_error=lambda _, error: failures.append(error))
        if failures:
            raise failures[0]
        error: Exception | None = None
        try:
            refused = self.queues.publish_for_product([_body(m) for m in messages], product.product_id)
        except Exception as raised:
            refused, error = set(range(len(ids))), raised
        if refused:
            # Forget only what this request recorded and the queue did not take: a message it took will
            # be applied and settles its status; a repost's earlier copy may be in the queue already.
            queued = {ids[i] for i in range(len(ids)) if i not in refused}
            for message_id in created - queued:
                self.statuses.forget(product.product_id, message_id)
            logger.warning(
                "score queue refused an API batch", extra={"refused": len(refused), "error": repr(error)[:300]}
            )
            raise ApiRefused(
                503,
                "unavailable",
                f"the score queue did not take {len(refused)} of the {len(ids)} messages: post the request again "
                "(a message it took already is not applied twice)",
                headers={"Retry-After": "2"},
            )
        count("ApiMessagesAccepted", len(ids))
        return ids

    def _tell_instructors(
        self,
        product: ProductRecord,
        messages: Sequence[ScoreMessage | ActivityMessage],
        ahead: list[Problem],
        now: datetime,
    ) -> None:
        """Record the refused reports for the gradebook (services/refusals.py), as the score function does.

        Only reports this product may send (its activity, its learner: the same scope checks as an
        accepted message), and only within its rate limit, so a product cannot write notices about
        other products' learners, nor write them faster than it could post scores.
        """
        if self.refusals is None:
            return
        try:
            outside = {p.index for p in self._scope_problems(product, messages)}
            refused = [m for p in ahead if p.index not in outside and isinstance(m := messages[p.index], ScoreMessage)]
            if not refused or not self.rates.take(product.product_id, len(refused), product.rate_per_second, now):
                return
        except Exception as error:  # the notice is best effort: the product still gets its 400, never a 500
            logger.warning("refused reports not recorded for the gradebook", extra={"error": repr(error)[:300]})
            return
        for message in refused:
            self.refusals.record(message, received_at=now, now=now, product_id=product.product_id, via="api")

    def status(self, caller: Caller, message_id: str) -> StatusRecord | None:
        return self.statuses.get(caller.product.product_id, message_id)

    # ---------------------------------------------------------------- scope
    def _owner(self, activity_id: str) -> str | None:
        owner = self._owners.get(activity_id)
        if owner is None:
            owner = self.products.activity_owner(activity_id)
            if owner is not None:
                self._owners[activity_id] = owner
        return owner

    def _scope_problems(
        self, product: ProductRecord, messages: Sequence[ScoreMessage | ActivityMessage]
    ) -> list[Problem]:
        publishing = {m.activity_id for m in messages if isinstance(m, ActivityMessage)}
        checked: dict[str, bool] = {}
        problems: list[Problem] = []
        for index, message in enumerate(messages):
            is_activity = isinstance(message, ActivityMessage)
            owner = self._owner(message.activity_id)
            publishes = is_activity or message.activity_id in publishing
            why = activity_problem(
                message.activity_id,
                owner,
                product.product_id,
                publishing=publishes,
                # An activity the score queue published has no owner, and is not the first taker's.
                in_catalog=owner is None and publishes and self._in_catalog(message.activity_id, checked),
            )
            if why:
                problems.append(Problem(index, message.message_id, "activity_id", why))
            if isinstance(message, ScoreMessage):
                ref = message.learner.model_dump(exclude_none=True)
                facts = self._learner_facts(product, ref)
                why = learner_problem(ref, facts, product.product_id, product.platforms)
                if why:
                    problems.append(Problem(index, message.message_id, "learner", why))
        return problems

    def _in_catalog(self, activity_id: str, checked: dict[str, bool]) -> bool:
        if activity_id not in checked:
            checked[activity_id] = self.catalog.exists(activity_id)
        return checked[activity_id]

    def _learner_facts(self, product: ProductRecord, ref: Mapping[str, Any]) -> LearnerFacts:
        if "learner_id" in ref:
            return LearnerFacts(granted=self.products.granted(product.product_id, str(ref["learner_id"])))
        if "email" in ref:
            owner = self.products.email_owner(str(ref["email"]))
            if owner is None:
                return LearnerFacts()
            return LearnerFacts(email_known=True, email_vouched_by=owner[1] or "")
        key = (
            platform_key_lti13(str(ref["issuer"])) if "issuer" in ref else platform_key_lti11(str(ref["consumer_key"]))
        )
        return LearnerFacts(platform_id=platform_id(key))


def _body(message: ScoreMessage | ActivityMessage) -> str:
    return json.dumps(message.model_dump(mode="json", exclude_none=True), separators=(",", ":"))
