"""The application being decided, and its images fetched and decoded once.

Every stage of one application receives the same :class:`Case`: its landing, its
objects, its validated form, its database ids and its :class:`ApplicationImages`.
The images are :class:`~kyc.imaging.picture.Picture` objects that fetch their object
on first use and keep the decoded image and face detections, so the document front
is fetched and decoded once for the document reader, the face matcher and the
replay check, and the selfie once for the matcher, the liveness checks and the
duplicate search.
"""

from __future__ import annotations

from dataclasses import dataclass

from kyc.db.repository import ApplicationRefs
from kyc.domain.application import Application
from kyc.domain.landing import LandingBundle
from kyc.domain.records import DocumentScan
from kyc.imaging.picture import Picture
from kyc.storage.base import ObjectStore


@dataclass(frozen=True, slots=True)
class ApplicationImages:
    """An application's images, each fetched from the store on first use, once."""

    front: Picture
    selfie: Picture
    back: Picture | None = None
    frames: tuple[Picture, ...] = ()

    @classmethod
    def of(cls, store: ObjectStore, bundle: LandingBundle) -> ApplicationImages:
        """Pictures over the bundle's objects in ``store`` (nothing is read yet)."""

        def picture(key: str, name: str) -> Picture:
            return Picture(loader=lambda: store.get(key), name=name)

        return cls(
            front=picture(bundle.front.key, "id_document"),
            selfie=picture(bundle.selfie.key, "selfie"),
            back=picture(bundle.back.key, "id_document_back") if bundle.back else None,
            frames=tuple(picture(f.key, f"selfie_frame_{i}") for i, f in enumerate(bundle.frames)),
        )

    def all(self) -> tuple[Picture, ...]:
        """Every image of the application (front, selfie, back, liveness frames)."""
        return (self.front, self.selfie, *((self.back,) if self.back else ()), *self.frames)

    def document_face(self, scan: DocumentScan | None) -> Picture:
        """The document image whose face is compared: the one the reader found it on.

        That is the flattened document (the reader's face detection on it is reused
        by the face matcher and the replay check), else the front as landed.
        """
        if scan is not None and scan.face_image is not None:
            return scan.face_image
        return self.front


@dataclass(frozen=True, slots=True)
class Case:
    """One application in flight: every stage's common input."""

    landing: str
    bundle: LandingBundle
    application: Application
    refs: ApplicationRefs
    images: ApplicationImages

    @property
    def application_id(self) -> str:
        """The application's id (its landing folder name)."""
        return self.bundle.application_id
