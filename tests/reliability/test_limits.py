"""Every numeric scenario setting has a documented plausible range (issue 16, item 3).

The schema is walked from :class:`cosim.scenario.Scenario` (tagged unions
through each member, client groups, device profiles), so a new numeric field
without an entry in :data:`cosim.config.limits.LIMITS` fails here. Then every
such field gets an absurd value (1e308 and -1e308 for floats, 10^30 for
integers) through ``--set``: each must be refused with one line.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest

from cosim.config.limits import LIMITS
from cosim.config.mapping import _is_union, discriminator, field_types
from cosim.errors import ScenarioError
from cosim.scenario import Scenario, load_scenario

# Settings a section needs before any other field of it can be set.
SETUP = {
    "TraceReplayConfig": ["channel.trace=t.csv"],
    "DeviceProfile": ["compute.profiles.x.effective_flops_per_s=1e9",
                      "clients[0].device=x"],
}


@dataclasses.dataclass(frozen=True)
class NumericField:
    key: str          # --set key
    owner: str        # dataclass name
    name: str         # field name
    kind: type        # int or float
    is_list: bool
    setup: tuple[str, ...]


def _unwrap(tp: Any) -> Any:
    if _is_union(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def _walk(tp: Any, key: str, setup: tuple[str, ...]) -> list[NumericField]:
    out: list[NumericField] = []
    tp = _unwrap(tp)
    if _is_union(tp) and all(dataclasses.is_dataclass(a) for a in get_args(tp)):
        members = get_args(tp)
        disc = discriminator(members)
        for member in members:
            tag = get_args(field_types(member)[disc])[0]
            out += _walk(member, key, (*setup, f"{key}.{disc}={tag}"))
        return out
    if dataclasses.is_dataclass(tp):
        setup = (*setup, *SETUP.get(tp.__name__, []))
        for name, ftp in field_types(tp).items():
            child = f"{key}.{name}" if key else name
            base = _unwrap(ftp)
            if get_origin(base) is tuple and dataclasses.is_dataclass(get_args(base)[0]):
                out += _walk(get_args(base)[0], f"{child}[0]", setup)
            elif get_origin(base) is dict and dataclasses.is_dataclass(get_args(base)[1]):
                out += _walk(get_args(base)[1], f"{child}.x", setup)
            elif get_origin(base) is tuple and get_args(base)[0] in (int, float):
                out.append(NumericField(child, tp.__name__, name, get_args(base)[0], True, setup))
            elif base in (int, float):
                out.append(NumericField(child, tp.__name__, name, base, False, setup))
            elif get_origin(base) is not Literal and base not in (str, bool):
                out += _walk(base, child, setup)
    return out


FIELDS = _walk(Scenario, "", ())


def test_every_numeric_field_has_a_plausible_range() -> None:
    owned = {f"{f.owner}.{f.name}" for f in FIELDS}
    assert len(owned) > 90
    assert sorted(owned - set(LIMITS)) == []
    assert sorted(set(LIMITS) - owned) == []  # no stale entries
    for key, (low, high) in LIMITS.items():
        assert low <= high, key


def test_the_defaults_are_inside_their_ranges() -> None:
    for f in FIELDS:
        owner = next(c for c in _classes() if c.__name__ == f.owner)
        field = next(x for x in dataclasses.fields(owner) if x.name == f.name)
        default = field.default
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            low, high = LIMITS[f"{f.owner}.{f.name}"]
            assert low <= default <= high, (f.key, default)


def _classes() -> list[type]:
    found: list[type] = []

    def visit(tp: Any) -> None:
        tp = _unwrap(tp)
        for arg in (get_args(tp) if _is_union(tp) or get_origin(tp) in (tuple, dict) else ()):
            visit(arg)
        if dataclasses.is_dataclass(tp) and tp not in found:
            found.append(tp)
            for ftp in field_types(tp).values():
                visit(ftp)

    visit(Scenario)
    return found


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("limits")
    (folder / "t.csv").write_text("time_s,snr_db\n0,10\n1,12\n")
    path = folder / "s.yaml"
    path.write_text("clients:\n  - {name: a}\n")
    return path


@pytest.mark.parametrize("field", FIELDS, ids=[f.key for f in FIELDS])
def test_absurd_values_are_refused_in_every_numeric_field(field: NumericField,
                                                          scenario_file: Path) -> None:
    load_scenario(scenario_file, list(field.setup))  # the setup alone is valid
    values = ["1000000000000000000000000000000"] if field.kind is int else ["1e308", "-1e308"]
    for value in values:
        text = f"[{value}]" if field.is_list else value
        with pytest.raises(ScenarioError) as info:
            load_scenario(scenario_file, [*field.setup, f"{field.key}={text}"])
        message = str(info.value)
        assert "\n" not in message
        # Named, or (a bound relative to another field: k_min > k_max) its section is.
        assert field.name in message or field.key.rsplit(".", 1)[0] in message, message
