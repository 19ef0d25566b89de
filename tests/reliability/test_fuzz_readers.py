"""Property-based tests of the file readers (issue 7, item 5).

- The run-trace reader (:func:`cosim.trace.reader.read_trace`): a real trace
  cut at random points or with random bytes overwritten, and random bytes,
  give a :class:`RunTrace` or :class:`TraceFormatError`, never another
  exception (h5py reports corruption as OSError, KeyError or RuntimeError) and
  never a hang (a truncated file used to send the reader into HDF5's SWMR
  retry loop for minutes).
- The channel trace readers and the payload decoder have their own
  hypothesis tests (``tests/channels/test_properties.py``,
  ``tests/engine/test_codec.py``); the checks here make sure every reader
  format stays covered by them.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosim.channels.config import TRACE_FORMATS
from cosim.errors import TraceFormatError
from cosim.scenario import load_scenario
from cosim.sim.runner import run_scenario
from cosim.trace.reader import RunTrace, read_trace
from tests.conftest import fuzz_settings
from tests.sim.conftest import DETERMINISTIC, ScriptedBackend

SETTINGS = fuzz_settings(share=3)  # three properties fuzz the run-trace reader


def _reference_trace() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder, "det.yaml")
        scenario.write_text(DETERMINISTIC)
        out = Path(folder, "run.h5")
        run_scenario(load_scenario(scenario), out, progress=False, plots=False,
                     backend=ScriptedBackend())
        return out.read_bytes()


REFERENCE = _reference_trace()


def _check(data: bytes) -> None:
    fd, name = tempfile.mkstemp(suffix=".h5")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        start = time.monotonic()
        try:
            trace = read_trace(name)
        except TraceFormatError as exc:
            assert str(exc)
        else:
            assert isinstance(trace, RunTrace)
        assert time.monotonic() - start < 10.0, "the reader stalled"
    finally:
        os.unlink(name)


@SETTINGS
@given(cut=st.integers(0, len(REFERENCE) - 1))
def test_truncated_run_traces(cut: int) -> None:
    _check(REFERENCE[:cut])


@SETTINGS
@given(edits=st.lists(st.tuples(st.integers(0, len(REFERENCE) - 1), st.integers(0, 255)),
                      min_size=1, max_size=8))
def test_run_traces_with_overwritten_bytes(edits: list[tuple[int, int]]) -> None:
    data = bytearray(REFERENCE)
    for pos, value in edits:
        data[pos] = value
    _check(bytes(data))


@SETTINGS
@given(data=st.binary(max_size=2048))
def test_random_bytes_as_run_trace(data: bytes) -> None:
    _check(data)


def test_the_reference_trace_reads() -> None:
    """The base of the mutations is a valid trace (else every mutation trivially fails)."""
    _check(REFERENCE)
    fd, name = tempfile.mkstemp(suffix=".h5")
    with os.fdopen(fd, "wb") as f:
        f.write(REFERENCE)
    try:
        assert len(read_trace(name)["rounds"]) == 2
    finally:
        os.unlink(name)


def test_every_channel_trace_format_is_fuzzed() -> None:
    from tests.channels import test_properties

    assert set(TRACE_FORMATS) - {"auto"} == set(test_properties.FORMATS)
    fuzzed = [test_properties.test_random_bytes, test_properties.test_random_csv,
              test_properties.test_plausible_prefix_then_garbage,
              test_properties.test_random_hdf5_structures]
    assert all(hasattr(t, "hypothesis") for t in fuzzed)


@pytest.mark.parametrize("name", ["test_random_bytes_only_raise_payload_error",
                                  "test_mutated_payloads_only_raise_payload_error"])
def test_the_payload_decoder_is_fuzzed(name: str) -> None:
    from tests.engine import test_codec

    assert hasattr(getattr(test_codec, name), "hypothesis")
