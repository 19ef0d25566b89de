"""The scenario: the whole YAML file as one frozen config object.

A scenario has these sections (only ``clients`` is required)::

    name, description, seed
    clients:       list of client groups (model, data domain, position, device)
    wireless:      cosim.wireless.config.WirelessConfig
    channel:       cosim.channels.config.TraceReplayConfig (optional: replay a
                   recorded trace instead of the statistical channel)
    data:          cosim.engine.config.DataConfig
    distillation:  cosim.engine.config.DistillationConfig
    engine:        cosim.engine.config.EngineConfig (``engine.parallel``: serial,
                   processes or dask execution of the clients' work)
    server:        cosim.sim.config.ServerConfig
    compute:       cosim.sim.config.ComputeConfig
    output:        OutputConfig

:func:`load_scenario` reads a file, applies ``--set`` overrides, validates
everything and reports any problem as ``file:line dotted.path: message``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import yaml

from cosim.channels.config import TraceReplayConfig
from cosim.config.checks import check_int_range, check_non_negative, check_positive
from cosim.config.limits import MAX_CLIENTS
from cosim.config.mapping import build, to_plain
from cosim.config.overrides import apply_overrides
from cosim.config.templates import check_path_template, check_safe_name, expand_path_template
from cosim.config.yaml_source import YamlSource, load_yaml_text, read_text_capped
from cosim.engine.config import (
    DataConfig,
    DistillationConfig,
    EngineClientSpec,
    EngineConfig,
    ModelSpec,
    check_method_clients,
)
from cosim.errors import ConfigFieldError, ScenarioError
from cosim.scenario_checks import check_inputs, hub_offline_unless_named, report_warnings
from cosim.scenario_paths import resolve_scenario_paths
from cosim.sim.config import ComputeConfig, ServerConfig
from cosim.wireless.config import WirelessConfig


@dataclass(frozen=True)
class ClientGroup:
    """``count`` identical clients.

    Attributes:
        name: group name (letters, digits, ``.``, ``_``, ``-``); clients are
            named ``name`` (count 1) or ``name-i``.
        model: model preset/path and LoRA settings.
        domain: private data domain (``source/group``); null: a Dirichlet mix.
        distance_m: distance to the base station [m]; null: drawn uniformly
            in the cell's annulus (seeded).
        speed_mps: speed [m/s]; the maximum Doppler is
            f_d = sqrt((v·f_c/c)² + wireless.fading.environment_doppler_hz²), so a
            client at speed 0 still fades (moving scatterers).
        device: compute profile name (``phone``, ``laptop``, ``edge_gpu`` or one
            defined under ``compute.profiles``).
    """

    name: str
    model: ModelSpec = field(default_factory=ModelSpec)
    count: int = 1
    domain: str | None = None
    distance_m: float | None = None
    speed_mps: float = 0.0
    device: str = "laptop"

    def __post_init__(self) -> None:
        check_safe_name("name", self.name)
        check_int_range("count", self.count, 1, MAX_CLIENTS)
        if self.distance_m is not None:
            check_positive("distance_m", self.distance_m)
        check_non_negative("speed_mps", self.speed_mps)


@dataclass(frozen=True)
class ClientInstance:
    """One expanded client (index into every per-client array)."""

    index: int
    name: str
    group: ClientGroup


TRACE_PATH_KEYS = ("name", "seed")


@dataclass(frozen=True)
class OutputConfig:
    """Where and how the run is recorded.

    Attributes:
        trace_path: HDF5 trace path; ``{name}`` and ``{seed}`` are substituted
            (the only placeholders; ``{{``/``}}`` for literal braces); relative
            paths are relative to the current directory. In a scenario file it
            may not climb out with ``..`` or be absolute unless
            ``allow_path_escape: true`` (``--set``/``--out`` may).
        flush_every_rounds: trace flush cadence (1 = every round).
        checkpoint_every_rounds: checkpoint cadence for ``cosim run --resume``
            (0 = no checkpoints); the last round always gets one.
        plots: write PNG plots next to the trace at the end of ``cosim run``.
    """

    trace_path: str = "runs/{name}-seed{seed}.h5"
    flush_every_rounds: int = 1
    checkpoint_every_rounds: int = 1
    plots: bool = True

    def __post_init__(self) -> None:
        check_path_template("trace_path", self.trace_path, TRACE_PATH_KEYS)
        check_int_range("flush_every_rounds", self.flush_every_rounds, 1)
        check_int_range("checkpoint_every_rounds", self.checkpoint_every_rounds, 0)


@dataclass(frozen=True)
class Scenario:
    """A complete cosim scenario (see the module docstring for the sections)."""

    clients: tuple[ClientGroup, ...]
    name: str = "scenario"
    description: str = ""
    seed: int = 0
    wireless: WirelessConfig = field(default_factory=WirelessConfig)
    channel: TraceReplayConfig | None = None
    data: DataConfig = field(default_factory=DataConfig)
    distillation: DistillationConfig = field(default_factory=DistillationConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    # Let input paths leave the scenario's root (cosim.scenario_paths); off for untrusted files.
    allow_path_escape: bool = False

    def __post_init__(self) -> None:
        if not self.clients:
            raise ConfigFieldError("clients", "must list at least one client group")
        check_safe_name("name", self.name)
        check_int_range("seed", self.seed, 0, 2**63 - 1)
        total = sum(group.count for group in self.clients)
        if total > MAX_CLIENTS:  # before anything is allocated per client
            raise ConfigFieldError(
                "clients", f"{total} clients in all; at most {MAX_CLIENTS} are supported"
            )
        seen: set[str] = set()
        for i, group in enumerate(self.clients):
            if group.name in seen:
                raise ConfigFieldError(f"clients.{i}.name", f"duplicate group name {group.name!r}")
            seen.add(group.name)
            if group.domain is not None and group.domain not in self.all_domains():
                allowed = ", ".join(self.all_domains())
                raise ConfigFieldError(
                    f"clients.{i}.domain",
                    f"must be one of the data domains ({allowed}) or null, got {group.domain!r}",
                )
            if group.device not in self.compute.profile_names():
                allowed = ", ".join(self.compute.profile_names())
                raise ConfigFieldError(
                    f"clients.{i}.device", f"must be one of {allowed}, got {group.device!r}"
                )
        try:
            check_method_clients(self.distillation.method, self.engine_clients())
        except ConfigFieldError as exc:
            raise ConfigFieldError(f"distillation.{exc.field}", exc.message) from None

    def all_domains(self) -> tuple[str, ...]:
        """Data domains, including ``user/<stem>`` for each user file."""
        users = tuple(f"user/{Path(p).stem}" for p in self.data.user_files)
        return self.data.domains + users

    def expanded_clients(self) -> list[ClientInstance]:
        """Every client, groups expanded, in index order."""
        out: list[ClientInstance] = []
        for group in self.clients:
            for j in range(group.count):
                name = group.name if group.count == 1 else f"{group.name}-{j}"
                out.append(ClientInstance(len(out), name, group))
        return out

    def engine_clients(self) -> list[EngineClientSpec]:
        """The engine's view of the clients."""
        return [
            EngineClientSpec(name=c.name, model=c.group.model, domain=c.group.domain)
            for c in self.expanded_clients()
        ]

    def trace_path(self) -> Path:
        """The output trace path with ``{name}``/``{seed}`` substituted."""
        values = {"name": self.name, "seed": self.seed}
        try:
            return Path(expand_path_template("output.trace_path", self.output.trace_path, values))
        except ConfigFieldError as exc:
            raise ScenarioError(str(exc)) from None


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario plus what it was made from (stored in the trace)."""

    config: Scenario
    text: str
    path: Path | None
    overrides: tuple[str, ...]

    @property
    def base_dir(self) -> Path:
        """Directory that relative paths in the scenario are resolved against."""
        return self.path.parent if self.path is not None else Path.cwd()

    def resolved_plain(self) -> dict[str, Any]:
        """The resolved config as plain data (defaults included)."""
        return to_plain(self.config)

    def resolved_yaml(self) -> str:
        """The resolved config as YAML text."""
        return yaml.safe_dump(self.resolved_plain(), sort_keys=False)

    def resolved_json(self) -> str:
        """The resolved config as JSON text."""
        return json.dumps(self.resolved_plain(), indent=2)


def parse_scenario(
    text: str, origin: str = "<scenario>", overrides: list[str] | tuple[str, ...] = (),
    *, trust_remote_code: bool = False,
) -> Scenario:
    """Validate scenario ``text`` (+ overrides) into a :class:`Scenario`.

    ``trust_remote_code`` is the command line's ``--trust-remote-code``: a
    model with ``trust_remote_code: true`` runs code shipped with it, so the
    scenario alone (or a ``--set``) cannot turn it on.
    """
    source: YamlSource = load_yaml_text(text, origin)
    if not isinstance(source.data, dict):
        raise ScenarioError(f"{origin}:1: the scenario must be a YAML mapping of sections")
    source = apply_overrides(Scenario, source, list(overrides))
    _check_output_stays_inside(source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scenario = build(Scenario, source.data, source)
    for i, group in enumerate(scenario.clients):
        if group.model.trust_remote_code and not trust_remote_code:
            raise source.error(
                ("clients", i, "model", "trust_remote_code"),
                "true runs code shipped with the model, which a scenario cannot allow by "
                "itself; pass --trust-remote-code on the command line if you trust it",
            )
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return scenario


def _check_output_stays_inside(source: YamlSource) -> None:
    """A scenario file's own ``output.trace_path`` stays below the current directory.

    ``..`` or an absolute path needs ``allow_path_escape: true``; ``--set`` and
    ``--out`` (the user's own command line) are not limited.
    """
    if ("output",) in source.labels or ("output", "trace_path") in source.labels:
        return  # set on the command line
    output = source.data.get("output")
    template = output.get("trace_path") if isinstance(output, dict) else None
    if not isinstance(template, str) or source.data.get("allow_path_escape") is True:
        return
    pure = PurePath(template)
    if pure.is_absolute() or ".." in pure.parts:
        raise source.error(
            ("output", "trace_path"),
            f"{template!r} leaves the current directory; a scenario writes below it "
            "(use --out, or set 'allow_path_escape: true' for a file you trust)",
        )


def load_scenario(
    path: str | Path, overrides: list[str] | tuple[str, ...] = (), *,
    trust_remote_code: bool = False,
) -> LoadedScenario:
    """Read, override and validate a scenario file.

    Input paths (user files, channel traces, cache directories, local model
    directories) come back absolute, resolved against the file's directory and
    checked by :func:`cosim.scenario_paths.resolve_scenario_paths`.

    Raises:
        ScenarioError: unreadable file, malformed YAML, or any invalid value,
            naming ``file:line`` and the dotted path.
    """
    path = Path(path)
    text = read_text_capped(path)
    config = parse_scenario(text, str(path), overrides, trust_remote_code=trust_remote_code)
    try:
        config = resolve_scenario_paths(config, path.parent)
        check_inputs(config)  # preset typos, missing trace files: before any model loads
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    hub_offline_unless_named(config)
    report_warnings(config, str(path))
    # Absolute, so a resumed run (another working directory) resolves paths the same way.
    return LoadedScenario(config=config, text=text, path=path.absolute(),
                          overrides=tuple(overrides))
