"""The landing-prefix contract (pure): which objects make up which application.

```
incoming/<application_id>/application.json
incoming/<application_id>/id_document.<jpg|jpeg|png>
incoming/<application_id>/id_document_back.<jpg|jpeg|png>   (optional)
incoming/<application_id>/selfie.<jpg|jpeg|png>
incoming/<application_id>/selfie_frames/<n>.<jpg|jpeg|png>   (optional: liveness challenge)
```
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kyc.storage.base import ObjectInfo

INCOMING = "incoming/"
IMAGE_SUFFIXES = ("jpg", "jpeg", "png")
#: An application id: one safe path segment (no ``/``, never ``.`` or ``..``).
APPLICATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_KEY = re.compile(
    rf"^incoming/(?P<app>{APPLICATION_ID.pattern})/"
    r"(?P<name>application\.json|(?P<stem>id_document|id_document_back|selfie)\.(?P<ext>[A-Za-z]+)"
    r"|selfie_frames/(?P<frame>[0-9]{1,3})\.(?P<fext>[A-Za-z]+))$"
)
#: More frames than this is not a selfie challenge (and would slow the batch down).
MAX_FRAMES = 30
REQUIRED = ("application.json", "id_document", "selfie")


def valid_application_id(value: str) -> bool:
    """True when ``value`` can name a landing folder (``incoming/<application_id>/``)."""
    return APPLICATION_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class LandingBundle:
    """The objects of one complete application.

    Attributes:
        application_id: the folder name.
        form: ``application.json``.
        front: ``id_document.<ext>``.
        back: ``id_document_back.<ext>`` or None.
        selfie: ``selfie.<ext>``.
        frames: ``selfie_frames/<n>.<ext>`` in frame order (liveness challenge).
    """

    application_id: str
    form: ObjectInfo
    front: ObjectInfo
    selfie: ObjectInfo
    back: ObjectInfo | None = None
    frames: tuple[ObjectInfo, ...] = ()

    @property
    def fingerprint(self) -> str:
        """Idempotency key: a hash of every object's key and ETag.

        The same objects landed again give the same fingerprint, so no second
        decision is made; a changed object (new ETag) is a new submission.
        """
        parts = [self.form, self.front, self.selfie] + ([self.back] if self.back else [])
        parts += list(self.frames)  # a changed or added frame is a new submission
        h = hashlib.sha256()
        for obj in parts:
            h.update(f"{obj.key}\0{obj.etag}\n".encode())
        return h.hexdigest()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (a fan-out chunk's flow-run parameter)."""

        def obj(o: ObjectInfo) -> dict[str, Any]:
            return {"key": o.key, "size": o.size, "etag": o.etag, "last_modified": o.last_modified}

        return {
            "application_id": self.application_id,
            "form": obj(self.form),
            "front": obj(self.front),
            "selfie": obj(self.selfie),
            "back": obj(self.back) if self.back else None,
            "frames": [obj(f) for f in self.frames],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LandingBundle:
        """The bundle :meth:`to_json` wrote.

        Raises:
            ValueError: not a bundle's JSON.
        """

        def obj(d: dict[str, Any]) -> ObjectInfo:
            return ObjectInfo(
                key=str(d["key"]),
                size=int(d["size"]),
                etag=str(d["etag"]),
                last_modified=d.get("last_modified"),
            )

        try:
            return cls(
                application_id=str(data["application_id"]),
                form=obj(data["form"]),
                front=obj(data["front"]),
                selfie=obj(data["selfie"]),
                back=obj(data["back"]) if data.get("back") else None,
                frames=tuple(obj(f) for f in data.get("frames") or ()),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a landing bundle: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class IncompleteApplication:
    """An application folder that still lacks required objects (or has extras)."""

    application_id: str
    missing: tuple[str, ...]
    problems: tuple[str, ...] = ()
    #: epoch seconds of the newest object in the folder (None if the store can't tell)
    last_landed: float | None = None
    #: complete, but a file changed too recently: it may still be being written
    settling: bool = False

    def overdue(self, *, now: float, timeout_seconds: float) -> bool:
        """True when nothing has landed for longer than the timeout."""
        return self.last_landed is not None and now - self.last_landed > timeout_seconds


def group_landing(
    objects: Iterable[ObjectInfo],
) -> tuple[list[LandingBundle], list[IncompleteApplication]]:
    """Group listed objects into complete and incomplete applications.

    Unknown files inside an application folder are reported as problems (they may be
    a misnamed selfie); two images for the same role (``selfie.jpg`` and
    ``selfie.png``) make the application ambiguous, so it is not processed.

    Args:
        objects: everything under the landing prefix.

    Returns:
        (complete bundles in id order, incomplete/ambiguous applications in id order).
    """
    found: dict[str, dict[str, list[ObjectInfo]]] = {}
    problems: dict[str, list[str]] = {}
    landed: dict[str, float] = {}
    for obj in objects:
        if not obj.key.startswith(INCOMING):
            continue
        folder = obj.key.split("/")[1]
        if obj.last_modified is not None:
            landed[folder] = max(landed.get(folder, 0.0), obj.last_modified)
        m = _KEY.match(obj.key)
        if m is None:
            parts = obj.key.split("/")
            if len(parts) >= 3 and parts[1]:
                problems.setdefault(parts[1], []).append(f"unexpected object {parts[-1]!r}")
            continue
        ext = m.group("ext") or m.group("fext")
        if ext and ext.lower() not in IMAGE_SUFFIXES:
            problems.setdefault(m.group("app"), []).append(
                f"unsupported image type {m.group('name')!r}"
            )
            if m.group("frame") is not None:
                # A challenge judged on some of its frames would be judged wrongly.
                found.setdefault(m.group("app"), {}).setdefault("selfie_frames/?", [])
            continue
        if m.group("frame") is not None:
            role = f"selfie_frames/{int(m.group('frame'))}"
        else:
            role = m.group("stem") or "application.json"
        found.setdefault(m.group("app"), {}).setdefault(role, []).append(obj)

    complete: list[LandingBundle] = []
    incomplete: list[IncompleteApplication] = []
    for app_id in sorted(set(found) | set(problems)):
        roles = found.get(app_id, {})
        missing = tuple(r for r in REQUIRED if r not in roles)
        dupes = [f"several {r} objects" for r, objs in roles.items() if len(objs) > 1]
        if "selfie_frames/?" in roles:
            dupes.append("a selfie frame of an unsupported image type")
        frame_roles = sorted(
            (r for r in roles if r.startswith("selfie_frames/") and r[14:].isdigit()),
            key=lambda r: int(r[14:]),
        )
        if len(frame_roles) > MAX_FRAMES:
            dupes.append(f"{len(frame_roles)} selfie frames (at most {MAX_FRAMES})")
        if missing or dupes:
            incomplete.append(
                IncompleteApplication(
                    app_id, missing, tuple(problems.get(app_id, []) + dupes), landed.get(app_id)
                )
            )
            continue
        complete.append(
            LandingBundle(
                application_id=app_id,
                form=roles["application.json"][0],
                front=roles["id_document"][0],
                selfie=roles["selfie"][0],
                back=roles["id_document_back"][0] if "id_document_back" in roles else None,
                frames=tuple(roles[r][0] for r in frame_roles),
            )
        )
    return complete, incomplete


def _newest(bundle: LandingBundle) -> float | None:
    times = [
        o.last_modified
        for o in (bundle.form, bundle.front, bundle.selfie, bundle.back, *bundle.frames)
        if o is not None and o.last_modified is not None
    ]
    return max(times) if times else None


def settle(
    bundles: list[LandingBundle], *, now: float, settle_seconds: float
) -> tuple[list[LandingBundle], list[IncompleteApplication]]:
    """Hold back applications whose files changed in the last ``settle_seconds``.

    A writer that does not write-then-rename (a copy over SMB, a slow SFTP upload)
    leaves a file half-written for a while: deciding it then would judge a truncated
    selfie. An application is decided once every one of its files has stopped
    changing for the settle time; until then it is "settling" (not an error).

    Returns:
        (settled bundles, settling applications), each in the input order.
    """
    if settle_seconds <= 0:
        return bundles, []
    ready: list[LandingBundle] = []
    waiting: list[IncompleteApplication] = []
    for bundle in bundles:
        newest = _newest(bundle)
        if newest is not None and now - newest < settle_seconds:
            waiting.append(
                IncompleteApplication(
                    bundle.application_id,
                    (),
                    (),
                    last_landed=newest,
                    settling=True,
                )
            )
        else:
            ready.append(bundle)
    return ready, waiting
