"""One uploaded image, fetched and decoded at most once, shared by every engine.

An application's document front is read by the document reader, compared by the face
matcher and looked at again by the replay check; its selfie is used by the face
matcher, the replay check, the liveness challenge and the duplicate search. Each of
them used to fetch and decode the bytes itself, and detect the face again. A
:class:`Picture` holds the bytes (fetched lazily, once), the decoded image (once),
and a small memo of what was derived from it (reduced copies, face detections), so
that every engine works from the same decode and the same detection.

Thread-safe: the per-application flow runs stages as task runs that may share a
Picture; each value is computed once under the Picture's lock (engines that compute
a memo entry hold that lock only while computing it, and every entry is cheap
relative to the engines' own work).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeAlias, TypeVar

from PIL import Image

from kyc.imaging.decode import ImageUnreadable, load_image_reduced

T = TypeVar("T")

#: What the engines' ports accept for an image: bytes (callers outside the pipeline,
#: tests, the CLI) or a shared Picture.
ImageInput: TypeAlias = "bytes | Picture"

_MISSING = object()


class Picture:
    """An image given as bytes or as a loader, decoded on first use and kept.

    Args:
        data: the image file's bytes; or
        loader: a callable returning them (called once, on first use of ``data``),
            e.g. an object-store read. Exactly one of the two.
        name: what the image is (``selfie``, ``id_document``): for messages only.
    """

    __slots__ = ("_data", "_loader", "_lock", "_memo", "name")

    def __init__(
        self,
        data: bytes | None = None,
        *,
        loader: Callable[[], bytes] | None = None,
        name: str = "image",
    ) -> None:
        if (data is None) == (loader is None):
            raise ValueError("give exactly one of data and loader")
        self._data = data
        self._loader = loader
        self._lock = threading.RLock()
        self._memo: dict[Hashable, Any] = {}
        self.name = name

    @classmethod
    def of(cls, image: bytes | Picture, *, name: str = "image") -> Picture:
        """``image`` itself when it is a Picture, else a Picture of these bytes."""
        return image if isinstance(image, Picture) else cls(image, name=name)

    @classmethod
    def of_image(cls, image: Image.Image, *, name: str = "image") -> Picture:
        """A Picture of an image already decoded (e.g. a flattened document).

        Engines that work on pixels use ``image`` as is; one that needs a file (a
        cloud engine) gets a PNG, encoded once on first use.
        """
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        picture = cls(loader=lambda: _png(rgb), name=name)
        picture._memo[("rgb", None)] = (rgb, 1.0)
        return picture

    @property
    def data(self) -> bytes:
        """The file's bytes (fetched on first use; a failed fetch raises every time)."""
        if self._data is None:
            with self._lock:
                if self._data is None:
                    assert self._loader is not None
                    self._data = self._loader()
        return self._data

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value derived from this image under ``key``, computed once.

        An exception raised by ``compute`` is remembered and raised again on every
        later call with the same key (an unreadable image stays unreadable; it is
        not decoded again by the next engine).
        """
        found = self._memo.get(key, _MISSING)
        if found is _MISSING:
            with self._lock:
                found = self._memo.get(key, _MISSING)
                if found is _MISSING:
                    try:
                        found = compute()
                    except ImageUnreadable as exc:
                        found = _Failed(exc)
                    self._memo[key] = found
        if isinstance(found, _Failed):
            raise found.error
        return found

    def known(self, key: Hashable) -> Any:
        """The value memoised under ``key``, or None when none was computed (no compute)."""
        found = self._memo.get(key)
        return None if found is None or isinstance(found, _Failed) else found

    def decoded(self, *, min_long_side: int | None = None) -> tuple[Image.Image, float]:
        """The image, RGB, EXIF orientation applied, and its scale to the upload.

        The full-size decode is made once and shared. A caller that needs fewer
        pixels (``min_long_side``) gets the full decode when one exists; otherwise a
        large JPEG is decoded once at a DCT-reduced scale for such callers (see
        :func:`kyc.imaging.decode.load_image_reduced`): a 12 MP selfie is then never
        decoded at full size unless an engine needs every pixel.

        Raises:
            ImageUnreadable: not a usable image (the same error for every caller).
        """
        if min_long_side is None or ("rgb", None) in self._memo:
            return self.memo(("rgb", None), lambda: _decode(self.data, None))
        found = self.memo(("rgb", min_long_side), lambda: _decode(self.data, min_long_side))
        if found[1] == 1.0:
            # Not reduced (a small JPEG, another format): this is the full-size decode,
            # so a later caller wanting every pixel must not decode the file again.
            with self._lock:
                self._memo.setdefault(("rgb", None), found)
        return found

    def rgb(self) -> Image.Image:
        """The full-size decoded image (RGB, EXIF orientation applied).

        Raises:
            ImageUnreadable: not a usable image.
        """
        return self.decoded()[0]

    def __repr__(self) -> str:  # never the bytes: they are personal data
        return f"Picture({self.name})"


class _Failed:
    """A remembered decoding failure."""

    __slots__ = ("error",)

    def __init__(self, error: ImageUnreadable) -> None:
        self.error = error


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _decode(data: bytes, min_long_side: int | None) -> tuple[Image.Image, float]:
    image, scale = load_image_reduced(data, mode="RGB", min_long_side=min_long_side)
    # Pillow's lazy operations must not run concurrently on a shared image: load now.
    image.load()
    return image, scale


__all__ = ["ImageInput", "Picture"]
