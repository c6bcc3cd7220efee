"""The scan on Ray Data: one ``Detector`` per actor, records written per worker and merged at the end.

>>> from detector.batch import scan_batch
>>> summary = scan_batch(["photos/"], "out/scan.jsonl", actors=2)  # doctest: +SKIP

Input: folders and image files (walked like the plain scan), or a manifest (``.csv`` or ``.parquet``)
with a ``path`` column (local paths or URIs pyarrow can read: ``s3://``, ``gs://``, ``file://``) and
optional ``listing_id``, ``seller_id``, ``brand``, ``title``, which go to the rules as the listing.

How it runs: Ray Data spreads the rows over ``actors`` actors (``map_batches`` with an actor pool), each
of which builds ONE detector when it starts (models loaded once per actor, not per batch) and runs
``cpus_per_actor`` threads. An actor scans each row of its batch exactly as the plain scan does (local
paths are read by ``Detector.scan_image``, so its size limits and special-file refusals hold; URIs are
read with pyarrow in the actor) and appends the record to its own file under ``<output>.parts/`` before
it returns. At the end the driver merges the parts and any previous output into ``output`` (written to a
temporary file and moved into place): one record per input, in input order, the same records as
``detector scan`` apart from ``timings_ms``.

Resumable and fault-tolerant:

* A rerun with the same output skips the inputs whose path already has a record whose ``sha256`` equals
  the file's current sha256 (in the output, or in parts left by an interrupted run).
* An unreadable image is an ``ok: false`` record (``scan_image`` never raises for bad input).
* An actor that dies (kill -9, out of memory) is restarted by Ray and its unfinished batch retried
  (``max_restarts``/``max_task_retries``); records it wrote before dying may then be written twice, so
  the merge keeps one record per path: every image appears exactly once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.errors import DetectorError

if TYPE_CHECKING:
    from detector.config import Config
    from detector.pipeline import Detector
    from detector.report import ScanSummary

__all__ = ["BatchError", "read_inputs", "scan_batch"]

LISTING_FIELDS = ("listing_id", "seller_id", "brand", "title")
RAY_HINT = "the Ray engine needs the optional extra: pip install 'detector[ray]'"


class BatchError(DetectorError):
    """The batch scan cannot start: Ray missing, a bad manifest, an unreachable cluster."""


def require_ray() -> Any:
    """``ray``, or ``BatchError`` saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise BatchError(f"{RAY_HINT} ({exc})") from exc
    return ray


# ------------------------------------------------------------------------------------------ inputs


def _is_uri(path: str) -> bool:
    return "://" in path


def read_inputs(sources: Iterable[str | Path]) -> tuple[list[dict[str, Any]], int]:
    """Rows (``path`` plus listing fields) to scan, and how many files the folder walk skipped.

    A source ending in ``.csv`` or ``.parquet`` is a manifest; anything else is a file or folder.
    """
    from detector.io import FolderWalk

    rows: list[dict[str, Any]] = []
    plain: list[str | Path] = []
    for src in sources:
        name = str(src).lower()
        if name.endswith((".csv", ".parquet")):
            rows += _read_manifest(str(src))
        else:
            plain.append(src)
    walk = FolderWalk(plain)
    rows += [{"path": str(p)} for p in walk]
    return rows, len(walk.skipped)


def _read_manifest(source: str) -> list[dict[str, Any]]:
    try:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise BatchError(f"{RAY_HINT} ({exc})") from exc
    try:
        if source.lower().endswith(".csv"):
            table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        else:
            table = pq.read_table(source)
    except Exception as exc:
        raise BatchError(f"cannot read manifest {source}: {exc}") from exc
    if "path" not in table.column_names:
        raise BatchError(
            f"manifest {source} has no 'path' column (it has {', '.join(table.column_names)}); "
            f"expected path and optionally {', '.join(LISTING_FIELDS)}"
        )
    keep = ["path", *[c for c in LISTING_FIELDS if c in table.column_names]]
    out = []
    for row in table.select(keep).to_pylist():
        if not row["path"]:
            raise BatchError(f"manifest {source} has a row with an empty path")
        out.append({k: (str(v) if v is not None else None) for k, v in row.items()})
    return out


def file_sha256(path: str) -> str | None:
    """sha256 of a file's bytes (local path or URI); None when it cannot be read."""
    try:
        data = _read_bytes(path)
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest()


def _read_bytes(path: str) -> bytes:
    if not _is_uri(path):
        return Path(path).read_bytes()
    import pyarrow.fs as pafs

    try:
        fs, inner = pafs.FileSystem.from_uri(path)
        with fs.open_input_stream(inner) as fh:
            return bytes(fh.read())
    except Exception as exc:
        raise OSError(str(exc)) from exc


# ------------------------------------------------------------------------------------------ the actor


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What every actor needs; picklable."""

    factory: Callable[[], Detector]
    parts: str
    threads: int
    done: dict[str, str]  # path -> sha256 of records already written


class ScanActor:
    """A Ray Data ``map_batches`` actor: one detector for its life, one part file of records."""

    def __init__(self, settings: _Settings) -> None:
        from detector.parallel import _set_threads

        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(settings.threads)
        self.settings = settings
        self.detector = settings.factory()
        self.detector.warm_up()
        _set_threads(settings.threads)
        Path(settings.parts).mkdir(parents=True, exist_ok=True)
        # A fresh file per actor life: a restarted actor never appends to a file a dead one left half-written.
        self.part = Path(settings.parts) / f"part-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._fh = self.part.open("a", encoding="utf-8")

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"index": [], "path": [], "status": []}
        for i, path in enumerate(batch["path"]):
            # Ray Data turns a column's missing values into None or NaN: both mean "not given".
            row = {k: _text(batch[k][i]) if k in batch else None for k in LISTING_FIELDS}
            status = self._scan_one(str(path), row)
            out["index"].append(int(batch["index"][i]))
            out["path"].append(str(path))
            out["status"].append(status)
        return out

    def _scan_one(self, path: str, row: dict[str, Any]) -> str:
        done = self.settings.done.get(path)
        if done is not None and file_sha256(path) == done:
            return "skipped"
        from detector.types import ImageReport, Listing

        listing = Listing(
            listing_id=row["listing_id"], seller_id=row["seller_id"], brand=row["brand"], title=row["title"] or ""
        ) if row.get("listing_id") else None
        if _is_uri(path):
            try:
                source: Any = _read_bytes(path)
            except OSError as exc:
                report = ImageReport.failed(path, f"{path}: cannot read: {exc}")
                return self._write(report)
        else:
            source = path
        return self._write(self.detector.scan_image(source, name=path, listing=listing))

    def _write(self, report: Any) -> str:
        # Written and flushed before the batch returns: a record on disk is a finished image.
        self._fh.write(json.dumps(report.to_dict(), ensure_ascii=False) + "\n")
        self._fh.flush()
        return "ok" if report.ok else "failed"


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value else None


# ------------------------------------------------------------------------------------------ driver


def _records(path: Path) -> Iterable[dict[str, Any]]:
    """Whole JSON records of a JSONL file; a torn last line (a killed writer) is ignored."""
    try:
        fh = path.open(encoding="utf-8")
    except OSError:
        return
    with fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "path" in rec:
                yield rec


def _previous(output: Path, parts: Path) -> dict[str, dict[str, Any]]:
    """Records already written for this output, by path: the output first, then leftover parts (newer)."""
    found: dict[str, dict[str, Any]] = {}
    if output.suffix != ".parquet":
        for rec in _records(output):
            found[rec["path"]] = rec
    else:
        found.update(_parquet_records(output))
    for part in sorted(parts.glob("part-*.jsonl")) if parts.is_dir() else []:
        for rec in _records(part):
            found[rec["path"]] = rec
    return found


def scan_batch(
    sources: Iterable[str | Path],
    output: str | Path,
    *,
    actors: int = 1,
    cpus_per_actor: int = 1,
    address: str | None = None,
    config: Config | None = None,
    catalog: str | Path | None = None,
    factory: Callable[[], Detector] | None = None,
    fmt: str = "jsonl",
    batch_size: int = 4,
    progress: bool = True,
) -> ScanSummary:
    """Scan ``sources`` on Ray into ``output`` (JSONL or Parquet); returns the summary (see the module doc).

    ``address``: a running cluster (``ray start --head`` prints it); None starts a local Ray with node
    address 127.0.0.1 (Ray's own servers still listen on every interface; firewall them on shared hosts).
    ``factory``: a picklable callable returning the ``Detector`` each actor scans with.
    """
    from detector.report import ScanSummary
    from detector.types import ImageReport

    ray = require_ray()
    from detector.config import Config
    from detector.parallel import DetectorFactory

    if actors < 1 or cpus_per_actor < 1:
        raise ValueError(f"actors and cpus_per_actor must be at least 1, got {actors} and {cpus_per_actor}")
    output = Path(output)
    parts = output.with_name(output.name + ".parts")
    rows, skipped = read_inputs(sources)
    previous = _previous(output, parts)
    done = {p: r["sha256"] for p, r in previous.items() if r.get("sha256")}
    if factory is None:
        config = config or Config()
        config = dataclasses.replace(config, ocr=dataclasses.replace(config.ocr, threads=cpus_per_actor))
        factory = DetectorFactory(config, getattr(catalog, "root", catalog))
    settings = _Settings(factory, str(parts), cpus_per_actor, done)

    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs.update(num_cpus=actors * cpus_per_actor, _node_ip_address="127.0.0.1")
        ray.init(**kwargs)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress
        if rows:
            given = [k for k in LISTING_FIELDS if any(r.get(k) for r in rows)]
            # Strings only ("" for missing): a column of None would become float NaN in numpy batches.
            items = [{"index": i, "path": r["path"], **{k: r.get(k) or "" for k in given}} for i, r in enumerate(rows)]
            ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 4 * actors)))
            ds = ds.map_batches(
                ScanActor,
                fn_constructor_args=(settings,),
                batch_size=batch_size,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=cpus_per_actor,
                # Ray Data's default for actor pools (max_restarts and max_task_retries -1): a dead actor is
                # restarted and its batch retried. Records it wrote before dying are deduplicated at the merge.
            )
            for _ in ds.iter_rows():  # statuses only; the records are in the part files
                pass
    finally:
        if started_here:
            ray.shutdown()

    merged = _previous(output, parts)
    summary = ScanSummary()
    summary.skipped = skipped
    records = []
    for r in rows:
        rec = merged.get(r["path"])
        if rec is None:  # cannot happen unless a part file was removed under us: say so in the output
            rec = ImageReport.failed(r["path"], "no record was written for this image").to_dict()
        records.append(rec)
        summary.add(_report_for_summary(rec))
    _write_output(output, records, fmt)
    for part in parts.glob("part-*.jsonl") if parts.is_dir() else []:
        part.unlink()
    if parts.is_dir():
        parts.rmdir()
    return summary


def _report_for_summary(rec: dict[str, Any]) -> Any:
    """A stand-in with what ``ScanSummary.add`` reads from a report."""
    from types import SimpleNamespace

    return SimpleNamespace(ok=bool(rec.get("ok")), flagged=rec.get("decision") in ("review", "block"),
                           decision=_decision(rec.get("decision")), error=rec.get("error"))


def _decision(value: Any) -> Any:
    from detector.types import Decision

    try:
        return Decision(value)
    except ValueError:
        return value


def _write_output(output: Path, records: list[dict[str, Any]], fmt: str) -> None:
    """All records to ``output`` through a temporary file and ``os.replace``: the old file stays whole."""
    tmp = output.with_name(output.name + ".partial")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({
            "path": [r["path"] for r in records],
            "ok": [bool(r.get("ok")) for r in records],
            "decision": [r.get("decision") for r in records],
            "brands": [[b["name"] for b in r.get("brands") or []] for r in records],
            "sha256": [r.get("sha256") for r in records],
            "record": [json.dumps(r, ensure_ascii=False) for r in records],  # the full JSONL record
        })
        pq.write_table(table, tmp)
    else:
        with tmp.open("w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, output)


def _parquet_records(path: Path) -> dict[str, dict[str, Any]]:
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["record"])
    except Exception:  # noqa: BLE001 - absent or unreadable: nothing to resume from
        return {}
    out = {}
    for text in table.column("record").to_pylist():
        rec = json.loads(text)
        out[rec["path"]] = rec
    return out
