"""Audit log: durable append-only decisions, overrides beside them, and the `detector audit` commands."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from detector.audit import SCHEMA_VERSION, AuditError, AuditLog
from detector.cli import EXIT_OK, EXIT_USAGE, main
from detector.types import (
    BrandSighting,
    Decision,
    Flag,
    ImageReport,
    ListingDecision,
    Severity,
)


def decision(listing_id: str = "L-1", verdict: Decision = Decision.BLOCK, risk: float = 0.9) -> ListingDecision:
    flags = (
        (Flag("counterfeit_vocabulary", Severity.BLOCK, "says replica", brand="Gucci", evidence=("image:a.jpg",)),)
        if verdict is not Decision.ALLOW
        else ()
    )
    return ListingDecision(
        listing_id=listing_id,
        decision=verdict,
        risk=risk,
        brands=(BrandSighting("Gucci", 0.8, ("text",)),),
        flags=flags,
        images=(
            ImageReport(path="a.jpg", ok=True, decision=verdict, risk=risk, sha256="a" * 64),
            ImageReport(path="b.jpg", ok=True, decision=Decision.ALLOW, risk=0.0, sha256="b" * 64),
        ),
        versions={"detector": "0.1.0", "ocr": "fake-ocr", "catalog": "c" * 64},
        timings_ms={"total": 12.5},
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "log.db"


def test_a_record_reads_back_as_written(db: Path) -> None:
    d = decision()
    with AuditLog(db) as log:
        rid = log.record(d, seller_id="s-7")
        rec = log.get(rid)
    assert (rec.id, rec.listing_id, rec.seller_id, rec.decision, rec.risk) == (rid, "L-1", "s-7", Decision.BLOCK, 0.9)
    assert rec.flags == [f.to_dict() for f in d.flags]
    assert rec.versions == d.versions
    assert rec.image_sha256s == ["a" * 64, "b" * 64]
    assert rec.decision_json == d.to_dict()
    assert rec.created_at.endswith("Z") and rec.created_at[:4].isdigit()
    assert rec.overrides == () and rec.effective_decision is Decision.BLOCK


def test_the_log_is_wal_with_full_sync(db: Path) -> None:
    with AuditLog(db) as log:
        assert log.pragmas() == {"journal_mode": "wal", "synchronous": 2}  # 2 is FULL


def test_a_record_is_committed_when_record_returns(db: Path) -> None:
    with AuditLog(db) as log:
        rid = log.record(decision())
        # Another connection (another process, after a crash) sees it: no transaction is left open.
        other = sqlite3.connect(db)
        try:
            assert other.execute("SELECT listing_id FROM decisions WHERE id = ?", (rid,)).fetchone() == ("L-1",)
        finally:
            other.close()
        assert not log._db.in_transaction


def test_records_survive_reopening(db: Path) -> None:
    with AuditLog(db) as log:
        ids = [log.record(decision(f"L-{i}")) for i in range(3)]
    with AuditLog(db) as log:
        assert log.ids() == set(ids)
        assert [r.listing_id for r in log.latest(10)] == ["L-2", "L-1", "L-0"]


def test_latest_is_newest_first_and_filters_by_listing(db: Path) -> None:
    with AuditLog(db) as log:
        for i in range(5):
            log.record(decision(f"L-{i % 2}"))
        assert [r.id for r in log.latest(2)] == [5, 4]
        assert [r.id for r in log.latest(10, listing_id="L-1")] == [4, 2]
        with pytest.raises(AuditError, match="limit must be positive"):
            log.latest(0)


def test_an_override_is_recorded_beside_the_original(db: Path) -> None:
    with AuditLog(db) as log:
        rid = log.record(decision())
        first = log.override(rid, "allow", "  genuine: invoice checked  ", reviewer="ana")
        second = log.override(rid, Decision.REVIEW, "second look", reviewer=None)
        rec = log.get(rid)
    assert rec.decision is Decision.BLOCK  # the original is untouched
    assert rec.decision_json["decision"] == "block"
    assert [(o.decision, o.reason, o.reviewer) for o in rec.overrides] == [
        (Decision.ALLOW, "genuine: invoice checked", "ana"),
        (Decision.REVIEW, "second look", None),
    ]
    assert rec.effective_decision is Decision.REVIEW
    assert (first.decision_id, second.decision_id) == (rid, rid)
    assert rec.summary()["overridden"] is True


@pytest.mark.parametrize(
    ("decision_id", "new", "reason", "message"),
    [
        (99, "allow", "why", "no audit record 99 in .* \\(it holds ids 1..1\\)"),
        (1, "approve", "why", "must be one of allow, review, block"),
        (1, "allow", "   ", "needs a reason"),
    ],
)
def test_a_bad_override_is_refused(db: Path, decision_id: int, new: str, reason: str, message: str) -> None:
    with AuditLog(db) as log:
        log.record(decision())
        with pytest.raises(AuditError, match=message):
            log.override(decision_id, new, reason)
        assert log.get(1).overrides == ()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE decisions SET decision = 'allow'",
        "DELETE FROM decisions",
        "UPDATE overrides SET decision = 'block'",
        "DELETE FROM overrides",
    ],
)
def test_rows_cannot_be_changed_or_deleted_even_with_sql(db: Path, statement: str) -> None:
    with AuditLog(db) as log:
        log.override(log.record(decision()), "allow", "fine")
    raw = sqlite3.connect(db)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(statement)
    finally:
        raw.close()
    with AuditLog(db) as log:
        rec = log.get(1)
        assert rec.decision is Decision.BLOCK and len(rec.overrides) == 1


def test_get_of_a_missing_record_says_what_exists(db: Path) -> None:
    with AuditLog(db) as log, pytest.raises(AuditError, match="it is empty"):
        log.get(1)


def test_a_newer_schema_is_refused(db: Path) -> None:
    AuditLog(db).close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(AuditError, match="upgrade the detector package"):
        AuditLog(db)


def test_an_unusable_path_is_an_audit_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(AuditError, match="cannot open the audit log"):
        AuditLog(tmp_path / "file" / "log.db")


def test_threads_and_a_second_handle_write_without_losing_rows(db: Path) -> None:
    log, other = AuditLog(db), AuditLog(db)  # two handles stand in for two worker processes
    ids: list[int] = []
    lock = threading.Lock()

    def write(handle: AuditLog, n: int) -> None:
        for i in range(n):
            rid = handle.record(decision(f"T-{i}"))
            with lock:
                ids.append(rid)

    threads = [threading.Thread(target=write, args=(log if i % 2 else other, 20)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 120
    assert log.ids() == set(ids) == other.ids()
    log.close()
    other.close()


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_list_show_and_override(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with AuditLog(db) as log:
        log.record(decision("L-1"), seller_id="s-1")
        log.record(decision("L-2", Decision.ALLOW, 0.0), seller_id="s-2")

    assert main(["audit", "list", "--db", str(db), "--limit", "5"]) == EXIT_OK
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["listing_id"], r["decision"]) for r in lines] == [(2, "L-2", "allow"), (1, "L-1", "block")]
    assert lines[1]["flags"] == ["counterfeit_vocabulary"]

    code = main(
        [
            "audit",
            "override",
            "1",
            "--decision",
            "allow",
            "--reason",
            "licensed reseller",
            "--db",
            str(db),
            "--reviewer",
            "ana",
        ]
    )
    assert code == EXIT_OK
    override = json.loads(capsys.readouterr().out)
    assert (override["decision_id"], override["decision"], override["reviewer"]) == (1, "allow", "ana")

    assert main(["audit", "show", "1", "--db", str(db)]) == EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    assert shown["decision"] == "block" and shown["effective_decision"] == "allow"
    assert shown["overrides"][0]["reason"] == "licensed reseller"
    assert shown["decision_json"]["images"][0]["sha256"] == "a" * 64

    assert main(["audit", "list", "--db", str(db), "--listing", "L-1"]) == EXIT_OK
    assert [json.loads(x)["overridden"] for x in capsys.readouterr().out.splitlines()] == [True]


def test_cli_override_defaults_the_reviewer_to_the_os_user(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import getpass

    with AuditLog(db) as log:
        log.record(decision())
    assert main(["audit", "override", "1", "--decision", "review", "--reason", "unsure", "--db", str(db)]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["reviewer"] == getpass.getuser()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "show", "7"], "no audit record 7"),
        (["audit", "override", "7", "--decision", "allow", "--reason", "x"], "no audit record 7"),
        (["audit", "list", "--limit", "0"], "limit must be positive"),
    ],
)
def test_cli_errors_exit_2_with_the_reason(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    AuditLog(db).close()
    assert main([*argv, "--db", str(db)]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_cli_does_not_create_a_missing_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.db"
    assert main(["audit", "list", "--db", str(missing)]) == EXIT_USAGE
    assert "no audit log at" in capsys.readouterr().err
    assert not missing.exists()


def test_cli_rejects_an_unknown_decision(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["audit", "override", "1", "--decision", "approve", "--reason", "x", "--db", str(db)])
    assert info.value.code == EXIT_USAGE
    assert "invalid choice: 'approve'" in capsys.readouterr().err


# -- tampering by hand (issue 16 recorded the gap; issue 14's hash chain closes it) ---------------------


def _tamper(db: Path, how: str) -> None:
    """Edit the log as someone with the file and the sqlite3 shell could: lift the trigger, change, restore."""
    con = sqlite3.connect(db)
    trigger, statement = {
        "edit": ("decisions_append_only_u", "UPDATE decisions SET decision = 'allow', risk = 0.0 WHERE id = 2"),
        "delete": ("decisions_append_only_d", "DELETE FROM decisions WHERE id = 2"),
    }[how]
    sql = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (trigger,)).fetchone()[0]
    con.executescript(f"DROP TRIGGER {trigger}; {statement}; {sql};")
    con.commit()
    con.close()


@pytest.mark.parametrize("how", ["edit", "delete"])
def test_tampering_by_hand_is_detected(db: Path, capsys: pytest.CaptureFixture[str], how: str) -> None:
    with AuditLog(db) as log:
        for i in range(3):
            log.record(decision(f"L-{i}"), seller_id="s-1")
    _tamper(db, how)
    # What reading the log says after the edit: the edited row as if it were the original, or "not found",
    # with no warning (reads do not walk the chain) ...
    with AuditLog(db) as log:
        if how == "edit":
            assert log.get(2).decision is Decision.ALLOW
        else:
            with pytest.raises(AuditError, match="no audit record 2"):
                log.get(2)
    assert main(["audit", "list", "--db", str(db)]) == EXIT_OK
    assert "warn" not in capsys.readouterr().err.lower()
    # ... and what the hash chain adds: `audit verify` exits 1 and names the first bad row.
    code = main(["audit", "verify", "--db", str(db)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "2" in out + err
