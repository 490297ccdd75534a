"""Ports for external capabilities. Each returns frozen records, never dicts.

Implementations live one per file (``document_local.py``, ``face_local.py``,
``document_textract.py``, ...) and are chosen in :mod:`kyc.wiring` only.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from kyc.domain.application import DocumentType
from kyc.domain.records import (
    DocumentScan,
    FaceComparison,
    LicenceClaim,
    LicenceResult,
    LivenessEvidence,
    LivenessResult,
    RegisterResult,
)
from kyc.imaging.picture import Picture

if TYPE_CHECKING:  # only for the annotation: base.py loads no imaging library
    from PIL import Image


class EngineUnavailable(RuntimeError):
    """An engine cannot run here (not configured, library or model missing)."""


@runtime_checkable
class DocumentReader(Protocol):
    """Reads an identity document into AnalyzeID-style fields."""

    name: str
    version: str

    def read(
        self,
        front: bytes | Picture,
        *,
        back: bytes | Picture | None = None,
        document_type: DocumentType | None = None,
    ) -> DocumentScan:
        """Read one document.

        Args:
            front: the front (licence front / passport photo page): bytes, or the
                pipeline's shared Picture (decoded once for every engine).
            back: the back (licence PDF417 side), when supplied.
            document_type: what the applicant says the document is (a hint only).

        Returns:
            The scan. Unreadable input is a scan with a DOCUMENT_UNREADABLE finding,
            never an exception.
        """
        ...


@runtime_checkable
class BarcodeReader(Protocol):
    """Finds and decodes the PDF417 symbol on the back of a licence or ID card.

    The DocumentReader decodes the image file, rejects blank ones and flattens the
    photo first; a BarcodeReader only searches the image it is given.
    """

    name: str
    version: str

    def read_pdf417(self, image: Image.Image) -> str | None:
        """The text of the PDF417 symbol in one image.

        Args:
            image: the back as decoded (RGB), flattened to the document or as captured.

        Returns:
            The symbol's text with its control characters kept (AAMVA separators),
            preferring the AAMVA symbol when there are several; None when no PDF417
            decodes. Never an exception for an image without one. Safe to call from
            several threads at once.
        """
        ...


@runtime_checkable
class FaceMatcher(Protocol):
    """Compares the selfie with the face on the identity document."""

    name: str
    version: str

    def compare(self, selfie: bytes | Picture, document: bytes | Picture) -> FaceComparison:
        """Compare two images.

        Args:
            selfie: the selfie (CompareFaces SourceImage): bytes or a shared Picture
                (the matcher's face detection is then reused by the liveness checks).
            document: the document front or its portrait crop (CompareFaces
                TargetImage), likewise.

        Returns:
            Similarity 0-100 or, when no comparison is possible, findings such as
            FACE_NOT_FOUND / SELFIE_UNREADABLE; never an exception for bad input.
        """
        ...


@runtime_checkable
class LivenessChecker(Protocol):
    """Judges whether the selfie was taken of a live person present at the time.

    Implementations: the local challenge (blink + head turn over selfie frames),
    the local replay check (selfie copied from the document, printed or on a
    screen), and AWS Rekognition Face Liveness (a session's results).
    """

    name: str
    version: str
    #: ``challenge`` | ``replay`` | ``aws-face-liveness`` (recorded per application)
    method: str

    def check(self, evidence: LivenessEvidence) -> LivenessResult:
        """Assess one application's liveness evidence.

        Args:
            evidence: the selfie, the document front, selfie frames and/or a
                liveness session id, as the application supplied them.

        Returns:
            passed True / False / None (not assessed) with findings and details;
            never an exception for bad input (unreadable frames, unknown session).
            Transient service failures (throttling after retries) do raise, so the
            pipeline retries and finally records ENGINE_ERROR.
        """
        ...


@runtime_checkable
class RegisterClient(Protocol):
    """Looks a registration number up on a UK professional register."""

    name: str
    version: str

    def lookup(self, register: str, number: str) -> RegisterResult:
        """Look one number up.

        Args:
            register: GMC | GDC | NMC | GPHC (canonical; aliases resolved by the caller).
            number: a normalised number whose format is valid for that register.

        Returns:
            FOUND with name, status and conditions; NOT_FOUND; or UNAVAILABLE after
            the client's own retries (service down, rate-limited, malformed page).
            Never an exception for these.
        """
        ...


@runtime_checkable
class AsyncRegisterClient(Protocol):
    """A RegisterClient whose look-ups are runs that end later (Apify actor runs).

    The per-application flow starts the run, suspends (freeing its worker slot) and is
    resumed by the service calling Prefect's API when the run ends; then it collects.
    """

    name: str
    version: str

    def start_resumable(
        self,
        register: str,
        number: str,
        *,
        prefect_api_url: str,
        flow_run_id: str,
        prefect_auth_string: str | None = None,
    ) -> str:
        """Start a look-up that resumes ``flow_run_id`` through ``prefect_api_url`` when done.

        ``prefect_auth_string`` (``user:password``): the credential the call to
        Prefect's API carries (HTTP basic auth), when that API requires one.

        Returns:
            The run id to wait for and collect.
        """
        ...

    def collect(self, register: str, number: str, run_id: str) -> RegisterResult:
        """The answer of a finished run (UNAVAILABLE when it failed)."""
        ...


@runtime_checkable
class LicenceValidator(Protocol):
    """Validates a driver's licence (a third-party service or local rules)."""

    name: str
    version: str

    def validate(self, claim: LicenceClaim, *, today: dt.date) -> LicenceResult:
        """Validate one licence.

        Args:
            claim: number, holder's name and date of birth, expiry, jurisdiction.
            today: the caller's date (expiry).

        Returns:
            The result; ``verified`` None with no findings when the validator does not
            cover the jurisdiction. Service failures are LICENCE_NOT_VERIFIED
            findings, never exceptions.
        """
        ...
