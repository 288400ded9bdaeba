"""SQLAlchemy 2.0 typed models. The schema changes only through Alembic migrations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    deferred,
    mapped_column,
    query_expression,
    relationship,
)

QUEUED, PROCESSING, DONE, FAILED = "queued", "processing", "done", "failed"
FINAL_STATUSES = (DONE, FAILED)
OPEN_STATUSES = (QUEUED, PROCESSING)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use store.models.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict: JSON, list: JSON}


class Batch(Base):
    """One upload of many images. Counters, not row counts, so polling is cheap at any size."""

    __tablename__ = "batches"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    chunk_size: Mapped[int] = mapped_column(Integer, default=64)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    owner_id: Mapped[int | None] = mapped_column(Integer)  # the ApiKey that sent it (AUTH=keys)
    # While its upload runs: renewed by the web request; the stuck check never closes an upload
    # before this time (NULL once the upload ended)
    upload_until: Mapped[datetime | None]
    # how many items have a digit to review: not a column, loaded on request
    # (store.queries.with_review_count)
    needs_review: Mapped[int | None] = query_expression()

    items: Mapped[list[Recognition]] = relationship(
        back_populates="batch", cascade="all, delete-orphan", passive_deletes=True
    )


class Recognition(Base):
    """One submitted image: its bytes, where it is in its life, and what was found in it."""

    __tablename__ = "recognitions"
    __table_args__ = (
        Index("ix_recognitions_batch_seq", "batch_id", "seq"),
        Index("ix_recognitions_status_created", "status", "created_at"),
        Index("ix_recognitions_batch_review", "batch_id", "needs_review"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    seq: Mapped[int | None] = mapped_column(Integer)  # upload order inside its batch
    filename: Mapped[str | None] = mapped_column(String(1024))
    source: Mapped[str] = mapped_column(String(16), default="api")  # api | draw | upload | batch
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    image: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    image_mime: Mapped[str | None] = mapped_column(String(64))
    image_size: Mapped[int] = mapped_column(Integer, default=0)
    image_purged_at: Mapped[datetime | None]
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(String(256))
    confidence: Mapped[float | None] = mapped_column(Float)  # the lowest digit confidence
    model_version: Mapped[str | None] = mapped_column(String(64))
    # any digit below the model's review threshold (see worker.model.needs_review)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    owner_id: Mapped[int | None] = mapped_column(Integer)  # the ApiKey that sent it (AUTH=keys)
    # The worker processing it holds it until this time and renews it while it works; the stuck
    # check takes back only expired leases (see worker.lease)
    leased_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(255))  # the worker's node name

    batch: Mapped[Batch | None] = relationship(back_populates="items")
    digits: Mapped[list[DigitResult]] = relationship(
        back_populates="recognition",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="DigitResult.position",
    )
    corrections: Mapped[list[Correction]] = relationship(
        primaryjoin="Recognition.id == foreign(Correction.recognition_id)",
        viewonly=True,
        order_by="Correction.position",
    )


class DigitResult(Base):
    """One digit found in a recognition, left to right."""

    __tablename__ = "digits"
    __table_args__ = (
        UniqueConstraint("recognition_id", "position"),
        Index("ix_digits_review", "needs_review", "confidence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recognition_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recognitions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[list[float]] = mapped_column(JSON)
    box_x: Mapped[int] = mapped_column(Integer)
    box_y: Mapped[int] = mapped_column(Integer)
    box_w: Mapped[int] = mapped_column(Integer)
    box_h: Mapped[int] = mapped_column(Integer)
    normalized: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))  # 28x28 PNG
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    recognition: Mapped[Recognition] = relationship(back_populates="digits")

    @property
    def box(self) -> list[int]:
        return [self.box_x, self.box_y, self.box_w, self.box_h]

    @property
    def correction(self) -> Correction | None:
        """A user's label for this digit, if any (from its recognition's corrections: load
        them with `selectinload(Recognition.corrections)` where many are read)."""
        found = (c for c in self.recognition.corrections if c.position == self.position)
        return next(found, None)


class Correction(Base):
    """A user's label for one digit, stored beside the prediction (never over it).

    Keyed by (recognition_id, position) with no foreign key on purpose: retention deletes old
    recognitions and their digits, but never a correction. The row keeps what is needed to
    train on it later: the 28x28 PNG the model saw, what the model said, and who said otherwise.
    One row per digit; correcting again replaces the label (and its time and author).
    """

    __tablename__ = "corrections"
    __table_args__ = (UniqueConstraint("recognition_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recognition_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    position: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    label: Mapped[int] = mapped_column(Integer)  # what the user says it is
    predicted: Mapped[int] = mapped_column(Integer)  # what the model said
    confidence: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(64))
    image: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))  # 28x28 PNG, a copy
    corrected_by: Mapped[str | None] = mapped_column(String(128))  # the API key's name, if any
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    corrected_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ModelActivation(Base):
    """`digits model activate` appends a row; the newest row is the version every process
    serves. With no row, the setting (MODEL_VERSION / MODEL_PATH) decides."""

    __tablename__ = "model_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))  # relative to MODELS_DIR when inside it
    sha256: Mapped[str] = mapped_column(String(64))
    smoke_accuracy: Mapped[float | None] = mapped_column(Float)
    activated_by: Mapped[str | None] = mapped_column(String(128))
    activated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A client of the API (AUTH=keys). Only the key's SHA-256 is stored: the key itself is
    shown once, when it is created (`digits keys create NAME`)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to tell it apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
