"""The run directory: one folder per trained model, its manifest and its artifacts.

Stages hand each other a run directory and nothing else. Every artifact is written
atomically (temporary name, then rename) and its sha256 recorded in the manifest, so an
interrupted command never leaves a half-written file that looks whole.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import ModelError, naming_disk_full

STAGE_PREFIX = ".vadtool-stage."  # a transaction's artifacts before they are committed
COMMIT_DIR = ".vadtool-commit"    # a committed transaction whose files are being moved in

MANIFEST = "vadtool.json"
FORMAT = 1  # bump when the manifest or artifacts change incompatibly


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_mode(path: Path, directory: bool = False) -> None:
    """mkstemp/mkdtemp create private files; give them the usual permissions."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        with naming_disk_full(path):
            yield tmp
            publish_mode(tmp)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: Path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def check_out(out: Path) -> None:
    """Refuse an --out that is a file or holds something, before any work (and again when
    publishing)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ModelError(f"{out}: is a file; choose another --out or delete it")
    if out.exists() and any(out.iterdir()):
        hint = "it holds a run" if (out / MANIFEST).exists() else "it is not empty"
        raise ModelError(f"{out}: {hint}; choose another --out or delete it")


class Run:
    """A run directory and its manifest."""

    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest
        self._stage: Path | None = None  # inside transaction(): where new artifacts go

    @classmethod
    def create(cls, path: Path, kind: str, **fields) -> "Run":
        path = Path(path)
        if (path / MANIFEST).exists():
            raise ModelError(f"{path}: already holds a run; choose another --out or delete it")
        path.mkdir(parents=True, exist_ok=True)
        manifest = {"vadtool_version": __version__, "format": FORMAT, "kind": kind,
                    **fields, "files": {}}
        return cls(path, manifest)

    @classmethod
    def open(cls, path: Path) -> "Run":
        path = Path(path)
        file = path / MANIFEST
        finish_commit(path)  # a commit its writer could not finish (killed): roll it forward
        if not file.is_file():
            raise ModelError(f"{path}: not a run directory (no {MANIFEST}); "
                             "give the folder that `vadtool train ... --out` wrote")
        try:
            manifest = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{file}: corrupt manifest ({exc}); retrain into a new folder") from exc
        if not isinstance(manifest, dict):
            raise ModelError(f"{file}: corrupt manifest (a JSON {type(manifest).__name__}, not an object); "
                             "retrain into a new folder")
        if manifest.get("format") != FORMAT:
            raise ModelError(f"{file}: written by vadtool {manifest.get('vadtool_version', '?')} (format "
                             f"{manifest.get('format')}), this is vadtool {__version__} (format {FORMAT}); "
                             "retrain with this version")
        run = cls(path, manifest)
        run.validate()
        return run

    def validate(self) -> None:
        """Check the manifest and every recorded artifact once (run_check.py), so the stages
        that read them meet no corrupt file. Skipped when nothing changed since the last
        check in this process (a stage that opens its run twice hashes it once)."""
        from .run_check import check_artifact, check_manifest
        check_manifest(self.path / MANIFEST, self.manifest)
        state = self._state()
        if _VALIDATED.get(self.path.resolve()) == state:
            return
        for name in self.manifest["files"]:
            check_artifact(self.file(name))
        _VALIDATED[self.path.resolve()] = state

    def _state(self) -> tuple:
        def stamp(p: Path):
            try:
                st = p.stat()
            except OSError:
                return None
            return (st.st_size, st.st_mtime_ns, st.st_ino)
        return (json.dumps(self.manifest, sort_keys=True), stamp(self.path / MANIFEST),
                tuple((name, stamp(self.path / name)) for name in sorted(self.manifest["files"])))

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    def file(self, name: str, *, check: bool = True) -> Path:
        """Path of an artifact; with check, it must exist and match its recorded hash."""
        path = self.path / name
        if not check:
            return path
        recorded = self.manifest["files"].get(name)
        if recorded is None or not path.is_file():
            raise ModelError(f"{path}: missing; run the stage that writes it "
                             f"({_WRITER.get(name, 'vadtool train')})")
        if sha256(path) != recorded:
            raise ModelError(f"{path}: changed or corrupt since it was written (sha256 differs); "
                             f"re-run {_WRITER.get(name, 'vadtool train')}")
        return path

    def has(self, name: str) -> bool:
        return name in self.manifest["files"] and (self.path / name).is_file()

    @property
    def imported(self) -> bool:
        """Made by `vadtool import`: a float .tflite stands where training writes model.keras."""
        return self.has("model_float.tflite") and not self.has("model.keras")

    def add_file(self, name: str, writer) -> Path:
        """Write an artifact atomically with writer(tmp_path) and record its hash; inside
        transaction(), into the stage (the path returned), committed at the block's end."""
        if self._stage is not None:
            path = self._stage / name
            with naming_disk_full(self.path / name):
                writer(path)
            publish_mode(path)
        else:
            path = self.path / name
            with atomic_path(path) as tmp:
                writer(tmp)
        self.manifest["files"][name] = sha256(path)
        return path

    def save(self) -> None:
        if self._stage is None:  # inside a transaction the commit writes the manifest
            write_json(self.path / MANIFEST, self.manifest)

    @contextmanager
    def transaction(self):
        """Commit every artifact added and the manifest as one set at the end of the block,
        or none of them: they are written into a private stage folder in the run; the stage
        is renamed to COMMIT_DIR (the commit point: from here on the set counts as written)
        and its files moved into place, the manifest last. A command killed after the commit
        point is rolled forward by the next Run.open; one killed before it leaves only a
        stage folder, which the next transaction removes. The caller holds the run's write
        lock (locking.writing), so no other stage can be live."""
        finish_commit(self.path)
        for stale in self.path.glob(STAGE_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        before = copy.deepcopy(self.manifest)
        self._stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=self.path))
        try:
            yield self
            with naming_disk_full(self.path / MANIFEST):
                write_json(self._stage / MANIFEST, self.manifest)
            from .interrupts import deferred
            with deferred():  # a stop signal waits the few renames of the commit
                os.rename(self._stage, self.path / COMMIT_DIR)
                finish_commit(self.path)
        except BaseException:
            self.manifest = before
            raise
        finally:
            if self._stage.exists():
                shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None


def finish_commit(run_dir: Path) -> None:
    """Move a committed transaction's files into the run, the manifest last (idempotent: a
    file already moved is not in COMMIT_DIR any more)."""
    commit = Path(run_dir) / COMMIT_DIR
    if not commit.is_dir():
        return
    names = sorted(p.name for p in commit.iterdir() if p.name != MANIFEST) + [MANIFEST]
    for name in names:
        try:
            os.replace(commit / name, Path(run_dir) / name)
        except FileNotFoundError:  # moved already (by us before a crash, or by another reader)
            pass
    shutil.rmtree(commit, ignore_errors=True)


# run directory -> its state when last validated in this process (Run.validate)
_VALIDATED: dict[Path, tuple] = {}

# Which command writes each artifact, for error messages.
_WRITER = {
    "model.keras": "vadtool train",
    "head.npz": "vadtool train",
    "holdout_cells.npy": "vadtool train",
    "model_int8.tflite": "vadtool quantize",
    "head_int8.npz": "vadtool quantize",
    "head_int.npz": "vadtool quantize",
}
