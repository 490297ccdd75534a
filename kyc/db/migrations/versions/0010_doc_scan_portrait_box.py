"""The document portrait's box on each scan (the review console's portrait crop).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 21:00:00

``doc_scans.portrait_box``: (left, top, right, bottom) of the portrait the reader
cropped, in pixels of the flattened document (kyc.imaging.capture.flatten of the
front). The crop itself is never stored (it is PII and can be made again from the
landed front); NULL when the reader found no face or does not crop (Textract).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``doc_scans.portrait_box`` (four integers or NULL)."""
    op.add_column("doc_scans", sa.Column("portrait_box", pg.ARRAY(sa.Integer()), nullable=True))
    op.create_check_constraint(
        op.f("ck_doc_scans_portrait_box_four"),
        "doc_scans",
        "portrait_box IS NULL OR cardinality(portrait_box) = 4",
    )


def downgrade() -> None:
    """Drop it again."""
    op.drop_constraint(op.f("ck_doc_scans_portrait_box_four"), "doc_scans", type_="check")
    op.drop_column("doc_scans", "portrait_box")
