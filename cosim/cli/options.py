"""Options several subcommands share, declared once."""

from __future__ import annotations

import argparse


def add_set_option(parser: argparse.ArgumentParser, help_text: str = "") -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``: a setting by dotted path."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help=help_text or "override a setting by dotted path (repeatable), "
        "e.g. wireless.bandwidth_hz=10e6",
    )
