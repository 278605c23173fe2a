"""What the training engine writes, atomically: checkpoints and the train log.

- ``model_XXXXXXX.pth``, ``model_final.pth``, ``last_checkpoint``: :class:`RunCheckpointer`
  (detectron2's checkpointer, written through a temporary file + ``os.replace``);
- ``train_log.json``: detectron2's ``JSONWriter`` (one line per logged iteration, appended);
  :func:`repair_train_log` cuts it back to the checkpoint a run resumes from.

Every writer here writes to a temporary file in the same folder and renames it over the target:
a kill or a full disk leaves the previous file (or none), never half of one. The run directory
around these files (done marker, metrics, stale temporaries) is :mod:`graphkd.apps.rundir`.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import torch
from detectron2.checkpoint import DetectionCheckpointer

from detectors.evaluation import to_jsonable

__all__ = [
    "LAST_CHECKPOINT",
    "TMP_SUFFIX",
    "TRAIN_LOG",
    "CorruptCheckpointError",
    "RunCheckpointer",
    "atomic_write",
    "read_train_log",
    "repair_train_log",
    "torch_save",
    "write_json",
    "write_text",
]

logger = logging.getLogger(__name__)

# detectron2's JSONWriter lines (one per log period), holding each logged iteration's own values
TRAIN_LOG = "train_log.json"
LAST_CHECKPOINT = "last_checkpoint"  # detectron2's pointer to the newest checkpoint


# ----------------------------------------------------------------------------- atomic writes
TMP_SUFFIX = re.compile(r"\.tmp(\d+)$")  # <file>.tmp<pid> of a write in progress


def _tmp_path(path: str) -> str:
    return f"{path}.tmp{os.getpid()}"


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], binary: bool = False):
    """Write ``path`` through ``write(file)`` on a temporary file, fsync, then ``os.replace``.

    On any error (e.g. ``OSError(ENOSPC)``) the temporary file is removed and ``path`` keeps its
    previous content.
    """
    path = os.fspath(path)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Strict JSON (NaN -> null), sorted keys, written atomically."""
    atomic_write(path, lambda f: json.dump(to_jsonable(obj), f, indent=2, sort_keys=True))


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    atomic_write(path, lambda f: torch.save(obj, f), binary=True)


# --------------------------------------------------------------------------------- train log
def _parse(lines: list[str]) -> list[tuple[int, dict]]:
    """(line index, record) of the lines that are whole JSON objects with an iteration and at
    least one value: a kill can leave a cut last line, and a writer an ``{"iteration": k}``."""
    out = []
    for i, line in enumerate(lines):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("iteration"), int) and len(rec) > 1:
            out.append((i, rec))
    return out


def read_train_log(path: str | os.PathLike, require: str | None = None) -> list[dict]:
    """The records of a ``train_log.json`` (or of its run dir), in file order.

    Lines that are not whole records (see :func:`repair_train_log`) are left out, and with
    ``require`` the records without that key (e.g. ``"total_loss"``: training steps, not
    validation-only records).
    """
    path = Path(path)
    if path.is_dir():
        path = path / TRAIN_LOG
    if not path.is_file():
        raise FileNotFoundError(
            f"No training log {str(path)!r} (written by graphkd.core.engine.train)"
        )
    recs = [rec for _, rec in _parse(path.read_text().splitlines())]
    return recs if require is None else [r for r in recs if require in r]


def repair_train_log(path: str | os.PathLike, next_iter: int) -> int:
    """Cut ``train_log.json`` back to the iterations before ``next_iter``; returns lines dropped.

    A run resumed from the checkpoint of iteration ``next_iter - 1`` redoes the iterations after
    it, and detectron2's ``JSONWriter`` appends: without this, the log of a run killed after
    logging iterations past its last checkpoint holds them twice. Also dropped: lines cut by a
    kill, records without values, and (keeping the last) repeated iterations of an older log.

    Rewrites the file in place, so a ``JSONWriter`` that already opened it in append mode keeps
    writing at its new end. In the usual case the kept lines are a prefix of the file and this is
    a single ``truncate``.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    data = path.read_bytes()
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    last: dict[int, int] = {}
    for i, rec in _parse([ln.strip() for ln in lines]):
        if rec["iteration"] < next_iter:
            last[rec["iteration"]] = i  # a later line of the same iteration replaces it
    keep = sorted(last.values())
    kept = "".join(lines[i] if lines[i].endswith("\n") else lines[i] + "\n" for i in keep)
    dropped = len(lines) - len(keep)
    if not dropped and kept.encode() == data:
        return 0
    blob = kept.encode()
    with open(path, "r+b") as f:
        if not data.startswith(blob):
            f.write(blob)
        f.truncate(len(blob))
        f.flush()
        os.fsync(f.fileno())
    logger.info(
        "%s: dropped %d line(s) at or after iteration %d (logged after the checkpoint this run "
        "resumes from) or not whole records",
        path, dropped, next_iter,
    )  # fmt: skip
    return dropped


# ------------------------------------------------------------------------------- checkpoints
class CorruptCheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read (cut by a kill, a full disk, a bad copy)."""


_CKPT = re.compile(r"model_(\d+)\.pth$")


class RunCheckpointer(DetectionCheckpointer):
    """detectron2's ``DetectionCheckpointer`` with atomic saves and a resume that survives a
    corrupt last checkpoint.

    ``save`` writes ``name.pth`` and ``last_checkpoint`` through a temporary file + rename, so a
    failed save (kill, ``ENOSPC``) leaves the previous checkpoint and pointer intact.
    ``resume_or_load(resume=True)`` loads ``last_checkpoint``'s file; when that file cannot be
    read it warns (naming the file) and falls back to the newest readable earlier
    ``model_XXXXXXX.pth``; when none is readable it raises :class:`CorruptCheckpointError`.
    """

    def save(self, name: str, **kwargs: Any) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        basename = f"{name}.pth"
        self.logger.info("Saving checkpoint to %s", os.path.join(self.save_dir, basename))
        torch_save(data, os.path.join(self.save_dir, basename))
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        write_text(os.path.join(self.save_dir, LAST_CHECKPOINT), last_filename_basename)

    def _load_file(self, f: str) -> dict[str, Any]:
        try:
            return super()._load_file(f)
        except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
            # DetectionCheckpointer.load resets this only when loading succeeds.
            self._parsed_url_during_load = None
            raise CorruptCheckpointError(f"checkpoint {f} cannot be read: {e}") from e

    def _older_checkpoints(self, failed: str) -> list[str]:
        """Periodic checkpoints saved before ``failed``, newest first."""
        m = _CKPT.search(os.path.basename(failed))
        limit = int(m.group(1)) if m else float("inf")  # model_final.pth: after all of them
        found = []
        for path in self.get_all_checkpoint_files():
            m = _CKPT.search(os.path.basename(path))
            if m and int(m.group(1)) < limit:
                found.append((int(m.group(1)), path))
        return [p for _, p in sorted(found, reverse=True)]

    def _first_readable(self, load: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """``load(f)`` of the newest readable checkpoint: ``last_checkpoint``'s file, else the
        newest earlier ``model_XXXXXXX.pth`` (with a warning naming the unreadable file)."""
        last = self.get_checkpoint_file()
        errors = []
        for candidate in [last, *self._older_checkpoints(last)]:
            if not os.path.isfile(candidate):  # last_checkpoint names a file that is gone
                errors.append(f"checkpoint {candidate} is missing")
                continue
            try:
                loaded = load(candidate)
            except CorruptCheckpointError as e:
                errors.append(str(e))
                logger.warning("%s; trying the previous checkpoint", e)
                continue
            if candidate != last:
                logger.warning("Using %s instead of the unreadable %s", candidate, last)
            return loaded
        raise CorruptCheckpointError(
            f"No readable checkpoint in {self.save_dir}: "
            + "; ".join(errors)
            + ". Delete the run directory (or set trainer.resume=false) to train from scratch."
        )

    def resume_or_load(self, path: str, *, resume: bool = True) -> dict[str, Any]:
        if not (resume and self.has_checkpoint()):
            return super().resume_or_load(path, resume=resume)
        return self._first_readable(self.load)

    def read_last(self) -> dict[str, Any] | None:
        """The raw content (``{"model": state_dict, ...}``) of the newest readable checkpoint,
        with the same fallback as a resume; None when the directory has none."""
        if self.has_checkpoint():
            return self._first_readable(self._read_file)
        final = os.path.join(self.save_dir, "model_final.pth")
        return self._read_file(final) if os.path.isfile(final) else None

    def _read_file(self, f: str) -> dict[str, Any]:
        """:meth:`_load_file` outside ``load`` (which it otherwise asserts it is called from)."""
        self._parsed_url_during_load = urlparse(f)  # as DetectionCheckpointer.load sets it
        try:
            return self._load_file(f)
        finally:
            self._parsed_url_during_load = None
