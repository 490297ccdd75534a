"""What the Textract / Rekognition adapters add to each AWS call (``make bench-aws``).

Runs the adapters against the loopback recorded-response replay server
(``tests/engines/aws_replay.py``), so the service's own time is ~0 and what is
measured is ours: the local image checks, boto3 serialisation and SigV4 signing, the
HTTP round trip on loopback and the response mapping. Inputs are the demo's rendered
licence (front + PDF417 back, JPEG) and a public face photo as the selfie.

Not a test: figures depend on the machine and its load. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "max_ms": round(ordered[-1], 2),
    }


def main() -> int:
    """Run the benchmark; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="calls per engine")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    import datetime as dt
    import random

    from PIL import Image

    from kyc.demo.cards import render_licence_back, render_licence_front
    from kyc.demo.generate import card_data
    from kyc.engines.document_textract import TextractDocumentReader
    from kyc.engines.face_rekognition import RekognitionFaceMatcher
    from kyc.settings import Settings, get_settings
    from tests.engines.aws_replay import (
        REKOGNITION_COMPARE_FACES,
        TEXTRACT_ANALYZE_ID,
        ReplayServer,
        dummy_session,
        saved,
    )

    faces = get_settings().shared_data_dir / "faces" / "facerec_biden"
    photos = sorted(faces.glob("*.jpg"))
    if len(photos) < 2:
        print(f"face photos not found in {faces}", file=sys.stderr)
        return 2
    card = card_data(random.Random(5), dt.date(2026, 1, 1), 0)
    with Image.open(photos[0]) as portrait:
        front = render_licence_front(card, portrait.convert("RGB"), seed=5)
    back = render_licence_back(card, seed=5)
    selfie = photos[1].read_bytes()

    out: dict[str, Any] = {
        "n": args.n,
        "concurrency": args.concurrency,
        "image_bytes": {"front": len(front), "back": len(back), "selfie": len(selfie)},
    }
    with ReplayServer() as server:
        server.add(TEXTRACT_ANALYZE_ID, [front, back], saved("analyze_id_licence_front_back"))
        server.add(REKOGNITION_COMPARE_FACES, [selfie, front], saved("compare_faces_same_person"))
        settings = Settings(
            textract_endpoint_url=server.endpoint, rekognition_endpoint_url=server.endpoint
        )
        reader = TextractDocumentReader.from_settings(settings, session=dummy_session())
        matcher = RekognitionFaceMatcher.from_settings(settings, session=dummy_session())
        calls = {
            "textract_read": lambda: reader.read(front, back=back),
            "rekognition_compare": lambda: matcher.compare(selfie, front),
        }
        for name, call in calls.items():
            call()  # warm-up: service model loading, connection set-up (not timed)
            walls: list[float] = []
            prechecks: list[float] = []
            for _ in range(args.n):
                started = time.perf_counter()
                result = call()
                walls.append((time.perf_counter() - started) * 1000.0)
                prechecks.append(float(result.timings_ms.get("precheck", 0.0)))
            started = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(lambda _, c=call: c(), range(args.n)))
            parallel_s = time.perf_counter() - started
            out[name] = {
                "serial": _percentiles(walls),
                "local_image_checks": _percentiles(prechecks),
                f"calls_per_s_{args.concurrency}_threads": round(args.n / parallel_s, 1),
            }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
