"""The edge store: every served image with what the models said and what the operator said.

One folder holds it all:

    STORE/store.sqlite     records and predictions (the standard library's sqlite3, WAL)
    STORE/images/ID.EXT    the image bytes as received
    STORE/tmp/             images being received (not yet records)
    STORE/serving.json     which runs are champion and challenger (see `serving`)
    STORE/lock             held by the one writing process (the service)

A record is committed in this order: the image is written to tmp/, fsynced and renamed into
images/ (the folder fsynced), then its row and its predictions are inserted in one
transaction. A process killed at any point leaves either a whole record or nothing that
counts: on open, tmp/ is emptied and image files without a row are removed. Deletion goes the
other way (row first, then file), so the same cleanup finishes an interrupted one.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import VadError
from ..rundir import publish_mode, write_json

DB = "store.sqlite"
IMAGES = "images"
TMP = "tmp"
SERVING = "serving.json"
LABELS = ("normal", "anomalous")
ROLES = ("champion", "challenger")
EXPORT_FOLDERS = {"normal": "good", "anomalous": "anomaly"}  # vadtool's plain layout

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    received REAL NOT NULL,          -- unix time
    source TEXT,                     -- who sent it (client address, or the X-Source header)
    filename TEXT,                   -- the client's name for it, if given
    file TEXT NOT NULL,              -- relative to the store
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    label TEXT CHECK (label IN ('normal', 'anomalous')),   -- the operator's, NULL until marked
    labelled REAL
);
CREATE INDEX IF NOT EXISTS records_received ON records (received);
CREATE TABLE IF NOT EXISTS predictions (
    record TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('champion', 'challenger')),
    run TEXT NOT NULL,
    model_hash TEXT NOT NULL,        -- sha256 of the network file (what a device's HELLO reports)
    head_hash TEXT,                  -- sha256 of the head file (FOMO-AD), NULL for a classifier
    runtime TEXT NOT NULL,
    score REAL NOT NULL,
    threshold REAL NOT NULL,
    anomalous INTEGER NOT NULL,
    cells TEXT,                      -- JSON grid of cell scores (FOMO-AD), NULL for a classifier
    input TEXT,                      -- JSON: the run's input geometry (maps cells onto the image)
    ms REAL NOT NULL,
    PRIMARY KEY (record, role)
);
"""


class StoreError(VadError):
    """The store folder is unusable, or a record or label asked for does not exist."""


class RecordNotFound(StoreError):
    """No record (or no prediction of that model) under that id."""


@dataclass
class Staged:
    """An image written to tmp/ and fsynced, not yet a record."""
    id: str
    tmp: Path
    ext: str
    sha256: str


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_id() -> str:
    """Sortable by arrival: milliseconds since the epoch, then random bits."""
    return f"{time.time_ns() // 1_000_000:013d}-{secrets.token_hex(4)}"


class Store:
    """An open store. Thread-safe: one connection behind a lock (the service's requests come
    from a thread pool)."""

    def __init__(self, root: Path, *, create: bool = True, writer: bool = False):
        """writer: the one process that receives images (the service); it holds STORE/lock and
        cleans up what a killed writer left. Others (report, export, prune) read and label."""
        self.root = Path(root)
        if not (self.root / DB).is_file() and not create:
            raise StoreError(f"{self.root}: not a store (no {DB}); give the folder `vadtool serve --store` wrote")
        self._lock_file = None
        try:
            for sub in (IMAGES, TMP):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            if writer:
                self._lock_file = self._take_lock()
            self._db = sqlite3.connect(self.root / DB, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit is in the OS once COMMIT returns (a killed process loses
            # nothing); only a power cut may roll back the last commits, whose images, fsynced
            # first, are then orphans that the next open removes. FULL would add an fsync per
            # image (~10 ms on a busy disk).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.root}: cannot open the store ({exc}); give a writable folder") from exc
        self._lock = threading.Lock()
        self.recovered = self._clean_orphans() if writer else None

    def _take_lock(self):
        f = open(self.root / "lock", "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise StoreError(f"{self.root}: another `vadtool serve` is writing to this store; "
                             "stop it or give another --store") from None
        return f

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---------------------------------------------------------------- writing

    def _clean_orphans(self) -> dict:
        """Finish what a killed process left: files in tmp/ and image files without a row."""
        tmp = [p for p in (self.root / TMP).iterdir()]
        for p in tmp:
            p.unlink(missing_ok=True)
        known = {r[0] for r in self._db.execute("SELECT file FROM records")}
        orphans = [p for p in (self.root / IMAGES).iterdir() if f"{IMAGES}/{p.name}" not in known]
        for p in orphans:
            p.unlink(missing_ok=True)
        return {"tmp": len(tmp), "orphan_images": len(orphans)}

    def stage(self, data: bytes, ext: str) -> Staged:
        """Write the image bytes to tmp/ and fsync them (the record does not exist yet)."""
        import hashlib
        staged = Staged(new_id(), self.root / TMP / f"{secrets.token_hex(8)}.part", ext,
                        hashlib.sha256(data).hexdigest())
        with open(staged.tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish_mode(staged.tmp)
        return staged

    def discard(self, staged: Staged) -> None:
        staged.tmp.unlink(missing_ok=True)

    def commit(self, staged: Staged, *, width: int, height: int, predictions: dict[str, dict],
               source: str | None = None, filename: str | None = None,
               received: float | None = None) -> str:
        """Make a staged image a record with its predictions ({role: prediction}); returns its id.
        The file is in place before its row, and the row with all its predictions is one
        transaction."""
        rel = f"{IMAGES}/{staged.id}{staged.ext}"
        os.replace(staged.tmp, self.root / rel)
        _fsync_dir(self.root / IMAGES)
        rows = [(staged.id, role, p["run"], p["model_hash"], p.get("head_hash"), p["runtime"], p["score"],
                 p["threshold"],
                 int(p["anomalous"]), None if p.get("cells") is None else json.dumps(p["cells"]),
                 json.dumps(p.get("input")), p["ms"]) for role, p in predictions.items()]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT INTO records (id, received, source, filename, file, sha256, width, height) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 (staged.id, received or time.time(), source, filename, rel, staged.sha256,
                                  width, height))
                self._db.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                (self.root / rel).unlink(missing_ok=True)
                raise
        return staged.id

    def set_label(self, record_id: str, label: str | None) -> None:
        """The operator's verdict ("normal" or "anomalous"; None clears it)."""
        if label is not None and label not in LABELS:
            raise StoreError(f"label {label!r}: use one of {', '.join(LABELS)} (or null to clear it)")
        with self._lock:
            cur = self._db.execute("UPDATE records SET label = ?, labelled = ? WHERE id = ?",
                                   (label, None if label is None else time.time(), record_id))
        if cur.rowcount == 0:
            raise RecordNotFound(f"no record {record_id!r} in {self.root}")

    # ---------------------------------------------------------------- reading

    def _records(self, where: str = "", args: tuple = (), limit: int | None = None) -> list[dict]:
        sql = f"SELECT * FROM records {where} ORDER BY received DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            records = [dict(r) for r in self._db.execute(sql, args)]
            by_id = {r["id"]: r for r in records}
            for r in records:
                r["predictions"] = {}
            if records:
                marks = ",".join("?" * len(records))
                for p in self._db.execute(f"SELECT * FROM predictions WHERE record IN ({marks})", tuple(by_id)):
                    p = dict(p)
                    p["anomalous"] = bool(p["anomalous"])
                    p["cells"] = None if p["cells"] is None else json.loads(p["cells"])
                    p["input"] = json.loads(p["input"]) if p["input"] else None
                    by_id[p.pop("record")]["predictions"][p.pop("role")] = p
        return records

    def get(self, record_id: str) -> dict:
        found = self._records("WHERE id = ?", (record_id,))
        if not found:
            raise RecordNotFound(f"no record {record_id!r} in {self.root}")
        return found[0]

    def recent(self, limit: int = 50) -> list[dict]:
        return self._records(limit=limit)

    def all(self) -> list[dict]:
        return self._records()

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def path(self, record: dict) -> Path:
        return self.root / record["file"]

    # ---------------------------------------------------------------- retention and export

    def prune(self, keep: int | None = None, max_age_days: float | None = None) -> int:
        """Remove the oldest unlabelled records beyond `keep`, and those older than
        `max_age_days`; records the operator labelled are kept (they are the next training
        set). Rows go first, in one transaction, then their files. Returns how many went."""
        clauses, args = [], []
        if max_age_days is not None:
            clauses.append("received < ?")
            args.append(time.time() - max_age_days * 86400)
        if keep is not None:
            clauses.append("id NOT IN (SELECT id FROM records WHERE label IS NULL "
                           "ORDER BY received DESC, id DESC LIMIT ?)")
            args.append(int(keep))
        if not clauses:
            return 0
        where = f"label IS NULL AND ({' OR '.join(clauses)})"
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                files = [r[0] for r in self._db.execute(f"SELECT file FROM records WHERE {where}", args)]
                self._db.execute(f"DELETE FROM records WHERE {where}", args)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        for f in files:
            (self.root / f).unlink(missing_ok=True)
        return len(files)

    def export(self, out: Path) -> dict[str, int]:
        """Write the labelled images as a dataset in vadtool's plain layout (OUT/good/,
        OUT/anomaly/), built beside OUT and renamed into place. Returns counts per folder."""
        out = Path(out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise StoreError(f"{out}: exists and is not empty; give a new folder to --out")
        labelled = [r for r in self.all() if r["label"] is not None]
        if not labelled:
            raise StoreError(f"{self.root}: no image is labelled yet; mark some normal or anomalous "
                             "on the service's page first")
        out.parent.mkdir(parents=True, exist_ok=True)
        work = out.parent / f".{out.name}.{secrets.token_hex(4)}.tmp"
        counts = {folder: 0 for folder in EXPORT_FOLDERS.values()}
        try:
            for r in labelled:
                folder = EXPORT_FOLDERS[r["label"]]
                (work / folder).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.path(r), work / folder / Path(r["file"]).name)
                counts[folder] += 1
            publish_mode(work, directory=True)
            if out.exists():
                out.rmdir()
            os.replace(work, out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return counts

    # ---------------------------------------------------------------- champion and challenger

    def serving(self) -> dict:
        """{"champion": run path, "challenger": run path or None}, as last served or promoted."""
        path = self.root / SERVING
        if not path.is_file():
            return {"champion": None, "challenger": None}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise StoreError(f"{path}: corrupt ({exc}); delete it and start `vadtool serve RUN` again") from exc

    def set_serving(self, champion: str, challenger: str | None) -> None:
        write_json(self.root / SERVING, {"champion": champion, "challenger": challenger})

    def promote(self) -> dict:
        """Swap champion and challenger; returns the new pair."""
        pair = self.serving()
        if not pair.get("challenger"):
            raise StoreError(f"{self.root}: no challenger to promote; serve with --challenger RUN first")
        self.set_serving(pair["challenger"], pair["champion"])
        return self.serving()
