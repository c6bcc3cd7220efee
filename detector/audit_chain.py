"""The audit log's hash chain: every decision and override row carries the sha256 of the row before it.

One chain runs over both tables in insertion order. Each row stores its place in the chain
(``seq``, 1, 2, 3, … across ``decisions`` and ``overrides``), the previous row's hash
(``prev_hash``; the first row's is 64 zeros) and its own ``hash``::

    hash = sha256(canonical JSON of [CHAIN_FORMAT, table, id, seq, prev_hash, {column: stored value}])

over every column as stored (time, listing and seller, decision, risk, the flags' JSON, the stage
versions, the images' sha256s and the full answer for a decision; the decision it points at, time,
decision, reason and reviewer for an override). The table ``audit_chain`` keeps the head: the
newest row's ``seq`` and ``hash``, updated in the same transaction as the insert, so deleting the
newest row is caught too. Rows are appended under ``BEGIN IMMEDIATE``: reading the head, inserting
and moving the head happen under SQLite's write lock, so two writers (service worker processes)
can never fork the chain.

What ``verify`` catches: an edited column of any row (hash mismatch), a deleted row (a gap in
``seq``, or the head ahead of the last row), rows moved or ids swapped (reorder), a row inserted by
hand without a hash (unchained). What it cannot: someone with write access to the file who
recomputes every hash after the change and moves the head is caught only by comparing the head
with a copy kept elsewhere. ``detector audit verify`` prints the head hash so it can be anchored
(published, mailed, written to another system) now and then; every row up to an anchored head is
then fixed. An old log (schema 1, before the chain) is chained when the new code first opens it:
its rows are protected from then on, not before (``verify`` reports how many rows that was, and when).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CHAIN_FORMAT",
    "GENESIS",
    "TABLES",
    "ChainLink",
    "ChainProblem",
    "ChainReport",
    "append",
    "row_hash",
    "stored_rows",
    "upgrade",
    "verify",
]

CHAIN_FORMAT = "detector-audit-chain/1"
#: The ``prev_hash`` of the first row.
GENESIS = "0" * 64
#: The chained columns of each table, in the order they are hashed (the JSON object sorts them anyway).
TABLES: dict[str, tuple[str, ...]] = {
    "decisions": (
        "created_at", "listing_id", "seller_id", "decision", "risk", "flags", "versions", "image_sha256s",
        "decision_json",
    ),
    "overrides": ("decision_id", "created_at", "decision", "reason", "reviewer"),
}

# Run on every open after the tables exist (idempotent). The unique seq indexes stop two rows of one
# table sharing a place; the insert triggers refuse a row without its chain fields; the head can move
# forward only and cannot be deleted (a hand with the sqlite3 shell can still drop these: verify is the check).
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_chain (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    seq           INTEGER NOT NULL,
    hash          TEXT    NOT NULL,
    migrated_rows INTEGER NOT NULL DEFAULT 0,
    migrated_at   TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS decisions_seq ON decisions (seq);
CREATE UNIQUE INDEX IF NOT EXISTS overrides_seq ON overrides (seq);
CREATE TRIGGER IF NOT EXISTS decisions_chained_i BEFORE INSERT ON decisions
    WHEN NEW.seq IS NULL OR NEW.prev_hash IS NULL OR NEW.hash IS NULL
    BEGIN SELECT RAISE(ABORT, 'the audit log is hash-chained: insert decisions through detector.audit'); END;
CREATE TRIGGER IF NOT EXISTS overrides_chained_i BEFORE INSERT ON overrides
    WHEN NEW.seq IS NULL OR NEW.prev_hash IS NULL OR NEW.hash IS NULL
    BEGIN SELECT RAISE(ABORT, 'the audit log is hash-chained: insert overrides through detector.audit'); END;
CREATE TRIGGER IF NOT EXISTS audit_chain_forward_u BEFORE UPDATE ON audit_chain WHEN NEW.seq <= OLD.seq
    BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END;
CREATE TRIGGER IF NOT EXISTS audit_chain_keep_d BEFORE DELETE ON audit_chain
    BEGIN SELECT RAISE(ABORT, 'the audit chain head cannot be deleted'); END;
"""


@dataclass(frozen=True)
class ChainLink:
    """A row's place in the chain."""

    seq: int
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "prev_hash": self.prev_hash, "hash": self.hash}

    @classmethod
    def of(cls, seq: int | None, prev_hash: str | None, hash_: str | None) -> ChainLink | None:
        return None if seq is None or prev_hash is None or hash_ is None else cls(seq, prev_hash, hash_)


@dataclass(frozen=True)
class ChainProblem:
    """The first row where the chain does not hold.

    ``kind``: ``hash_mismatch`` (a column was edited), ``gap`` (a row was deleted), ``reorder`` (rows
    moved or ids swapped), ``broken_link`` (its ``prev_hash`` is not the previous row's hash),
    ``unchained`` (no chain fields, or beyond the head: inserted by hand), ``head`` (the head is
    missing or does not match the last row).
    """

    table: str
    id: int | None
    seq: int | None
    kind: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "id": self.id, "seq": self.seq, "kind": self.kind, "detail": self.detail}

    def __str__(self) -> str:
        where = f"{self.table} id {self.id}" if self.id is not None else self.table
        return f"{where}: {self.kind.replace('_', ' ')}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    """What ``verify`` found: rows checked, the head, and the first problem (None when intact)."""

    decisions: int
    overrides: int
    head_seq: int
    head_hash: str
    migrated_rows: int
    migrated_at: str | None
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def rows(self) -> int:
        return self.decisions + self.overrides

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "decisions": self.decisions,
            "overrides": self.overrides,
            "head": {"seq": self.head_seq, "sha256": self.head_hash},
            "migrated_rows": self.migrated_rows,
            "migrated_at": self.migrated_at,
            "problem": self.problem.to_dict() if self.problem else None,
        }


def row_hash(table: str, row_id: int, seq: int, prev_hash: str, values: Sequence[Any]) -> str:
    """The chain hash of one row from its stored column values (in ``TABLES[table]`` order)."""
    fields = dict(zip(TABLES[table], values, strict=True))
    payload = json.dumps(
        [CHAIN_FORMAT, table, row_id, seq, prev_hash, fields],
        ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def append(db: sqlite3.Connection, table: str, values: Sequence[Any]) -> tuple[int, ChainLink]:
    """Insert a chained row into ``table``; call inside a ``BEGIN IMMEDIATE`` transaction. Returns (id, link).

    The id is chosen here (AUTOINCREMENT's next one) because the hash covers it.
    """
    from detector.audit import AuditError

    head = db.execute("SELECT seq, hash FROM audit_chain WHERE id = 1").fetchone()
    if head is None:
        # Writing on would start a second chain and hide whatever removed the head.
        raise AuditError("the audit chain head is missing (the log was altered by hand): run `detector audit verify`")
    seq, prev = int(head[0]) + 1, str(head[1])
    row_id = _next_id(db, table)
    link = ChainLink(seq, prev, row_hash(table, row_id, seq, prev, values))
    cols = TABLES[table]
    db.execute(
        f"INSERT INTO {table} (id, seq, prev_hash, hash, {', '.join(cols)}) VALUES ({', '.join('?' * (len(cols) + 4))})",
        (row_id, link.seq, link.prev_hash, link.hash, *values),
    )
    db.execute("UPDATE audit_chain SET seq = ?, hash = ? WHERE id = 1", (link.seq, link.hash))
    return row_id, link


def _next_id(db: sqlite3.Connection, table: str) -> int:
    used = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    top = db.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
    return max(int(used[0]) if used else 0, int(top or 0)) + 1


def upgrade(db: sqlite3.Connection) -> int:
    """Schema 1 → 2, inside the caller's transaction: add the chain columns and chain the rows present.

    Old rows are chained in time order (ids in order within each table, a decision before its
    overrides on a tie). They are protected from now on, not before; the head records how many there
    were and when. The update triggers are dropped here to fill the new columns: the caller
    re-creates them (its schema statements) before committing. Returns the number of rows chained.
    """
    for table in TABLES:
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        for col, kind in (("seq", "INTEGER"), ("prev_hash", "TEXT"), ("hash", "TEXT")):
            if col not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {col} {kind}")
    db.execute(SCHEMA.split(";\n", 1)[0])  # the head table
    if db.execute("SELECT 1 FROM audit_chain WHERE id = 1").fetchone() is not None:
        return 0
    db.execute("DROP TRIGGER IF EXISTS decisions_append_only_u")
    db.execute("DROP TRIGGER IF EXISTS overrides_append_only_u")
    old = {t: db.execute(f"SELECT id, {', '.join(c)} FROM {t} ORDER BY id").fetchall() for t, c in TABLES.items()}
    created = {"decisions": 1, "overrides": 2}  # created_at's position in each row above
    rank = {"decisions": 0, "overrides": 1}
    ordered = heapq.merge(
        *([(r[created[t]], rank[t], r[0], t, r[1:]) for r in rows] for t, rows in old.items()),
    )
    seq, prev = 0, GENESIS
    for _, _, row_id, table, values in ordered:
        seq += 1
        h = row_hash(table, row_id, seq, prev, values)
        db.execute(f"UPDATE {table} SET seq = ?, prev_hash = ?, hash = ? WHERE id = ?", (seq, prev, h, row_id))
        prev = h
    db.execute(
        "INSERT INTO audit_chain (id, seq, hash, migrated_rows, migrated_at) VALUES (1, ?, ?, ?, ?)",
        (seq, prev, seq, _now() if seq else None),
    )
    return seq


def stored_rows(db: sqlite3.Connection, decision_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The decisions ``decision_ids`` and their overrides exactly as stored, with their chain fields (chain order).

    What an evidence bundle carries so its rows can be re-hashed without the database (``row_hash``).
    """
    marks = ",".join("?" * len(decision_ids))
    out = []
    for table, key in (("decisions", "id"), ("overrides", "decision_id")):
        cols = TABLES[table]
        for r in db.execute(
            f"SELECT id, seq, prev_hash, hash, {', '.join(cols)} FROM {table} WHERE {key} IN ({marks})",
            list(decision_ids),
        ):
            out.append({"table": table, "id": r[0], "seq": r[1], "prev_hash": r[2], "hash": r[3],
                        "fields": dict(zip(cols, r[4:], strict=True))})
    return sorted(out, key=lambda row: (row["seq"] is not None, row["seq"] or 0))


# -- verifying --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    seq: int | None
    table: str
    id: int
    prev_hash: str | None
    hash: str | None
    values: tuple[Any, ...]


def verify(db: sqlite3.Connection) -> ChainReport:
    """Walk the whole chain (call inside one read transaction, for a consistent snapshot)."""
    counts = {t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}
    head = db.execute("SELECT seq, hash, migrated_rows, migrated_at FROM audit_chain WHERE id = 1").fetchone()
    problem = _first_problem(db, head)
    seq, hash_, migrated, at = head if head is not None else (0, GENESIS, 0, None)
    return ChainReport(counts["decisions"], counts["overrides"], int(seq), str(hash_), int(migrated), at, problem)


def _rows(db: sqlite3.Connection) -> Iterator[_Row]:
    """Both tables' rows in chain order, streamed (a large log is not held in memory); unchained first."""

    def one(table: str) -> Iterator[_Row]:
        cols = ", ".join(TABLES[table])
        for r in db.execute(f"SELECT seq, id, prev_hash, hash, {cols} FROM {table} ORDER BY seq, id"):
            yield _Row(r[0], table, r[1], r[2], r[3], tuple(r[4:]))

    return heapq.merge(one("decisions"), one("overrides"), key=lambda r: (r.seq is not None, r.seq or 0))


def _first_problem(db: sqlite3.Connection, head: tuple[Any, ...] | None) -> ChainProblem | None:
    misplaced = _misplaced(db)
    missing = _missing_ids(db)
    expected, prev, last = 1, GENESIS, None
    for row in _rows(db):
        if row.seq is None or row.prev_hash is None or row.hash is None:
            return ChainProblem(row.table, row.id, row.seq, "unchained",
                                "the row has no chain hash: it was inserted outside the detector")
        if row.seq > expected:
            return ChainProblem(row.table, row.id, row.seq, "gap",
                                f"the row(s) just before it in the chain (position {_span(expected, row.seq - 1)}) "
                                f"are missing: deleted{_hint(missing)}")
        if row.seq < expected:
            return ChainProblem(row.table, row.id, row.seq, "reorder",
                                f"chain position {row.seq} is taken twice (last: {last.table} id {last.id})"
                                if last else f"chain position {row.seq} is taken twice")
        if (row.table, row.id) in misplaced:
            return ChainProblem(row.table, row.id, row.seq, "reorder",
                                f"ids of {row.table} are not in chain order: id {row.id} sits at chain position "
                                f"{row.seq}; rows were moved or their ids swapped")
        if row.prev_hash != prev:
            return ChainProblem(row.table, row.id, row.seq, "broken_link",
                                f"its prev_hash {row.prev_hash[:12]}… is not the hash {prev[:12]}… of the row "
                                "before it in the chain")
        if row_hash(row.table, row.id, row.seq, row.prev_hash, row.values) != row.hash:
            return ChainProblem(row.table, row.id, row.seq, "hash_mismatch",
                                "its content does not match its hash: a column was changed after it was written")
        expected, prev, last = expected + 1, row.hash, row
    return _head_problem(head, expected - 1, prev, last, missing)


def _head_problem(
    head: tuple[Any, ...] | None, last_seq: int, last_hash: str, last: _Row | None, missing: dict[str, list[int]]
) -> ChainProblem | None:
    if head is None:
        return ChainProblem("audit_chain", None, None, "head", "the chain head row is missing (deleted by hand)")
    seq, hash_ = int(head[0]), str(head[1])
    if seq > last_seq:
        return ChainProblem(
            *_newest_missing(missing), seq, "gap",
            f"the newest row(s) are missing: the chain head is at position {seq} but the last row is at "
            f"{last_seq} ({f'{last.table} id {last.id}' if last else 'the log is empty'}): deleted{_hint(missing)}",
        )
    if seq < last_seq and last is not None:
        return ChainProblem(last.table, last.id, last.seq, "unchained",
                            f"the row is past the chain head (position {seq}): appended outside the detector")
    if hash_ != last_hash:
        return ChainProblem("audit_chain", None, seq, "head",
                            f"the head's hash {hash_[:12]}… is not the last row's {last_hash[:12]}…")
    return None


def _misplaced(db: sqlite3.Connection) -> set[tuple[str, int]]:
    """Rows whose rank by id differs from their rank by seq within their table (ids swapped, rows moved)."""
    out: set[tuple[str, int]] = set()
    for table in TABLES:
        pairs = db.execute(f"SELECT id, seq FROM {table} WHERE seq IS NOT NULL").fetchall()
        by_seq = [i for i, _ in sorted(pairs, key=lambda p: p[1])]
        out.update((table, a) for a, b in zip(by_seq, sorted(by_seq)) if a != b)
    return out


def _missing_ids(db: sqlite3.Connection) -> dict[str, list[int]]:
    """Ids handed out (sqlite_sequence) but absent, per table: the rows a deletion took."""
    out: dict[str, list[int]] = {}
    for table in TABLES:
        used = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
        ids = {int(r[0]) for r in db.execute(f"SELECT id FROM {table}")}
        top = max([int(used[0]) if used else 0, *ids])
        gone = [i for i in range(1, top + 1) if i not in ids]
        if gone:
            out[table] = gone
    return out


def _hint(missing: dict[str, list[int]]) -> str:
    if not missing:
        return ""
    parts = [f"{t} id{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids[:10]))}" for t, ids in missing.items()]
    return f" ({'; '.join(parts)} missing)"


def _newest_missing(missing: dict[str, list[int]]) -> tuple[str, int | None]:
    """The table and id to name for deleted newest rows: the highest missing id, else the head itself."""
    best = max(((ids[-1], t) for t, ids in missing.items()), default=None)
    return (best[1], best[0]) if best else ("audit_chain", None)


def _span(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}..{b}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
