"""RegisterClient over the registers' public search pages (direct HTTP, HTML parsed).

Each register has a search URL (``KYC_REGISTER_HTTP_URLS``, ``{number}`` replaced)
and a page layout: CSS selectors for a result entry and its name, number, status
and annotations, and for the "no results" message. The layouts below are modelled
on the registers' public search result pages as far as we know them (a result
block per registrant with name, number, status and a list of annotations such as
conditions or undertakings). **The real pages must be checked, and these
selectors adjusted, before going live**: registers redesign their sites without
notice, which is also why a page we cannot understand is UNAVAILABLE (re-checked
later), never NOT_FOUND.

HTML is parsed with selectolax (Lexbor), a maintained, fast HTML5 parser.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from types import MappingProxyType
from urllib.parse import quote

import httpx
from selectolax.lexbor import LexborHTMLParser, LexborNode

from kyc.clients.http import RetryPolicy, ServiceUnavailable, limiter_for, request
from kyc.domain.records import RegisterOutcome, RegisterResult
from kyc.domain.registers import normalise_number

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PageLayout:
    """CSS selectors of one register's search result page."""

    entry: str
    name: str
    number: str
    status: str
    conditions: str
    no_results: str


#: Result page layouts per register (see the module docstring: verify before live use).
LAYOUTS: MappingProxyType[str, PageLayout] = MappingProxyType(
    {
        # GMC "List of registered medical practitioners": one block per doctor with
        # the GMC reference number, registration status and any conditions,
        # undertakings or warnings listed under it.
        "GMC": PageLayout(
            entry=".search-result.doctor",
            name=".doctor-name",
            number=".gmc-number",
            status=".registration-status",
            conditions=".annotations li",
            no_results=".no-results",
        ),
        # GDC online register: registrant card with registration number, status and
        # "conditions / undertakings / warnings" section.
        "GDC": PageLayout(
            entry=".registrant",
            name=".registrant-name",
            number=".registration-number",
            status=".registration-status",
            conditions=".fitness-to-practise li",
            no_results=".no-results",
        ),
        # NMC register search: PIN, name, registration status and "conditions of
        # practice / cautions / interim orders" when there are any.
        "NMC": PageLayout(
            entry=".register-entry",
            name=".register-name",
            number=".register-pin",
            status=".register-status",
            conditions=".register-sanctions li",
            no_results=".no-results",
        ),
        # GPhC registers: pharmacist entry with registration number, status and any
        # fitness-to-practise annotations.
        "GPHC": PageLayout(
            entry=".registrant-result",
            name=".registrant-name",
            number=".registration-number",
            status=".registration-status",
            conditions=".annotations li",
            no_results=".no-results",
        ),
    }
)


class PageNotUnderstood(ValueError):
    """The page has neither a result entry nor the "no results" message we expect."""


def _text(node: LexborNode | None) -> str:
    return " ".join((node.text(separator=" ") if node is not None else "").split())


def parse_result_page(
    register: str, number: str, html: str, *, layout: PageLayout | None = None
) -> tuple[RegisterOutcome, dict[str, object]]:
    """Parse one search result page.

    Args:
        register: GMC | GDC | NMC | GPHC.
        number: the number searched for (normalised).
        html: the page.
        layout: selectors; defaults to :data:`LAYOUTS` for the register.

    Returns:
        FOUND with the entry's fields, or NOT_FOUND with an empty dict.

    Raises:
        PageNotUnderstood: malformed or unexpected page (a redesign, an error page).
    """
    lay = layout or LAYOUTS[register]
    tree = LexborHTMLParser(html)
    entries = tree.css(lay.entry)
    for entry in entries:
        if normalise_number(_text(entry.css_first(lay.number))) != number:
            continue
        name, status = _text(entry.css_first(lay.name)), _text(entry.css_first(lay.status))
        if not name or not status:
            raise PageNotUnderstood("result entry without name or status")
        conditions = [c for c in (_text(n) for n in entry.css(lay.conditions)) if c]
        return RegisterOutcome.FOUND, {"name": name, "status": status, "conditions": conditions}
    if entries or tree.css_first(lay.no_results) is not None:
        # Other registrants but not this number, or the register says "no results".
        return RegisterOutcome.NOT_FOUND, {}
    raise PageNotUnderstood("no result entry and no 'no results' message")


class HttpRegisterClient:
    """Looks numbers up on the registers' public search pages."""

    name = "register-http"

    def __init__(
        self,
        urls: dict[str, str],
        *,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        rate_per_second: float = 1.0,
        transport: httpx.BaseTransport | None = None,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        """Create the client.

        Args:
            urls: search URL per register, ``{number}`` replaced by the number.
            timeout: seconds for one request (connect and read).
            policy: retries, backoff and the longest Retry-After honoured.
            rate_per_second: request rate per register (process-wide).
            transport: httpx transport (tests may pass one; default: network).
            today: date source (tests).

        Raises:
            ValueError: a URL for an unknown register, or without ``{number}``.
        """
        for reg, template in urls.items():
            if reg not in LAYOUTS:
                raise ValueError(f"register search URL for unknown register {reg!r}")
            if "{number}" not in template:
                raise ValueError(f"{reg} search URL must contain {{number}}")
        self.version = f"selectolax/{version('selectolax')}"
        self._urls = dict(urls)
        self._policy = policy or RetryPolicy()
        self._rate = rate_per_second
        self._today = today
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            transport=transport,
            headers={"User-Agent": "open-kyc-pipeline register check"},
        )

    def lookup(self, register: str, number: str) -> RegisterResult:
        """Search the register's public pages for one number (see RegisterClient)."""
        template = self._urls.get(register)
        if not template:
            return RegisterResult(
                register, number, RegisterOutcome.UNAVAILABLE, source=self.name,
                detail=f"no search URL configured for {register}",
            )  # fmt: skip
        url = template.replace("{number}", quote(number))
        try:
            resp = request(
                self._client,
                "GET",
                url,
                policy=self._policy,
                limiter=limiter_for(f"register-http:{register}", self._rate),
                ok_statuses=frozenset({200, 404}),
            )
            outcome, entry = parse_result_page(register, number, resp.text)
        except ServiceUnavailable as exc:
            log.warning("%s register unavailable: %s", register, exc)
            return RegisterResult(
                register, number, RegisterOutcome.UNAVAILABLE, source=self.name, detail=str(exc)
            )
        except PageNotUnderstood as exc:
            log.warning("%s register page not understood: %s", register, exc)
            return RegisterResult(
                register, number, RegisterOutcome.UNAVAILABLE, source=self.name,
                detail=f"page not understood: {exc}",
            )  # fmt: skip
        raw: dict[str, object] = {"url": url, "http_status": resp.status_code, **entry}
        conds = entry.get("conditions")
        return RegisterResult(
            register=register,
            number=number,
            outcome=outcome,
            name=str(entry["name"]) if entry else None,
            status=str(entry["status"]) if entry else None,
            conditions=tuple(str(c) for c in conds) if isinstance(conds, list) else (),
            snapshot_date=self._today(),
            raw=MappingProxyType(raw),
            source=self.name,
        )
