"""Audit log: every decision the service returns, in an embedded SQLite database, append-only.

A decision row is committed (WAL journal, ``synchronous=FULL``: the commit is on disk) before
the HTTP response leaves, so an acknowledged decision survives a crash of the process or the
machine. A reviewer's override is a row of its own that points at the decision; neither table
can be updated or deleted (triggers refuse it), so the original stays readable for an appeal.

Both tables are hash-chained (``detector.audit_chain``: each row holds the previous row's sha256, the
head is kept beside them), so an edit, deletion or reordering made by hand, triggers dropped, is
found by ``verify()`` / ``detector audit verify``. The photos of each decision are kept, by default,
in a content-addressed store beside the database (``detector.audit_blobs``), written before the row.

>>> log = AuditLog(":memory:")
>>> log.count()
0
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from detector import audit_chain
from detector.audit_blobs import BlobStore, blob_dir, image_bytes
from detector.audit_chain import ChainLink, ChainReport
from detector.errors import DetectorError
from detector.types import Decision, ListingDecision

__all__ = ["DEFAULT_AUDIT_DB", "AuditError", "AuditLog", "AuditRecord", "ChainReport", "Override"]

#: Where ``detector serve`` and ``detector audit`` keep the log unless told otherwise.
DEFAULT_AUDIT_DB = "detector-audit.db"
# 2: the hash chain (seq, prev_hash, hash columns and the audit_chain head); 1 is upgraded on open.
SCHEMA_VERSION = 2
# How long a writer waits for another process's transaction (the CLI overriding while the service
# writes) before giving up; a commit takes milliseconds, so 10 s means something is stuck.
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at    TEXT    NOT NULL,
    listing_id    TEXT    NOT NULL,
    seller_id     TEXT,
    decision      TEXT    NOT NULL CHECK (decision IN ('allow', 'review', 'block')),
    risk          REAL    NOT NULL CHECK (risk >= 0 AND risk <= 1),
    flags         TEXT    NOT NULL,   -- JSON list of flags
    versions      TEXT    NOT NULL,   -- JSON object: package, stages, catalog hash
    image_sha256s TEXT    NOT NULL,   -- JSON list, in upload order
    decision_json TEXT    NOT NULL    -- the full answer as returned
);
CREATE INDEX IF NOT EXISTS decisions_listing ON decisions (listing_id);
CREATE TABLE IF NOT EXISTS overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id INTEGER NOT NULL REFERENCES decisions (id),
    created_at  TEXT    NOT NULL,
    decision    TEXT    NOT NULL CHECK (decision IN ('allow', 'review', 'block')),
    reason      TEXT    NOT NULL CHECK (length(trim(reason)) > 0),
    reviewer    TEXT
);
CREATE INDEX IF NOT EXISTS overrides_decision ON overrides (decision_id);
CREATE TRIGGER IF NOT EXISTS decisions_append_only_u BEFORE UPDATE ON decisions
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: decisions cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS decisions_append_only_d BEFORE DELETE ON decisions
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: decisions cannot be deleted'); END;
CREATE TRIGGER IF NOT EXISTS overrides_append_only_u BEFORE UPDATE ON overrides
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: overrides cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS overrides_append_only_d BEFORE DELETE ON overrides
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: overrides cannot be deleted'); END;
"""


class AuditError(DetectorError):
    """The audit log cannot be opened, read or written, or a record asked for does not exist."""


@dataclass(frozen=True)
class Override:
    """A reviewer's decision recorded beside an original one."""

    id: int
    decision_id: int
    created_at: str
    decision: Decision
    reason: str
    reviewer: str | None
    chain: ChainLink | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "decision_id": self.decision_id,
            "created_at": self.created_at,
            "decision": self.decision.value,
            "reason": self.reason,
            "reviewer": self.reviewer,
            "chain": self.chain.to_dict() if self.chain else None,
        }


@dataclass(frozen=True)
class AuditRecord:
    """One decision as the service returned it, and any overrides recorded since (oldest first)."""

    id: int
    created_at: str
    listing_id: str
    seller_id: str | None
    decision: Decision
    risk: float
    flags: list[dict[str, Any]]
    versions: dict[str, str]
    image_sha256s: list[str | None]
    decision_json: dict[str, Any]
    overrides: tuple[Override, ...] = field(default=())
    chain: ChainLink | None = None

    @property
    def effective_decision(self) -> Decision:
        """The latest override's decision, else the original."""
        return self.overrides[-1].decision if self.overrides else self.decision

    def summary(self) -> dict[str, Any]:
        """The one-line view of ``detector audit list``."""
        return {
            "id": self.id,
            "created_at": self.created_at,
            "listing_id": self.listing_id,
            "seller_id": self.seller_id,
            "decision": self.decision.value,
            "risk": round(self.risk, 4),
            "flags": [f.get("rule") for f in self.flags],
            "overridden": bool(self.overrides),
            "effective_decision": self.effective_decision.value,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "flags": self.flags,
            "versions": self.versions,
            "image_sha256s": self.image_sha256s,
            "decision_json": self.decision_json,
            "overrides": [o.to_dict() for o in self.overrides],
            "chain": self.chain.to_dict() if self.chain else None,
        }


class AuditLog:
    """An append-only SQLite log of decisions and overrides; safe to share between threads.

    ``path`` is created (with its schema) when missing; ``":memory:"`` is for tests.
    Several processes may write the same file (``detector serve --workers N``, the CLI).
    ``photos``: keep the photos passed to ``record`` in ``<path>.blobs/`` (never for ``":memory:"``).
    """

    def __init__(self, path: str | Path, *, photos: bool = True) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self.blobs: BlobStore | None = BlobStore(blob_dir(self.path)) if photos and self.path != ":memory:" else None
        try:
            if self.path != ":memory:":
                Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are opened explicitly, so a commit point is never implicit.
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal" and self.path != ":memory:":
                raise AuditError(f"audit log {self.path}: SQLite refused WAL mode (got {mode!r}); use a local disk")
            # FULL: the WAL is fsynced at every commit, so a returned decision survives power loss too.
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise AuditError(f"cannot open the audit log {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise AuditError(
                    f"audit log {self.path} has schema version {version}; this detector reads up to "
                    f"{SCHEMA_VERSION}: upgrade the detector package"
                )
            if version < 2:
                _run(db, _SCHEMA)  # a new file gets schema 1 first: one upgrade path for new and old logs
                audit_chain.upgrade(db)
            # Every open: re-creates any trigger or index missing (the upgrade drops two while it fills the chain).
            _run(db, _SCHEMA)
            _run(db, audit_chain.SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            # IMMEDIATE takes the write lock up front: no deadlock upgrading a read lock later.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------------

    def record(
        self,
        decision: ListingDecision,
        *,
        seller_id: str | None = None,
        extra: dict[str, Any] | None = None,
        images: Sequence[Any] = (),
    ) -> int:
        """Append ``decision`` and commit it durably; returns its audit id.

        ``extra`` is merged into the stored decision JSON (the service adds the audit id there itself).
        ``images`` are the listing's photos (bytes or paths, as given to the hook): with ``photos`` on,
        they are stored durably before the row commits, so a committed decision has its photos.
        """
        payload = decision.to_dict() | (extra or {})
        if self.blobs is not None:
            try:
                for image in images:
                    data = image_bytes(image)
                    if data is not None:
                        self.blobs.put(data)
            except OSError as exc:
                raise AuditError(f"cannot store the photos beside the audit log in {self.blobs.root}: {exc}") from exc
        row = [
            "",  # created_at: set under the write lock, so time order is chain order
            decision.listing_id,
            seller_id,
            decision.decision.value,
            float(decision.risk),
            _dumps([f.to_dict() for f in decision.flags]),
            _dumps(dict(decision.versions)),
            _dumps([r.sha256 for r in decision.images]),
            _dumps(payload),
        ]
        try:
            with self._transaction() as db:
                row[0] = _now()
                return audit_chain.append(db, "decisions", row)[0]
        except sqlite3.Error as exc:
            raise AuditError(f"cannot write to the audit log {self.path}: {exc}") from exc

    def override(
        self, decision_id: int, decision: Decision | str, reason: str, reviewer: str | None = None
    ) -> Override:
        """Record a reviewer's decision beside audit record ``decision_id``; the original is kept as it was."""
        try:
            new = Decision(decision)
        except ValueError:
            raise AuditError(
                f"override decision must be one of {', '.join(d.value for d in Decision)}, got {decision!r}"
            ) from None
        if not isinstance(reason, str) or not reason.strip():
            raise AuditError("an override needs a reason (--reason '…'): say why the decision was wrong")
        try:
            with self._transaction() as db:
                if db.execute("SELECT 1 FROM decisions WHERE id = ?", (decision_id,)).fetchone() is None:
                    raise AuditError(self._missing(db, decision_id))
                created = _now()
                values = (decision_id, created, new.value, reason.strip(), reviewer)
                oid, link = audit_chain.append(db, "overrides", values)
        except sqlite3.Error as exc:
            raise AuditError(f"cannot write to the audit log {self.path}: {exc}") from exc
        return Override(oid, decision_id, created, new, reason.strip(), reviewer, link)

    # -- reading -------------------------------------------------------------------------------------

    def get(self, decision_id: int) -> AuditRecord:
        """The record ``decision_id`` with its overrides; ``AuditError`` if there is none."""
        with self._reading() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM decisions WHERE id = ?", (decision_id,)).fetchone()
            if row is None:
                raise AuditError(self._missing(db, decision_id))
            return self._with_overrides(db, [row])[0]

    def latest(self, limit: int = 20, *, listing_id: str | None = None) -> list[AuditRecord]:
        """The newest ``limit`` records (newest first), optionally of one listing."""
        if limit <= 0:
            raise AuditError(f"limit must be positive, got {limit}")
        where, args = ("WHERE listing_id = ?", [listing_id]) if listing_id is not None else ("", [])
        with self._reading() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM decisions {where} ORDER BY id DESC LIMIT ?", (*args, limit)
            ).fetchall()
            return self._with_overrides(db, rows)

    def of_listing(self, listing_id: str) -> list[AuditRecord]:
        """Every record of ``listing_id``, oldest first; ``AuditError`` when there is none."""
        with self._reading() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM decisions WHERE listing_id = ? ORDER BY id", (listing_id,))
            records = self._with_overrides(db, rows.fetchall())
        if not records:
            raise AuditError(f"no audit record of listing {listing_id!r} in {self.path}; see `detector audit list`")
        return records

    def verify(self) -> ChainReport:
        """Check the hash chain over every row (``detector.audit_chain``); read in one consistent snapshot."""
        with self._reading() as db:
            db.execute("BEGIN")  # a deferred read transaction: writers go on (WAL), the snapshot holds still
            try:
                return audit_chain.verify(db)
            finally:
                db.execute("COMMIT")

    def chain_rows(self, decision_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The rows of ``decision_ids`` and their overrides as stored, chain fields included (for export)."""
        with self._reading() as db:
            return audit_chain.stored_rows(db, decision_ids)

    def count(self) -> int:
        with self._reading() as db:
            return int(db.execute("SELECT count(*) FROM decisions").fetchone()[0])

    def ids(self) -> set[int]:
        """Every decision id (the crash benchmark checks acknowledged ids against it)."""
        with self._reading() as db:
            return {int(r[0]) for r in db.execute("SELECT id FROM decisions")}

    def pragmas(self) -> dict[str, Any]:
        """journal_mode and synchronous as SQLite reports them (synchronous 2 is FULL)."""
        with self._reading() as db:
            return {
                "journal_mode": db.execute("PRAGMA journal_mode").fetchone()[0],
                "synchronous": db.execute("PRAGMA synchronous").fetchone()[0],
            }

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise AuditError(f"cannot read the audit log {self.path}: {exc}") from exc

    def _with_overrides(self, db: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> list[AuditRecord]:
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        by_decision: dict[int, list[Override]] = {}
        for o in db.execute(
            f"SELECT id, decision_id, created_at, decision, reason, reviewer, seq, prev_hash, hash FROM overrides"
            f" WHERE decision_id IN ({marks}) ORDER BY id",
            ids,
        ):
            by_decision.setdefault(o[1], []).append(
                Override(o[0], o[1], o[2], Decision(o[3]), o[4], o[5], ChainLink.of(*o[6:9]))
            )
        return [
            AuditRecord(
                id=r[0],
                created_at=r[1],
                listing_id=r[2],
                seller_id=r[3],
                decision=Decision(r[4]),
                risk=r[5],
                flags=json.loads(r[6]),
                versions=json.loads(r[7]),
                image_sha256s=json.loads(r[8]),
                decision_json=json.loads(r[9]),
                overrides=tuple(by_decision.get(r[0], ())),
                chain=ChainLink.of(*r[10:13]),
            )
            for r in rows
        ]

    def _missing(self, db: sqlite3.Connection, decision_id: int) -> str:
        lo, hi = db.execute("SELECT min(id), max(id) FROM decisions").fetchone()
        held = f"it holds ids {lo}..{hi}" if lo is not None else "it is empty"
        return f"no audit record {decision_id} in {self.path} ({held}); see `detector audit list`"


_COLUMNS = (
    "id, created_at, listing_id, seller_id, decision, risk, flags, versions, image_sha256s, decision_json,"
    " seq, prev_hash, hash"
)


def _run(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
