"""Several jobs in one process (``make demo``): each job's log.txt holds only its own records."""

import logging

from graphkd.apps.run import log_to


def test_each_job_logs_only_to_its_own_dir(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for run_dir in (first, second):
        run_dir.mkdir()
        log_to(str(run_dir))
        logging.getLogger("graphkd").info("job in %s", run_dir.name)
    assert "job in first" in (first / "log.txt").read_text()
    assert "job in second" not in (first / "log.txt").read_text()
    assert "job in first" not in (second / "log.txt").read_text()
    # one console and one file handler per logger, not one pair per job so far
    assert len(logging.getLogger("detectron2").handlers) == 2
