"""transformers' GGUF de-quantizing bar obeys its progress-bar switch (off unless --verbose)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import tqdm.auto

from cosim.engine.model_loading import gguf_bar_obeys_transformers

DESC = "Converting and de-quantizing GGUF tensors..."  # transformers' own wording


def _draw() -> None:
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    for _ in gguf_utils.tqdm(range(3), desc=DESC):
        pass


@pytest.fixture
def bar_switch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    hub_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")  # the module, not the class

    # The hub reads HF_HUB_DISABLE_PROGRESS_BARS once, when first imported; if an
    # in-process CLI test's quiet console had set it by then, the hub's half of
    # enable_progress_bar() would warn. The switch under test is transformers' own.
    monkeypatch.setattr(hub_tqdm, "HF_HUB_DISABLE_PROGRESS_BARS", None)
    enabled = hf_logging.is_progress_bar_enabled()
    yield
    if enabled:
        hf_logging.enable_progress_bar()
    else:
        hf_logging.disable_progress_bar()


def test_bar_follows_the_switch_inside_the_conversion(
        capsys: pytest.CaptureFixture[str], bar_switch: None) -> None:
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    _draw()  # the bare tqdm transformers uses ignores the switch: the bug
    assert DESC in capsys.readouterr().err
    with gguf_bar_obeys_transformers():
        _draw()
    assert capsys.readouterr().err == ""
    hf_logging.enable_progress_bar()  # --verbose
    with gguf_bar_obeys_transformers():
        _draw()
    assert DESC in capsys.readouterr().err
    assert gguf_utils.tqdm is tqdm.auto.tqdm  # restored afterwards


CONVERT = textwrap.dedent(
    """
    from cosim.console import configure_logging
    configure_logging()  # the CLI's quiet console
    from cosim.engine.model_loading import _load_smollm2_full
    _load_smollm2_full()
    print("converted")
    """
)


@pytest.mark.slow
def test_first_gguf_conversion_draws_no_bar_on_a_quiet_console(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(COSIM_CACHE_DIR=str(tmp_path), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", CONVERT], env=env, capture_output=True,
                          text=True, timeout=1800, check=False)  # ~30 s unloaded
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "converted"
    assert (tmp_path / "smollm2-135m" / "model.safetensors").is_file()  # a first conversion
    assert "de-quantizing" not in done.stderr
    assert "%|" not in done.stderr, done.stderr  # no tqdm bar of any kind
