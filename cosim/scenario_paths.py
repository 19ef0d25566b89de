"""File paths in a scenario: resolved against the scenario file, kept inside its project.

A scenario names files to read (``data.user_files``, ``channel.trace``,
``channel.traces``, a local model directory in ``clients[].model.preset``) and
directories to write (``data.cache_dir``, ``channel.cache_dir``). A scenario
handed over by someone else must not reach arbitrary files through them, so:

- a relative path is resolved against the scenario file's directory (never
  the current directory), ``~`` is expanded, and symbolic links are followed;
- the result must lie inside the scenario's *root*: the nearest directory at
  or above the scenario file that holds a ``pyproject.toml`` (a project such
  as this repository, whose ``scenarios/`` may use ``../channels/``), or the
  scenario file's own directory when there is none;
- anything else (``..`` climbing out, an absolute path or ``~`` elsewhere, a
  symlink pointing out) is a :class:`ScenarioError` naming the field and the
  path, unless the scenario sets ``allow_path_escape: true``.

``output.trace_path`` is not a scenario input: it stays relative to the
current directory, like every output path given on the command line.

A model preset is a local path when it starts with ``.``, ``/`` or ``~``, or
when it names an existing directory next to the scenario; anything else that
is not a built-in preset is a hub id and is left alone.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cosim.engine.presets import is_builtin_preset
from cosim.errors import ScenarioError

if TYPE_CHECKING:
    from cosim.scenario import Scenario

PROJECT_MARKER = "pyproject.toml"


def scenario_root(scenario_dir: Path) -> Path:
    """The directory scenario paths must stay inside (see the module docstring)."""
    start = scenario_dir.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    return start


def resolve_path(field: str, path: str, base_dir: Path, root: Path, *,
                 allow_escape: bool) -> str:
    """``path`` made absolute against ``base_dir``; outside ``root`` is an error.

    Raises:
        ScenarioError: the resolved path leaves ``root`` and ``allow_escape``
            is false.
    """
    if "\x00" in path:  # the OS cannot name such a file; pathlib would raise ValueError
        raise ScenarioError(f"{field}: path {path!r} contains a NUL byte; use a plain file path")
    candidate = Path(os.path.expanduser(path))
    if not candidate.is_absolute():
        candidate = base_dir / candidate
    resolved = candidate.resolve()  # follows symlinks, so a link cannot smuggle a path out
    if not allow_escape and not resolved.is_relative_to(root):
        raise ScenarioError(
            f"{field}: path {path!r} resolves to {resolved}, outside the scenario's root "
            f"{root}; set 'allow_path_escape: true' in the scenario to allow it"
        )
    return str(resolved)


def _is_local_model(preset: str, base_dir: Path) -> bool:
    if is_builtin_preset(preset):  # the engine's names (torch-free cosim.engine.presets)
        return False
    return preset.startswith((".", "/", "~")) or (base_dir / preset).is_dir()


def resolve_scenario_paths(scenario: Scenario, base_dir: Path) -> Scenario:
    """A copy of ``scenario`` whose input paths are absolute and checked.

    Raises:
        ScenarioError: a path leaves the scenario's root (see the module docstring).
    """
    base_dir = base_dir.resolve()
    root = scenario_root(base_dir)
    escape = scenario.allow_path_escape

    def fix(field: str, path: str) -> str:
        return resolve_path(field, path, base_dir, root, allow_escape=escape)

    data = scenario.data
    data = dataclasses.replace(
        data,
        user_files=tuple(fix(f"data.user_files[{i}]", p) for i, p in enumerate(data.user_files)),
        cache_dir=None if data.cache_dir is None else fix("data.cache_dir", data.cache_dir),
    )
    channel = scenario.channel
    if channel is not None:
        channel = dataclasses.replace(
            channel,
            trace=fix("channel.trace", channel.trace) if channel.trace else "",
            traces=tuple(fix(f"channel.traces[{i}]", p) for i, p in enumerate(channel.traces)),
            cache_dir=(None if channel.cache_dir is None
                       else fix("channel.cache_dir", channel.cache_dir)),
        )
    clients = tuple(
        dataclasses.replace(
            group,
            model=dataclasses.replace(group.model, preset=fix(f"clients[{i}].model.preset",
                                                              group.model.preset)),
        )
        if _is_local_model(group.model.preset, base_dir) else group
        for i, group in enumerate(scenario.clients)
    )
    return dataclasses.replace(scenario, data=data, channel=channel, clients=clients)
