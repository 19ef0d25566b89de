"""Progress inside a round: the bar names the latest protocol event, at most twice a second."""

from __future__ import annotations

import pytest

import cosim.sim.runner as runner


class FakeBar:
    def __init__(self) -> None:
        self.shown: list[str] = []

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.shown.append(text)


def test_inside_round_progress_is_throttled_and_names_the_event(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([10.0, 10.2, 10.6, 11.5])
    monkeypatch.setattr(runner.time, "monotonic", lambda: next(clock))
    bar = FakeBar()
    show = runner._inside_round_progress(bar, 5)  # type: ignore[arg-type]
    show("compute_done", 2, 0)
    show("uplink_start", 2, 0)   # 0.2 s later: not redrawn
    show("uplink_done", 4, 0)
    show("aggregate", -1, 1)
    assert bar.shown == ["round 1: compute done (client 3/5)", "round 1: uplink done (client 5/5)",
                         "round 2: aggregate (server)"]
