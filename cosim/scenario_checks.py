"""Checks that catch a scenario's mistakes at ``validate`` time, before any model loads.

Errors (:class:`ScenarioError`, exit 2):

- a model name that is not a built-in preset, not a local directory and not a
  hub id of the form ``owner/name``: a preset typo such as ``tiny-lama`` is
  never sent to the model hub (``did you mean 'tiny-llama'?``);
- a ``channel.trace``/``channel.traces`` file that does not exist.

Warnings (one line each, naming the client):

- a client placed beyond ``wireless.cell_radius_m``;
- a client whose mean uplink SNR cannot carry one token record before the
  round deadline. The estimate is optimistic on purpose, so the warning is
  never a false alarm: the whole band ``B`` for the client, no fading,
  shadowing or protocol overhead, Shannon rate ``B log2(1 + γ/Γ)`` at the
  median (unshadowed) path loss, and the smallest possible first record
  (codec header 24 B + 3 B + 2 B per entry for ``k_min`` entries).

:func:`hub_offline_unless_named` puts the Hugging Face hub in offline mode
(``HF_HUB_OFFLINE=1``) unless a client names a hub id, so nothing waits on an
unreachable hub.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cosim.engine.presets import PRESET_EXAMPLES, SMOLLM2_LAYERS, TINY_PRESETS, is_builtin_preset
from cosim.errors import ScenarioError

if TYPE_CHECKING:
    from cosim.scenario import Scenario

# A Hugging Face repo id: owner/name, each part letters, digits, '-', '_', '.'.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# Smallest first sparse record: codec header, k varint + residual fp16, 2 B per entry.
RECORD_HEADER_BYTES = 24 + 3
RECORD_BYTES_PER_ENTRY = 2


def model_kind(preset: str) -> str:
    """'preset', 'local' (a path: starts with '.', '/' or '~', or absolute) or 'hub'.

    Raises:
        ScenarioError: none of these (no preset, no path, no ``owner/name``).
    """
    if is_builtin_preset(preset):
        return "preset"
    if preset.startswith((".", "/", "~")) or Path(preset).is_absolute():
        return "local"
    if HUB_ID.fullmatch(preset):
        return "hub"
    close = difflib.get_close_matches(preset, PRESET_EXAMPLES, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ScenarioError(
        f"unknown model preset {preset!r}; {hint}presets: {PRESET_EXAMPLES[0]}, smollm2-<n>l "
        f"(n = 1..{SMOLLM2_LAYERS}), {', '.join(TINY_PRESETS)}; or a local directory "
        f"(./path) or a hub id (owner/name)"
    )


def check_inputs(scenario: Scenario) -> None:
    """Model names and channel trace files (see the module docstring).

    Call after :func:`cosim.scenario_paths.resolve_scenario_paths`, which
    makes local model directories and trace paths absolute.
    """
    for i, group in enumerate(scenario.clients):
        preset = group.model.preset
        try:
            kind = model_kind(preset)
        except ScenarioError as exc:
            raise ScenarioError(f"clients[{i}].model.preset: {exc}") from None
        if kind == "local" and not Path(os.path.expanduser(preset)).is_dir():
            raise ScenarioError(
                f"clients[{i}].model.preset: local model directory {preset!r} does not exist"
            )
    channel = scenario.channel
    if channel is not None:
        named = [("channel.trace", channel.trace)] if channel.trace else []
        named += [(f"channel.traces[{i}]", p) for i, p in enumerate(channel.traces)]
        for field, path in named:
            if not Path(path).is_file():
                what = "a directory, not a file" if Path(path).is_dir() else "no such file"
                raise ScenarioError(f"{field}: {path}: {what}")


def hub_offline_unless_named(scenario: Scenario) -> None:
    """Set ``HF_HUB_OFFLINE=1`` unless a client names a hub id (a user's setting wins)."""
    if not any(model_kind(g.model.preset) == "hub" for g in scenario.clients):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


def optimistic_uplink_bps(scenario: Scenario, distance_m: float) -> float:
    """Shannon rate [bit/s] over the whole band at the median path loss (no fading/overhead).

    ``γ = P_tx − PL(d) − (N0 + 10 log10 B + NF)`` [dB] with the client in
    LOS when the model's LOS setting is ``los`` or ``auto`` (the better case).
    """
    from cosim.wireless.pathloss import make_path_loss

    w = scenario.wireless
    model = make_path_loss(w.path_loss, w.carrier_hz)
    los = getattr(w.path_loss, "los", "los") != "nlos"
    loss = float(model.loss_db(np.array([distance_m]), np.array([los]))[0])
    noise_dbm = w.noise_psd_dbm_per_hz + 10.0 * math.log10(w.bandwidth_hz) + w.noise_figure_db
    snr_db = w.uplink_tx_power_dbm - loss - noise_dbm
    gap_db = getattr(w.link, "snr_gap_db", 0.0)
    return w.bandwidth_hz * math.log2(1.0 + 10.0 ** ((snr_db - gap_db) / 10.0))


def scenario_warnings(scenario: Scenario) -> list[str]:
    """One line per client beyond the cell or unable to upload a record in time."""
    lines: list[str] = []
    w = scenario.wireless
    deadline = scenario.server.round_deadline_s
    record_bytes = RECORD_HEADER_BYTES + RECORD_BYTES_PER_ENTRY * scenario.distillation.k_min
    uploads = scenario.distillation.method != "local_only" and scenario.channel is None
    for client in scenario.expanded_clients():
        d = client.group.distance_m
        if d is None:
            continue
        if d > w.cell_radius_m:
            lines.append(f"client {client.name}: distance_m {d:g} is beyond the cell radius "
                         f"(wireless.cell_radius_m {w.cell_radius_m:g})")
        if uploads and deadline is not None:
            try:
                rate = optimistic_uplink_bps(scenario, d)
            except (ValueError, ArithmeticError):
                continue
            if rate * deadline < 8 * record_bytes:
                lines.append(
                    f"client {client.name}: at {d:g} m its mean uplink SNR carries at most "
                    f"{rate * deadline / 8:.0f} B within the {deadline:g} s round deadline, "
                    f"less than one token record ({record_bytes} B); it will miss every round"
                )
    return lines


_REPORTED: set[str] = set()


def report_warnings(scenario: Scenario, origin: str) -> list[str]:
    """Log :func:`scenario_warnings` on the ``cosim`` logger, each line once per process
    (a study loads one scenario per run); returns the lines."""
    import logging

    lines = scenario_warnings(scenario)
    for line in lines:
        text = f"{origin}: {line}"
        if text not in _REPORTED:
            _REPORTED.add(text)
            logging.getLogger("cosim.scenario").warning(text)
    return lines
