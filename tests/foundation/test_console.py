"""Quiet console: global flags anywhere, third-party loggers silenced unless --verbose."""

from __future__ import annotations

import logging

import pytest

from cosim.cli import main
from cosim.console import configure_logging, hoist_global_flags


def test_global_flags_are_hoisted_before_the_subcommand() -> None:
    assert hoist_global_flags(["validate", "a.yaml", "-q", "--debug"]) == [
        "-q", "--debug", "validate", "a.yaml"]
    assert hoist_global_flags(["run", "--", "-q"]) == ["run", "--", "-q"]


@pytest.mark.parametrize("position", ["before", "after"])
def test_quiet_works_before_or_after_the_subcommand(
        tmp_path, capsys: pytest.CaptureFixture[str], position: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("clients: [{name: a, distance_m: 9000}]\n")  # beyond the cell: a warning
    argv = ["validate", str(path)]
    assert main(["-q", *argv] if position == "before" else [*argv, "-q"]) == 0
    assert "ok:" in capsys.readouterr().out
    assert logging.getLogger("cosim").getEffectiveLevel() == logging.WARNING


def test_only_cosim_speaks_unless_verbose() -> None:
    try:
        configure_logging()
        assert logging.getLogger("cosim").isEnabledFor(logging.INFO)
        for name in ("distributed.scheduler", "transformers.modeling_utils", "peft"):
            assert not logging.getLogger(name).isEnabledFor(logging.WARNING), name
        configure_logging(verbose=True)
        assert logging.getLogger("distributed.scheduler").isEnabledFor(logging.INFO)
    finally:
        configure_logging()


def test_help_lists_subcommands_in_workflow_order_with_an_example_each() -> None:
    from cosim.cli import build_parser
    from cosim.console import WORKFLOW

    parser = build_parser()
    text = parser.format_help()
    positions = [text.index(f"    {name} ") for name in WORKFLOW]
    assert positions == sorted(positions)
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, page in sub.choices.items():
        assert f"example: {WORKFLOW[name]}" in " ".join(page.format_help().split()), name
