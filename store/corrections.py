"""Corrections and the review queue: users' labels for digits, stored beside the predictions.

A correction copies the digit's 28x28 PNG when it is made, so it outlives the retention purge
of images and the deletion of old results (store.maintenance never touches this table).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, case, desc, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, contains_eager, undefer

from store.models import DONE, Correction, DigitResult, Recognition, utcnow
from store.queries import get_recognition

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql as pg
    from sqlalchemy.dialects import sqlite

LABELS = range(10)


class NoSuchDigit(LookupError):
    """The recognition, or the digit at that position, does not exist (yet)."""


def _insert_for(session: Session) -> Callable[[type[Correction]], pg.Insert | sqlite.Insert]:
    """The dialect's INSERT, which knows ON CONFLICT ... DO UPDATE (SQLite and PostgreSQL).
    Imported here: a process imports only the dialect it uses."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    raise NotImplementedError(f"corrections need an upsert on {name}")


def set_label(
    session: Session, rid: uuid.UUID, position: int, label: int, *, corrected_by: str | None
) -> Recognition:
    """Record that digit `position` of recognition `rid` is `label`; return the recognition,
    reloaded with its digits and corrections. Confirming (the predicted label) counts too."""
    rec = session.get(Recognition, rid)
    if rec is None:
        raise NoSuchDigit("No recognition with that id.")
    digit = session.scalars(
        select(DigitResult)
        .options(undefer(DigitResult.normalized))
        .where(DigitResult.recognition_id == rid, DigitResult.position == position)
    ).first()
    if digit is None:
        found = "it is not finished yet" if rec.status != DONE else f"it has {_count(session, rid)}"
        raise NoSuchDigit(f"That recognition has no digit {position} ({found}).")
    now = utcnow()
    insert = _insert_for(session)
    stmt = insert(Correction).values(
        recognition_id=rid,
        position=position,
        batch_id=rec.batch_id,
        label=label,
        predicted=digit.label,
        confidence=digit.confidence,
        model_version=rec.model_version,
        image=digit.normalized,
        corrected_by=corrected_by,
        created_at=now,
        corrected_at=now,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Correction.recognition_id, Correction.position],
            set_={
                "label": stmt.excluded.label,
                "corrected_by": stmt.excluded.corrected_by,
                "corrected_at": stmt.excluded.corrected_at,
                # the first copy stays if the digit's own PNG has been purged since
                "image": func.coalesce(stmt.excluded.image, Correction.image),
            },
        )
    )
    session.expunge(rec)  # reloaded below with the new correction
    corrected = get_recognition(session, rid)
    assert corrected is not None  # found above, in this same transaction
    return corrected


def corrected_text(text: str | None, labels: Mapping[int, int]) -> str | None:
    """`text` with users' labels ({position: label}) put in; None while none was corrected
    (a digit's position is its index in `text`)."""
    if not labels or text is None:
        return None
    return "".join(str(labels.get(i, char)) for i, char in enumerate(text))


def _count(session: Session, rid: uuid.UUID) -> str:
    n = session.scalar(
        select(func.count()).select_from(DigitResult).where(DigitResult.recognition_id == rid)
    )
    return f"{n} digit" + ("" if n == 1 else "s")


def correction_image(session: Session, rid: uuid.UUID, position: int) -> bytes | None:
    """The 28x28 PNG kept with a correction (after retention removed the digit's own)."""
    return session.scalar(
        select(Correction.image).where(
            Correction.recognition_id == rid, Correction.position == position
        )
    )


# ---------------------------------------------------------------- the review queue


def review_queue(
    session: Session,
    *,
    batch_id: uuid.UUID | None = None,
    below: float | None = None,
    page: int = 1,
    per_page: int = 50,
    visible: ColumnElement[bool] | None = None,
) -> tuple[list[DigitResult], int]:
    """Digits still to be looked at, lowest confidence first, and how many there are; each
    comes with its `recognition` loaded.

    Those flagged `needs_review`, or, when `below` is given, every digit under that confidence.
    A digit with a correction (a confirmation included) has been looked at and drops out.
    `visible`: a condition on Recognition limiting whose digits (API keys: the caller's own).
    """
    looked_at = exists().where(
        Correction.recognition_id == DigitResult.recognition_id,
        Correction.position == DigitResult.position,
    )
    where: list[ColumnElement[bool] | InstrumentedAttribute[bool]] = [
        Recognition.status == DONE,
        ~looked_at,
    ]
    where.append(DigitResult.confidence < below if below is not None else DigitResult.needs_review)
    if batch_id is not None:
        where.append(Recognition.batch_id == batch_id)
    if visible is not None:
        where.append(visible)
    total = session.scalar(
        select(func.count())
        .select_from(DigitResult)
        .join(Recognition, Recognition.id == DigitResult.recognition_id)
        .where(*where)
    )
    digits = session.scalars(
        select(DigitResult)
        .join(DigitResult.recognition)
        .options(contains_eager(DigitResult.recognition))
        .where(*where)
        .order_by(DigitResult.confidence, DigitResult.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(digits), int(total or 0)


# ---------------------------------------------------------------- what users corrected


@dataclass
class LabelCount:
    label: int
    count: int  # corrections (confirmations included) saying it is this digit
    changed: int  # of those, how many said the model was wrong


@dataclass
class ConfusedPair:
    predicted: int
    label: int
    count: int


@dataclass
class Summary:
    total: int
    changed: int
    per_digit: list[LabelCount]
    confused_pairs: list[ConfusedPair]


def summary(session: Session, *, top: int = 10) -> Summary:
    """Corrections per digit, and the (model said, user said) pairs seen most often."""
    changed = case((Correction.label != Correction.predicted, 1), else_=0)
    counts = {
        row.label: (int(row.n), int(row.changed or 0))
        for row in session.execute(
            select(
                Correction.label, func.count().label("n"), func.sum(changed).label("changed")
            ).group_by(Correction.label)
        )
    }
    n = func.count().label("n")
    pairs = session.execute(
        select(Correction.predicted, Correction.label, n)
        .where(Correction.label != Correction.predicted)
        .group_by(Correction.predicted, Correction.label)
        .order_by(desc(n), Correction.predicted, Correction.label)
        .limit(top)
    ).all()
    per_digit = [LabelCount(d, *counts.get(d, (0, 0))) for d in LABELS]
    return Summary(
        total=sum(c.count for c in per_digit),
        changed=sum(c.changed for c in per_digit),
        per_digit=per_digit,
        confused_pairs=[ConfusedPair(p.predicted, p.label, int(p.n)) for p in pairs],
    )


def exportable(session: Session, chunk: int = 500) -> Iterator[Correction]:
    """Every correction that has its 28x28 image, oldest first, streamed in chunks."""
    yield from session.scalars(
        select(Correction)
        .options(undefer(Correction.image))
        .where(Correction.image.is_not(None))
        .order_by(Correction.id)
        .execution_options(yield_per=chunk)
    )


def count_without_image(session: Session) -> int:
    """Corrections made after retention had already removed the digit's image."""
    return int(
        session.scalar(
            select(func.count()).select_from(Correction).where(Correction.image.is_(None))
        )
        or 0
    )
