"""The kept task-list pages: age bound, per-board invalidation, reads racing changes, size."""

from __future__ import annotations

import uuid

from ingress.task_pages import TaskPageCache


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(max_age: float = 1.0, **kwargs: int) -> tuple[TaskPageCache, FakeClock]:
    clock = FakeClock()
    return TaskPageCache(max_age_seconds=max_age, clock=clock, **kwargs), clock


def test_a_page_is_kept_until_max_age_after_its_query_began() -> None:
    pages, clock = make(max_age=1.0)
    board = uuid.uuid4()
    mark = pages.mark()
    clock.now += 0.3  # the query took this long: the age counts from before it
    pages.put(board, "limit=10", b"page", mark)
    assert pages.get(board, "limit=10") == b"page"
    clock.now += 0.69
    assert pages.get(board, "limit=10") == b"page"
    clock.now += 0.01
    assert pages.get(board, "limit=10") is None
    assert pages.get(board, "limit=10") is None


def test_pages_are_per_board_and_query_string() -> None:
    pages, _ = make()
    board, other = uuid.uuid4(), uuid.uuid4()
    pages.put(board, "limit=10", b"ten", pages.mark())
    pages.put(board, "limit=5", b"five", pages.mark())
    pages.put(other, "limit=10", b"other", pages.mark())
    assert pages.get(board, "limit=10") == b"ten"
    assert pages.get(board, "limit=5") == b"five"
    assert pages.get(board, "") is None
    assert pages.get(other, "limit=10") == b"other"


def test_invalidate_drops_only_that_board() -> None:
    pages, _ = make()
    board, other = uuid.uuid4(), uuid.uuid4()
    pages.put(board, "a", b"1", pages.mark())
    pages.put(board, "b", b"2", pages.mark())
    pages.put(other, "a", b"3", pages.mark())
    pages.invalidate(board)
    assert pages.get(board, "a") is None
    assert pages.get(board, "b") is None
    assert pages.get(other, "a") == b"3"
    pages.invalidate_all()
    assert pages.get(other, "a") is None


def test_a_page_read_before_a_change_is_not_kept() -> None:
    pages, _ = make()
    board, other = uuid.uuid4(), uuid.uuid4()
    mark = pages.mark()  # the query starts ...
    pages.invalidate(board)  # ... a write commits (or is notified) while it runs ...
    pages.put(board, "a", b"stale", mark)  # ... so its answer may predate the write
    assert pages.get(board, "a") is None
    pages.put(other, "a", b"fine", mark)  # another board's change does not matter
    assert pages.get(other, "a") == b"fine"
    pages.put(board, "a", b"fresh", pages.mark())  # a query begun after the change
    assert pages.get(board, "a") == b"fresh"


def test_a_page_read_before_everything_was_dropped_is_not_kept() -> None:
    pages, _ = make()
    board = uuid.uuid4()
    mark = pages.mark()
    pages.invalidate_all()  # e.g. the notification connection was lost
    pages.put(board, "a", b"stale", mark)
    assert pages.get(board, "a") is None


def test_many_changed_boards_still_refuse_older_reads() -> None:
    pages, _ = make()
    board = uuid.uuid4()
    mark = pages.mark()
    for _ in range(20_000):  # more than the remembered per-board marks
        pages.invalidate(uuid.uuid4())
    pages.invalidate(board)
    pages.put(board, "a", b"stale", mark)
    assert pages.get(board, "a") is None


def test_total_size_is_bounded_oldest_first() -> None:
    pages, _ = make(max_bytes=1600)
    boards = [uuid.uuid4() for _ in range(20)]
    for board in boards:
        pages.put(board, "a", b"x" * 100, pages.mark())
    kept = [board for board in boards if pages.get(board, "a") is not None]
    assert kept == boards[-16:]
    pages.put(boards[0], "a", b"x" * 101, pages.mark())  # over 1/16 of the bound: not kept
    assert pages.get(boards[0], "a") is None


def test_max_age_zero_keeps_nothing() -> None:
    pages, _ = make(max_age=0)
    board = uuid.uuid4()
    assert not pages.enabled
    pages.put(board, "a", b"page", pages.mark())
    assert pages.get(board, "a") is None
