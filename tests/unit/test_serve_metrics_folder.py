"""A PROMETHEUS_MULTIPROC_DIR set by the user is emptied of an earlier run's files at start."""

from __future__ import annotations

import os
from pathlib import Path

from cli.serve import wipe_stale_metric_files


def test_earlier_runs_files_go_and_this_processes_own_stay(tmp_path: Path) -> None:
    own = tmp_path / f"counter_{os.getpid()}.db"
    earlier = [
        tmp_path / "counter_1.db",
        tmp_path / "gauge_livemax_2.db",
        tmp_path / "histogram_3.db",
    ]
    unrelated = tmp_path / "notes.txt"
    for path in (own, *earlier, unrelated):
        path.write_bytes(b"x")

    assert wipe_stale_metric_files(str(tmp_path)) == 3

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([own.name, unrelated.name])
    assert wipe_stale_metric_files(str(tmp_path)) == 0
