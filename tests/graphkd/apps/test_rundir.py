"""graphkd.apps.rundir: atomic writes under a full disk, the train-log repair, checkpoints that fail to
save or to load, the finished-job marker."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path

import pytest
import torch
from detectron2.utils.events import EventStorage, JSONWriter

from graphkd.apps import rundir
from graphkd.apps.rundir import clear_done, is_done, mark_done
from graphkd.core import checkpoint
from graphkd.core.checkpoint import (
    CorruptCheckpointError,
    RunCheckpointer,
    read_train_log,
    repair_train_log,
    write_json,
)


def _enospc():
    return OSError(errno.ENOSPC, "No space left on device")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


# ----------------------------------------------------------------------------- atomic writes
def test_full_disk_keeps_the_previous_json(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json(path, {"AP": 1.0})
    real_dump = json.dump

    def dump_then_enospc(obj, f, **kw):
        real_dump(obj, f, **kw)  # the new content reaches the temporary file, then the disk fills
        raise _enospc()

    monkeypatch.setattr(json, "dump", dump_then_enospc)
    with pytest.raises(OSError) as err:
        write_json(path, {"AP": 2.0, "params": 3})
    assert err.value.errno == errno.ENOSPC
    assert json.loads(path.read_text()) == {"AP": 1.0}
    assert _leftovers(tmp_path) == []


# --------------------------------------------------------------------------------- train log
def _rec(it: int, **kw) -> str:
    return json.dumps({"iteration": it, "total_loss": 1.0 / (it + 1), **kw}) + "\n"


def test_repair_drops_what_was_logged_after_the_checkpoint(tmp_path):
    """Killed after logging 0..4 with the checkpoint of iteration 1: the resumed run (from 2)
    must not find 2..4 there; a line cut by the kill and an empty record go too."""
    path = tmp_path / "train_log.json"
    path.write_text("".join(_rec(i) for i in range(5)) + '{"iteration": 4}\n{"iteration": 5, "to')
    assert repair_train_log(path, next_iter=2) == 5
    assert [r["iteration"] for r in read_train_log(path)] == [0, 1]
    assert path.read_text() == _rec(0) + _rec(1)
    assert repair_train_log(path, next_iter=2) == 0  # nothing more to do


def test_repair_of_an_older_broken_log_keeps_the_latest_record_per_iteration(tmp_path):
    path = tmp_path / "train_log.json"
    path.write_text(_rec(0) + _rec(1) + _rec(2, old=True) + _rec(3) + _rec(2) + _rec(3))
    repair_train_log(path, next_iter=3)
    recs = read_train_log(path)
    assert [r["iteration"] for r in recs] == [0, 1, 2] and "old" not in recs[2]


def test_fresh_run_empties_an_old_log_and_missing_log_is_fine(tmp_path):
    path = tmp_path / "train_log.json"
    path.write_text(_rec(0) + _rec(1))
    repair_train_log(path, next_iter=0)
    assert path.read_text() == ""
    assert repair_train_log(tmp_path / "none.json", next_iter=3) == 0


def test_json_writer_opened_before_the_repair_appends_after_it(tmp_path):
    """engine.train repairs the log after detectron2's JSONWriter opened it in append mode."""
    path = tmp_path / "train_log.json"
    path.write_text("".join(_rec(i) for i in range(4)))
    writer = JSONWriter(str(path), window_size=1)
    repair_train_log(path, next_iter=2)
    with EventStorage(2) as storage:
        for it in (2, 3):
            storage.iter = it
            storage.put_scalars(total_loss=float(it), smoothing_hint=False)
            writer.write()
    writer.close()
    recs = read_train_log(path)
    assert [r["iteration"] for r in recs] == [0, 1, 2, 3]
    assert [r["total_loss"] for r in recs[2:]] == [2.0, 3.0]


# ------------------------------------------------------------------------------- checkpoints
class _Counter:
    """A checkpointable like detectron2's trainer: its state is the iteration."""

    def __init__(self) -> None:
        self.iter = 0

    def state_dict(self) -> dict:
        return {"iteration": self.iter}

    def load_state_dict(self, state: dict) -> None:
        self.iter = state["iteration"]


def _checkpointer(folder: Path, seed: int = 0) -> tuple[RunCheckpointer, torch.nn.Module, _Counter]:
    torch.manual_seed(seed)
    model, counter = torch.nn.Linear(4, 3), _Counter()
    return RunCheckpointer(model, str(folder), trainer=counter), model, counter


def _save_at(ckpt: RunCheckpointer, model: torch.nn.Module, counter: _Counter, it: int) -> None:
    counter.iter = it
    with torch.no_grad():
        model.weight.fill_(float(it))
    ckpt.save(f"model_{it:07d}")


def test_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    ckpt, model, counter = _checkpointer(tmp_path)
    _save_at(ckpt, model, counter, 1)
    before = (tmp_path / "model_0000001.pth").read_bytes()
    real_save = torch.save

    def save_then_enospc(obj, f):
        real_save(obj, f)
        raise _enospc()

    monkeypatch.setattr(torch, "save", save_then_enospc)
    with pytest.raises(OSError) as err:
        _save_at(ckpt, model, counter, 3)
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"
    assert not (tmp_path / "model_0000003.pth").exists() and _leftovers(tmp_path) == []
    assert (tmp_path / "model_0000001.pth").read_bytes() == before
    fresh, fresh_model, fresh_counter = _checkpointer(tmp_path, seed=1)
    fresh.resume_or_load("", resume=True)
    assert fresh_counter.iter == 1 and bool((fresh_model.weight == 1.0).all())


def test_full_disk_while_tagging_keeps_the_previous_pointer(tmp_path, monkeypatch):
    ckpt, model, counter = _checkpointer(tmp_path)
    _save_at(ckpt, model, counter, 1)

    real_write = checkpoint.atomic_write

    def enospc_on_the_pointer(path, write, binary=False):
        def write_then_fail(f):
            write(f)
            raise _enospc()

        is_pointer = os.path.basename(path) == "last_checkpoint"
        real_write(path, write_then_fail if is_pointer else write, binary)

    monkeypatch.setattr(checkpoint, "atomic_write", enospc_on_the_pointer)
    with pytest.raises(OSError):
        _save_at(ckpt, model, counter, 3)
    # The new checkpoint is whole; the pointer still names the previous one, which loads.
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"
    assert _leftovers(tmp_path) == []


def test_truncated_last_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    ckpt, model, counter = _checkpointer(tmp_path)
    for it in (1, 3, 5):
        _save_at(ckpt, model, counter, it)
    last = tmp_path / "model_0000005.pth"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # cut by a kill / bad copy
    fresh, fresh_model, fresh_counter = _checkpointer(tmp_path, seed=1)
    with caplog.at_level(logging.WARNING, logger="graphkd.core.checkpoint"):
        fresh.resume_or_load("", resume=True)
    assert fresh_counter.iter == 3 and bool((fresh_model.weight == 3.0).all())
    assert "model_0000005.pth cannot be read" in caplog.text
    assert "Using" in caplog.text and "instead of the unreadable" in caplog.text
    assert "model_0000003.pth" in caplog.text
    # The older checkpoints were not touched; training on rewrites the bad one atomically.
    _save_at(fresh, fresh_model, fresh_counter, 5)
    again, again_model, again_counter = _checkpointer(tmp_path, seed=2)
    again.resume_or_load("", resume=True)
    assert again_counter.iter == 5 and bool((again_model.weight == 5.0).all())


def test_no_readable_checkpoint_is_a_clear_error(tmp_path):
    ckpt, model, counter = _checkpointer(tmp_path)
    for it in (1, 3):
        _save_at(ckpt, model, counter, it)
    for name in ("model_0000001.pth", "model_0000003.pth"):
        (tmp_path / name).write_bytes(b"PK\x03\x04 cut")
    fresh, fresh_model, _ = _checkpointer(tmp_path, seed=1)
    weight = fresh_model.weight.detach().clone()
    with pytest.raises(CorruptCheckpointError) as err:
        fresh.resume_or_load("", resume=True)
    msg = str(err.value)
    assert "model_0000003.pth" in msg and "model_0000001.pth" in msg
    assert "trainer.resume=false" in msg
    assert torch.equal(fresh_model.weight, weight)  # nothing half-loaded


# ----------------------------------------------------------------------------- done marker
def test_done_marker_lifecycle(tmp_path):
    assert not is_done(tmp_path)
    (tmp_path / rundir.METRICS).write_text("{}")
    assert not is_done(tmp_path)  # metrics alone do not make a finished job
    mark_done(tmp_path, role="student")
    assert is_done(tmp_path) and json.loads((tmp_path / rundir.DONE).read_text())["role"] == (
        "student"
    )
    clear_done(tmp_path)
    clear_done(tmp_path)  # idempotent
    assert not is_done(tmp_path) and os.path.isfile(tmp_path / rundir.METRICS)


def test_builder_state_falls_back_to_the_previous_checkpoint(tmp_path, caplog):
    """load_builder_state reads checkpoints as a resume does: a cut last one is skipped."""
    from graph import GraphBuilder, GraphConfig
    from graphkd.apps.artifacts import load_builder_state

    def builder():  # channel-mean descriptors: 4 dims for 4 channels
        cfg = GraphConfig(descriptor="mean")
        return GraphBuilder([0], 2, cfg, teacher_channels=4, student_channels=4)

    counter = _Counter()
    for it in (1, 3):
        b = builder()
        b.teacher_stats.update(torch.full((it + 1, 4), float(it)), torch.ones(it + 1, dtype=bool))
        ckpt = RunCheckpointer(torch.nn.ModuleDict({"builder": b}), str(tmp_path), trainer=counter)
        ckpt.save(f"model_{it:07d}")
    fresh = builder()
    assert load_builder_state(fresh, tmp_path) and fresh.teacher_stats.num_samples == 4
    last = tmp_path / "model_0000003.pth"
    last.write_bytes(last.read_bytes()[:100])  # cut by a kill
    fresh = builder()
    with caplog.at_level(logging.WARNING, logger="graphkd.core.checkpoint"):
        assert load_builder_state(fresh, tmp_path)
    assert fresh.teacher_stats.num_samples == 2 and "model_0000003.pth" in caplog.text
    (tmp_path / "model_0000001.pth").write_bytes(b"cut")
    with pytest.raises(CorruptCheckpointError, match="No readable checkpoint"):
        load_builder_state(builder(), tmp_path)
    assert not load_builder_state(builder(), tmp_path / "elsewhere")  # none at all: False


# ----------------------------------------------------------------------------- run dir
def test_open_run_dir_removes_temporaries_of_dead_writers_only(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"model_0000009.pth.tmp{dead_pid}"
    live = tmp_path / f"metrics.json.tmp{os.getppid()}"  # a live process (our parent)
    own = tmp_path / f"last_checkpoint.tmp{os.getpid()}"
    other = tmp_path / "notes.tmpfile"
    for p in (stale, live, own, other):
        p.write_text("x")
    mark_done(tmp_path)
    assert rundir.open_run_dir(tmp_path) == tmp_path
    assert not stale.exists() and live.exists() and own.exists() and other.exists()
    assert not is_done(tmp_path)  # a job starts: not done until it says so
    new = rundir.open_run_dir(tmp_path / "a" / "b", main_process=False)
    assert new.is_dir()


def test_seconds_per_iter_from_the_train_log(tmp_path):
    assert rundir.seconds_per_iter(tmp_path) is None
    (tmp_path / checkpoint.TRAIN_LOG).write_text(
        _rec(0, time=1.0) + _rec(1, time=3.0) + json.dumps({"iteration": 2, "AP": 5.0}) + "\n"
    )
    assert rundir.seconds_per_iter(tmp_path) == 2.0
    assert len(read_train_log(tmp_path, require="time")) == 2


def test_metrics_round_trip_as_strict_json(tmp_path):
    rundir.write_metrics(tmp_path, {"AP": float("nan"), "params": 3})
    assert (tmp_path / rundir.METRICS).read_text().count("NaN") == 0  # strict JSON: null
    assert rundir.read_metrics(tmp_path) == {"AP": None, "params": 3}
    assert _leftovers(tmp_path) == []
