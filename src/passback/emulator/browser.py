"""The browser's part of a launch: follow the tool's login redirect to /auth, submit the
auto-post form to the tool. Shared by the in-process emulator and the remote `EmulatorClient`.

Only loopback URLs are ever requested, each with a timeout; the caller's `requests.Session`
carries cookies between the steps as a browser would.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from .net import require_loopback_url
from .wire import first_values

BROWSER_TIMEOUT_S = 60.0  # generous: a cold launch on a loaded 2-core CI machine can take over 10 s
_MAX_HOPS = 5
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_JS_LOCATION = re.compile(
    r"""(?:window\.|document\.)?location(?:\.href)?\s*=\s*["']([^"']+)["']"""
    r"""|location\.(?:replace|assign)\(\s*["']([^"']+)["']\s*\)"""
)
_PYLTI1P3_COOKIE_CHECK = "lti1p3_new_window"
_META_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\";]+)", re.IGNORECASE)


class LaunchError(RuntimeError):
    """A launch step did not go as a browser would expect; `response` is the last HTTP answer."""

    def __init__(self, message: str, response: requests.Response | None = None) -> None:
        detail = ""
        if response is not None:
            detail = f" (HTTP {response.status_code} from {response.url}: {response.text[:300]!r})"
        super().__init__(message + detail)
        self.response = response


@dataclass
class HtmlForm:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[HtmlForm] = []
        self.meta_refresh: str | None = None
        self.scripts: list[str] = []
        self._open_form: HtmlForm | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name.lower(): value or "" for name, value in attrs}
        if tag == "form":
            self._open_form = HtmlForm(attr.get("action", ""), (attr.get("method") or "get").upper())
            self.forms.append(self._open_form)
        elif tag in ("input", "textarea") and self._open_form is not None and attr.get("name"):
            if attr.get("type", "").lower() not in ("submit", "button", "image", "reset"):
                self._open_form.fields[attr["name"]] = attr.get("value", "")
        elif tag == "meta" and attr.get("http-equiv", "").lower() == "refresh":
            match = _META_REFRESH_URL.search(attr.get("content", ""))
            if match:
                self.meta_refresh = match.group(1).strip()
        elif tag == "script":
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open_form = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def parse_page(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser


@dataclass(frozen=True)
class Step:
    """One navigation a browser would make next."""

    method: str
    url: str
    data: dict[str, str]

    def params(self) -> dict[str, str]:
        """Parameters of the navigation: the query string, plus the form body for a POST."""
        merged = first_values(parse_qs(urlsplit(self.url).query, keep_blank_values=True))
        merged.update(self.data)
        return merged


def next_step(response: requests.Response) -> Step | None:
    """Where a browser would go after `response`: a redirect, an auto-submitted form, a meta
    refresh or a scripted location change."""
    if response.status_code in _REDIRECT_STATUSES and response.headers.get("Location"):
        return Step("GET", urljoin(response.url, response.headers["Location"]), {})
    if response.status_code != 200 or "html" not in response.headers.get("Content-Type", "html"):
        return None
    page = parse_page(response.text)
    if page.forms:
        form = page.forms[0]
        return Step(form.method, urljoin(response.url, form.action or response.url), dict(form.fields))
    if page.meta_refresh:
        return Step("GET", urljoin(response.url, page.meta_refresh), {})
    for script in page.scripts:
        match = _JS_LOCATION.search(script)
        if match:
            return Step("GET", urljoin(response.url, match.group(1) or match.group(2)), {})
    return None


def navigate(session: requests.Session, step: Step, timeout: float) -> requests.Response:
    url = require_loopback_url(step.url)
    if step.method == "POST":
        return session.post(url, data=step.data, allow_redirects=False, timeout=timeout)
    return session.get(url, params=step.data or None, allow_redirects=False, timeout=timeout)


def _same_endpoint(url: str, endpoint: str) -> bool:
    a, b = urlsplit(url), urlsplit(endpoint)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)


def follow_login_to_auth(
    session: requests.Session, login: Step, auth_url: str, timeout: float = BROWSER_TIMEOUT_S
) -> Step:
    """Start the tool's login and follow it until it points at the platform's /auth endpoint."""
    response = navigate(session, login, timeout)
    for _ in range(_MAX_HOPS):
        step = next_step(response)
        if step is None and _PYLTI1P3_COOKIE_CHECK in response.text:
            # pylti1p3's cookie check page computes its URL in script; a browser with cookies
            # enabled reloads the login with this flag, so do the same.
            step = Step("GET", login.url, {**login.data, _PYLTI1P3_COOKIE_CHECK: "1"})
        if step is None:
            raise LaunchError("the tool's login answer leads nowhere a browser would follow", response)
        if _same_endpoint(step.url, auth_url):
            return step
        response = navigate(session, step, timeout)
    raise LaunchError(f"the tool's login did not reach {auth_url} within {_MAX_HOPS} hops", response)


class BrowserLaunches(ABC):
    """Launch helpers built on the emulator's parameter methods, for in-process and remote use."""

    @property
    @abstractmethod
    def auth_url(self) -> str: ...

    @abstractmethod
    def tool_registration(self, client_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def lti13_login_params(
        self,
        client_id: str,
        user_id: str,
        context_id: str,
        resource_link_id: str,
        *,
        deployment_id: str | None = None,
        message_hint_extra: dict[str, Any] | None = None,
    ) -> dict[str, str]: ...

    @abstractmethod
    def lti11_launch_params(
        self,
        consumer_key: str,
        launch_url: str,
        user_id: str,
        context_id: str,
        resource_link_id: str,
        *,
        roles: str = "Learner",
        custom: dict[str, str] | None = None,
        with_outcome: bool = True,
    ) -> dict[str, str]: ...

    def _login_step(
        self,
        client_id: str,
        user_id: str,
        context_id: str,
        resource_link_id: str,
        *,
        deployment_id: str | None,
        message_hint_extra: dict[str, Any] | None,
        login_method: str,
    ) -> Step:
        if login_method not in ("GET", "POST"):
            raise ValueError("login_method must be GET or POST")
        params = self.lti13_login_params(
            client_id,
            user_id,
            context_id,
            resource_link_id,
            deployment_id=deployment_id,
            message_hint_extra=message_hint_extra,
        )
        return Step(login_method, self.tool_registration(client_id)["login_url"], params)

    def lti13_launch(
        self,
        session: requests.Session,
        client_id: str,
        user_id: str,
        context_id: str,
        resource_link_id: str,
        *,
        deployment_id: str | None = None,
        message_hint_extra: dict[str, Any] | None = None,
        login_method: str = "GET",
        timeout: float = BROWSER_TIMEOUT_S,
    ) -> requests.Response:
        """Do the whole OIDC launch as a browser; return the tool's answer to the id_token POST
        (redirects not followed). Raises LaunchError when a step fails before that POST."""
        login = self._login_step(
            client_id,
            user_id,
            context_id,
            resource_link_id,
            deployment_id=deployment_id,
            message_hint_extra=message_hint_extra,
            login_method=login_method,
        )
        auth_step = follow_login_to_auth(session, login, self.auth_url, timeout)
        auth_response = navigate(session, auth_step, timeout)
        if auth_response.status_code != 200:
            raise LaunchError("the platform refused the authentication request", auth_response)
        page = parse_page(auth_response.text)
        if not page.forms or "id_token" not in page.forms[0].fields:
            raise LaunchError("the platform's answer has no id_token form", auth_response)
        form = page.forms[0]
        return navigate(session, Step("POST", form.action, dict(form.fields)), timeout)

    def open_deep_linking(
        self,
        session: requests.Session,
        client_id: str,
        user_id: str,
        context_id: str,
        *,
        accept_multiple: bool = True,
        return_url: str | None = None,
        timeout: float = BROWSER_TIMEOUT_S,
    ) -> requests.Response:
        """An editor's "Select content": the deep-linking request, up to the tool's answer (its picker)."""
        params = self.lti13_deep_link_login_params(  # type: ignore[attr-defined]
            client_id, user_id, context_id, accept_multiple=accept_multiple, return_url=return_url
        )
        login = Step("GET", self.tool_registration(client_id)["login_url"], params)
        auth_response = navigate(session, follow_login_to_auth(session, login, self.auth_url, timeout), timeout)
        if auth_response.status_code != 200:
            raise LaunchError("the platform refused the authentication request", auth_response)
        form = parse_page(auth_response.text).forms[0]
        return navigate(session, Step("POST", form.action, dict(form.fields)), timeout)

    def choose_in_picker(
        self,
        session: requests.Session,
        picker: requests.Response,
        activity_ids: list[str],
        *,
        homepage: bool = False,
        timeout: float = BROWSER_TIMEOUT_S,
    ) -> requests.Response:
        """Tick activities (and the homepage link) in the tool's picker and press Add: the tool's answer."""
        page = parse_page(picker.text)
        form = next((f for f in page.forms if "q" not in f.fields), None)
        if form is None:
            raise LaunchError("the tool's answer has no picker form", picker)
        data = {n: v for n, v in form.fields.items() if not n.startswith("pick-") and n != "homepage"}
        for index, activity_id in enumerate(activity_ids):
            data[f"pick-{index:04d}"] = f"a:{activity_id}"
        if homepage:
            data["homepage"] = "1"
        data["action"] = "add"
        return navigate(session, Step("POST", urljoin(picker.url, form.action), data), timeout)

    def deep_link(
        self,
        session: requests.Session,
        client_id: str,
        user_id: str,
        context_id: str,
        activity_ids: list[str],
        *,
        homepage: bool = False,
        timeout: float = BROWSER_TIMEOUT_S,
    ) -> requests.Response:
        """The whole deep-linking round: request, pick, and the auto-posted response; the LMS's answer."""
        picker = self.open_deep_linking(session, client_id, user_id, context_id, timeout=timeout)
        if picker.status_code != 200:
            raise LaunchError("the tool did not open its picker", picker)
        answer = self.choose_in_picker(session, picker, activity_ids, homepage=homepage, timeout=timeout)
        step = next_step(answer)
        if answer.status_code != 200 or step is None or "JWT" not in step.data:
            raise LaunchError("the tool's answer is not an auto-posted deep-linking response", answer)
        return navigate(session, step, timeout)

    def start_login(
        self,
        session: requests.Session,
        client_id: str,
        user_id: str,
        context_id: str,
        resource_link_id: str,
        *,
        deployment_id: str | None = None,
        login_method: str = "GET",
        timeout: float = BROWSER_TIMEOUT_S,
    ) -> tuple[str, str, str]:
        """Run the tool's login up to its redirect to /auth and return (state, nonce, redirect_uri),
        so a test can answer with an id_token of its own making."""
        login = self._login_step(
            client_id,
            user_id,
            context_id,
            resource_link_id,
            deployment_id=deployment_id,
            message_hint_extra=None,
            login_method=login_method,
        )
        params = follow_login_to_auth(session, login, self.auth_url, timeout).params()
        missing = [name for name in ("state", "nonce", "redirect_uri") if not params.get(name)]
        if missing:
            raise LaunchError(f"the tool's authentication request lacks {', '.join(missing)}")
        return params["state"], params["nonce"], params["redirect_uri"]

    def lti11_launch(
        self,
        session: requests.Session,
        consumer_key: str,
        launch_url: str,
        user_id: str,
        context_id: str,
        resource_link_id: str,
        *,
        roles: str = "Learner",
        custom: dict[str, str] | None = None,
        with_outcome: bool = True,
        timeout: float = BROWSER_TIMEOUT_S,
    ) -> requests.Response:
        """POST a signed LTI 1.1 launch form to the tool (redirects not followed)."""
        params = self.lti11_launch_params(
            consumer_key,
            launch_url,
            user_id,
            context_id,
            resource_link_id,
            roles=roles,
            custom=custom,
            with_outcome=with_outcome,
        )
        return navigate(session, Step("POST", launch_url, params), timeout)
