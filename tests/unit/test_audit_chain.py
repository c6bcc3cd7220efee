"""The audit log's hash chain: every edit, deletion or reordering made by hand is found and named."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from detector.audit import _SCHEMA, SCHEMA_VERSION, AuditError, AuditLog
from detector.audit_chain import GENESIS, row_hash
from detector.cli import EXIT_OK, EXIT_USAGE, main
from detector.types import Decision, Flag, ImageReport, ListingDecision, Severity


def decision(listing_id: str = "L-1", verdict: Decision = Decision.BLOCK, risk: float = 0.9) -> ListingDecision:
    flags = (Flag("counterfeit_vocabulary", Severity.BLOCK, "says replica", evidence=("listing_text",)),)
    return ListingDecision(
        listing_id=listing_id,
        decision=verdict,
        risk=risk,
        flags=flags if verdict is not Decision.ALLOW else (),
        images=(ImageReport(path="a.jpg", ok=True, decision=verdict, risk=risk, sha256="a" * 64),
                ImageReport(path="b.jpg", ok=True, decision=Decision.ALLOW, risk=0.0, sha256="b" * 64)),
        versions={"detector": "0.1.0", "ocr": "fake-ocr"},
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Three decisions; decision 2 has an override (chain: d1, d2, o1, d3)."""
    path = tmp_path / "log.db"
    with AuditLog(path) as log:
        log.record(decision("L-0"), seller_id="s-1")
        log.record(decision("L-1"), seller_id="s-1")
        log.override(2, "allow", "invoice checked", reviewer="ana")
        log.record(decision("L-2", Decision.REVIEW, 0.5), seller_id="s-2")
    return path


def by_hand(db: Path, *statements: str) -> None:
    """Change the file as someone with the sqlite3 shell can: drop every trigger, run, re-create them."""
    con = sqlite3.connect(db)
    triggers = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        con.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        con.execute(statement)
    for _, sql in triggers:
        con.execute(sql)
    con.commit()
    con.close()


def problem(db: Path) -> tuple[str, int | None, str]:
    with AuditLog(db) as log:
        report = log.verify()
    assert report.problem is not None, "the change went unnoticed"
    return report.problem.table, report.problem.id, report.problem.kind


def test_an_intact_log_verifies_and_its_head_is_the_last_rows_hash(db: Path) -> None:
    with AuditLog(db) as log:
        report = log.verify()
        rec = log.get(3)
        first = log.get(1)
    assert report.ok and (report.rows, report.decisions, report.overrides) == (4, 3, 1)
    assert (report.head_seq, report.head_hash) == (4, rec.chain.hash)
    assert first.chain.prev_hash == GENESIS and first.chain.seq == 1
    assert rec.chain.prev_hash == log_override_hash(db)
    assert report.migrated_rows == 0


def log_override_hash(db: Path) -> str:
    with AuditLog(db) as log:
        override = log.get(2).overrides[0]
    assert override.chain is not None and override.chain.seq == 3
    return override.chain.hash


def test_an_empty_log_verifies(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "e.db") as log:
        report = log.verify()
    assert report.ok and report.rows == 0 and (report.head_seq, report.head_hash) == (0, GENESIS)


def test_the_hash_covers_what_the_row_stores(db: Path) -> None:
    con = sqlite3.connect(db)
    row = con.execute(
        "SELECT id, seq, prev_hash, hash, created_at, listing_id, seller_id, decision, risk, flags, versions,"
        " image_sha256s, decision_json FROM decisions WHERE id = 2"
    ).fetchone()
    con.close()
    assert row_hash("decisions", row[0], row[1], row[2], row[4:]) == row[3]
    assert json.loads(row[11]) == ["a" * 64, "b" * 64]  # the inputs' sha256s are among the hashed columns


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("created_at", "'2020-01-01T00:00:00.000Z'"),
        ("listing_id", "'L-9'"),
        ("seller_id", "NULL"),
        ("decision", "'allow'"),
        ("risk", "0.1"),
        ("flags", "'[]'"),
        ("versions", "'{}'"),
        ("image_sha256s", "'[]'"),
        ("decision_json", "'{}'"),
        ("hash", "'" + "f" * 64 + "'"),
    ],
)
def test_an_edit_of_any_decision_column_is_a_hash_mismatch_at_that_row(db: Path, column: str, value: str) -> None:
    by_hand(db, f"UPDATE decisions SET {column} = {value} WHERE id = 2")
    assert problem(db) == ("decisions", 2, "hash_mismatch")


@pytest.mark.parametrize(
    ("column", "value"),
    [("decision_id", "1"), ("created_at", "'2020-01-01T00:00:00.000Z'"), ("decision", "'block'"),
     ("reason", "'changed'"), ("reviewer", "'bob'")],
)
def test_an_edit_of_any_override_column_is_found(db: Path, column: str, value: str) -> None:
    by_hand(db, f"UPDATE overrides SET {column} = {value} WHERE id = 1")
    assert problem(db) == ("overrides", 1, "hash_mismatch")


def test_a_rewritten_prev_hash_breaks_the_link(db: Path) -> None:
    by_hand(db, "UPDATE decisions SET prev_hash = '" + "1" * 64 + "' WHERE id = 3")
    assert problem(db) == ("decisions", 3, "broken_link")


@pytest.mark.parametrize(
    ("statement", "expected", "missing"),
    [
        ("DELETE FROM decisions WHERE id = 2", ("overrides", 1, "gap"), "decisions id 2"),
        ("DELETE FROM overrides WHERE id = 1", ("decisions", 3, "gap"), "overrides id 1"),
        ("DELETE FROM decisions WHERE id = 3", ("decisions", 3, "gap"), "decisions id 3"),  # the newest row
        ("DELETE FROM decisions WHERE id = 1", ("decisions", 2, "gap"), "decisions id 1"),  # the oldest
    ],
)
def test_a_deleted_row_is_a_gap_naming_it(
    db: Path, statement: str, expected: tuple[str, int, str], missing: str
) -> None:
    by_hand(db, statement)
    with AuditLog(db) as log:
        report = log.verify()
    assert report.problem is not None
    assert (report.problem.table, report.problem.id, report.problem.kind) == expected
    assert missing in report.problem.detail


def test_deleting_the_newest_override_is_found(db: Path) -> None:
    with AuditLog(db) as log:
        log.override(3, "allow", "fine")
    by_hand(db, "DELETE FROM overrides WHERE id = 2")
    assert problem(db) == ("overrides", 2, "gap")


def test_swapped_ids_are_a_reorder(db: Path) -> None:
    # Rows 1 and 2 trade ids: each keeps its content and chain fields, so audit id 1 now shows listing L-1.
    by_hand(db, "UPDATE decisions SET id = -1 WHERE id = 1", "UPDATE decisions SET id = 1 WHERE id = 2",
            "UPDATE decisions SET id = 2 WHERE id = -1")
    assert problem(db) == ("decisions", 2, "reorder")


def test_swapped_chain_places_are_a_reorder(db: Path) -> None:
    # Rows 1 and 2 keep their ids and content but trade their places in the chain (seq, prev_hash, hash).
    con = sqlite3.connect(db)
    one, two = (con.execute("SELECT seq, prev_hash, hash FROM decisions WHERE id = ?", (i,)).fetchone() for i in (1, 2))
    con.close()
    place = "UPDATE decisions SET seq = {}, prev_hash = '{}', hash = '{}' WHERE id = {}"
    by_hand(db, "UPDATE decisions SET seq = -1 WHERE id = 1", place.format(*one, 2), place.format(*two, 1))
    assert problem(db) == ("decisions", 2, "reorder")


def test_a_row_inserted_by_hand_is_unchained(db: Path) -> None:
    by_hand(db, "INSERT INTO decisions (created_at, listing_id, decision, risk, flags, versions, image_sha256s,"
                " decision_json) VALUES ('2030-01-01T00:00:00.000Z', 'L-X', 'allow', 0, '[]', '{}', '[]', '{}')")
    assert problem(db) == ("decisions", 4, "unchained")


def test_a_row_needs_its_chain_fields_even_with_sql(db: Path) -> None:
    con = sqlite3.connect(db)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="hash-chained"):
            con.execute("INSERT INTO overrides (decision_id, created_at, decision, reason) VALUES (1, 't', 'allow', 'x')")
    finally:
        con.close()


def test_a_deleted_head_is_found_and_stops_writing(db: Path) -> None:
    by_hand(db, "DELETE FROM audit_chain")
    assert problem(db) == ("audit_chain", None, "head")
    with AuditLog(db) as log, pytest.raises(AuditError, match="chain head is missing"):
        log.record(decision())


def test_the_chain_goes_on_across_reopening(db: Path) -> None:
    with AuditLog(db) as log:
        head = log.verify().head_hash
    with AuditLog(db) as log:
        rid = log.record(decision("L-3"))
        rec = log.get(rid)
        assert rec.chain.prev_hash == head and rec.chain.seq == 5
        assert log.verify().ok


# -- concurrency ------------------------------------------------------------------------------------


def _writer(path: str, tag: str, n: int) -> None:
    with AuditLog(path) as log:
        for i in range(n):
            rid = log.record(decision(f"{tag}-{i}"))
            if i % 4 == 0:
                log.override(rid, "review", f"second look {tag}")


def test_concurrent_writer_processes_keep_one_chain(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    AuditLog(path).close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, f"P{k}", 12)) for k in range(3)]
    for p in procs:
        p.start()
    _writer(path, "main", 12)  # this process writes at the same time
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with AuditLog(path) as log:
        report = log.verify()
    assert report.ok, report.problem
    assert (report.decisions, report.overrides) == (48, 12)
    con = sqlite3.connect(path)
    seqs = sorted(r[0] for r in con.execute("SELECT seq FROM decisions UNION ALL SELECT seq FROM overrides"))
    con.close()
    assert seqs == list(range(1, 61))  # no fork: every position once


# -- an old log (schema 1) --------------------------------------------------------------------------


def old_log(path: Path) -> None:
    """A schema-1 file as the previous release wrote it: no chain columns, no head."""
    con = sqlite3.connect(path)
    con.executescript(_SCHEMA)
    for i in range(3):
        d: ListingDecision = decision(f"OLD-{i}")
        con.execute(
            "INSERT INTO decisions (created_at, listing_id, seller_id, decision, risk, flags, versions, image_sha256s,"
            " decision_json) VALUES (?, ?, 's-1', ?, ?, '[]', '{}', '[]', ?)",
            (f"2024-01-0{i + 1}T00:00:00.000Z", d.listing_id, d.decision.value, d.risk, json.dumps(d.to_dict())),
        )
    con.execute("INSERT INTO overrides (decision_id, created_at, decision, reason) VALUES (1, '2024-01-02T12:00:00.000Z',"
                " 'allow', 'old override')")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()


def test_an_old_log_is_chained_on_first_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "old.db"
    old_log(path)
    with AuditLog(path) as log:
        report = log.verify()
        assert report.ok and report.migrated_rows == 4 and report.migrated_at
        # in time order: d1, d2, the override of d1 (Jan 2, 12:00), d3
        assert [log.get(i).chain.seq for i in (1, 2, 3)] == [1, 2, 4]
        assert log.get(1).overrides[0].chain.seq == 3
        assert log.get(2).listing_id == "OLD-1"
        log.record(decision("NEW"))
        assert log.verify().ok and log.verify().head_seq == 5
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # The triggers dropped to fill the chain columns are back.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE decisions SET risk = 0")
    con.close()
    assert main(["audit", "verify", "--db", str(path)]) == EXIT_OK
    err = capsys.readouterr().err
    assert "first 4 row(s) were written before the chain existed" in err
    by_hand(path, "UPDATE decisions SET listing_id = 'EDITED' WHERE id = 2")  # after the upgrade: protected
    assert problem(path) == ("decisions", 2, "hash_mismatch")


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_verify_prints_rows_and_the_head(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--db", str(db)]) == EXIT_OK
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["ok"] and report["rows"] == 4 and len(report["head"]["sha256"]) == 64
    assert report["head"]["sha256"] in err and "4 rows checked" in err


def test_cli_verify_names_the_first_bad_row(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    by_hand(db, "UPDATE overrides SET reason = 'no reason' WHERE id = 1")
    assert main(["audit", "verify", "--db", str(db)]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["problem"]["table"] == "overrides"
    assert "first bad row: overrides id 1: hash mismatch" in err


def test_cli_verify_of_a_missing_log_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--db", str(tmp_path / "none.db")]) == EXIT_USAGE
    assert "no audit log at" in capsys.readouterr().err
