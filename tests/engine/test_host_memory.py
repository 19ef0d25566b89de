"""glibc keeps freed tensor memory for the next tensors (cosim.engine.host_memory)."""

from __future__ import annotations

import resource

import pytest
import torch

from cosim.engine.host_memory import _glibc, keep_freed_memory

PAGE = resource.getpagesize()


def _step(numel: int) -> None:
    """Three [numel] float32 temporaries, freed at the end (a loss's pattern)."""
    x = torch.ones(numel)
    y = x * 2
    z = y + 1
    del x, y, z


@pytest.mark.skipif(not _glibc(), reason="the setting applies to glibc only")
def test_freed_tensors_pages_serve_the_next_ones() -> None:
    assert keep_freed_memory()
    numel = 2**24  # 64 MiB each: above glibc's largest mmap threshold (32 MiB)
    for _ in range(5):  # the heap grows to the working set
        _step(numel)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        _step(numel)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    fresh = 5 * 3 * numel * 4 // PAGE  # 245,760: every tensor on new pages (the default)
    # a fragmented heap (other tests' live objects) may still grow by a tensor or two
    assert faults < fresh // 4


def test_it_is_idempotent() -> None:
    assert keep_freed_memory() == keep_freed_memory()
