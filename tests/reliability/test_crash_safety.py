"""SIGKILL at random moments leaves a readable trace with every committed round whole.

Issue 7, item 2. Each cycle starts ``cosim run`` on a tiny real-engine
scenario as a subprocess, waits until the trace holds at least one flushed
round (polling it with the SWMR reader, as an analyst would), sleeps a random
time drawn from a seeded generator, and sends SIGKILL. The delays are
stratified over ``[0, 1.5) × one round's wall time`` (one uniform draw in each
of ``CYCLES - 1`` equal strata; the round is measured in the first cycle, which
is killed right after its second round is flushed), so kills land early, mid
and late in a round whatever the machine's speed. The trace must then
open with :func:`read_trace`, keep every round seen before the kill, and every
round in ``rounds`` must have its complete rows in the other tables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from cosim.errors import TraceFormatError
from cosim.trace.reader import read_trace
from tests.conftest import cosim_command
from tests.reliability.conftest import round_consistency_problems
from tests.sim.conftest import TINY_REAL

pytestmark = pytest.mark.slow

CYCLES = 6
ROUNDS = 40
EVALUATE_EVERY = 2
# Kill within this many round durations after the first flushed round is seen.
MAX_DELAY_ROUNDS = 1.5


def _committed_rounds(path: Path) -> int:
    try:
        return len(read_trace(path, tables=["rounds"])["rounds"])
    except (TraceFormatError, OSError, KeyError):
        return 0  # not created yet, or mid-creation


def _scenario(tmp_path: Path) -> Path:
    text = TINY_REAL.replace("rounds: 2", f"rounds: {ROUNDS}").replace(
        "server: {round_deadline_s: 0.6}",
        f"server: {{round_deadline_s: 0.6, evaluate_every_rounds: {EVALUATE_EVERY}}}",
    )
    assert f"rounds: {ROUNDS}" in text and "evaluate_every_rounds" in text
    path = tmp_path / "crash.yaml"
    path.write_text(text)
    return path


def test_sigkill_at_random_moments_leaves_whole_rounds(tmp_path: Path,
                                                       cosim_env: dict[str, str]) -> None:
    scenario = _scenario(tmp_path)
    rng = np.random.default_rng(20261126)
    outcomes: list[tuple[float, int, int]] = []
    round_wall_s = 0.0
    for cycle in range(CYCLES):
        out = tmp_path / f"kill{cycle}.h5"
        proc = subprocess.Popen(
            [*cosim_command(), "run", str(scenario), "--out", str(out), "--no-progress",
             "--no-plots"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cosim_env,
        )
        try:
            deadline = time.monotonic() + 300
            seen = 0
            while seen < 1:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "no round was flushed within 300 s"
                time.sleep(0.1)
                seen = _committed_rounds(out)
            if cycle == 0:  # measure a round, then kill just after the second flush
                first = time.monotonic()
                while seen < 2:
                    assert proc.poll() is None and time.monotonic() < deadline
                    time.sleep(0.05)
                    seen = _committed_rounds(out)
                round_wall_s = time.monotonic() - first
                delay = 0.0
            else:
                stratum = (cycle - 1 + float(rng.uniform())) / (CYCLES - 1)
                delay = stratum * MAX_DELAY_ROUNDS * round_wall_s
                time.sleep(delay)
            seen = max(seen, _committed_rounds(out))
            assert proc.poll() is None, "the run finished before the kill; raise ROUNDS"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL

        trace = read_trace(out)  # must open
        assert trace.status == "running"
        n = len(trace["rounds"])
        assert n >= seen, f"cycle {cycle}: {seen} rounds were flushed, {n} survived"
        assert len(trace["clients"]) == 2
        problems = round_consistency_problems(trace, EVALUATE_EVERY, ROUNDS, n_clients=2)
        assert problems == [], f"cycle {cycle} (killed {delay:.2f} s after a flush): {problems}"
        outcomes.append((delay, seen, n))
    print(f"round wall time {round_wall_s:.2f} s; kill cycles (delay s, rounds seen, "
          f"rounds kept): {[(round(d, 2), s, n) for d, s, n in outcomes]}")
    # Kills landed at different points of the run, not all in the same round.
    assert len({n for _, _, n in outcomes}) >= 2, outcomes
