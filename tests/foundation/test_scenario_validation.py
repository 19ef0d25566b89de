"""Scenario mapping and validation: every error names file:line, path and what is allowed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from cosim.config.mapping import to_plain
from cosim.errors import ScenarioError
from cosim.scenario import Scenario, load_scenario, parse_scenario

REPO = Path(__file__).resolve().parents[2]

BASE = textwrap.dedent(
    """\
    name: t
    seed: 3
    clients:
      - name: a
        model: {preset: tiny-llama}
        domain: kjv/law
        distance_m: 100
    wireless:
      bandwidth_hz: 20e6
      mac:
        num_rbs: 50
    data:
      domains: [kjv/law, kjv/gospels]
    """
)


def test_minimal_scenario_maps_onto_typed_config() -> None:
    cfg = parse_scenario(BASE, "t.yaml")
    assert isinstance(cfg, Scenario)
    assert cfg.wireless.bandwidth_hz == 20e6  # "20e6" is a float, not YAML 1.1's string
    assert cfg.wireless.mac.num_rbs == 50
    assert cfg.clients[0].distance_m == 100.0
    assert cfg.seed == 3
    assert [c.name for c in cfg.expanded_clients()] == ["a"]


BAD_INPUTS = [
    # (description, yaml text, expected message fragment)
    (
        "malformed YAML",
        "clients: [\n  - a\nname: x\n",
        "t.yaml:2: malformed YAML: expected the node content",
    ),
    (
        "wrong type",
        BASE.replace("seed: 3", "seed: three"),
        "t.yaml:2 seed: must be an integer, got 'three' (str)",
    ),
    (
        "negative physical quantity",
        BASE.replace("bandwidth_hz: 20e6", "bandwidth_hz: -5"),
        "t.yaml:9 wireless.bandwidth_hz: must be > 0, got -5.0",
    ),
    (
        "zero physical quantity",
        BASE.replace("distance_m: 100", "distance_m: 0"),
        "t.yaml:7 clients[0].distance_m: must be > 0, got 0.0",
    ),
    (
        "unknown key with suggestion",
        BASE.replace("bandwidth_hz: 20e6", "bandwith_hz: 20e6"),
        "t.yaml:9 wireless.bandwith_hz: unknown key; did you mean 'bandwidth_hz'?",
    ),
    (
        "unknown section",
        BASE + "wireles: {}\n",
        "t.yaml:14 wireles: unknown key; did you mean 'wireless'?",
    ),
    ("missing required section", "name: t\nseed: 1\n", "clients: missing required key"),
    (
        "bad literal with suggestion",
        BASE.replace("num_rbs: 50", "num_rbs: 50\n    scheduler: proportional_fiar"),
        "t.yaml:12 wireless.mac.scheduler: must be one of 'round_robin', 'equal_share', "
        "'proportional_fair', 'max_rate', got 'proportional_fiar'; "
        "did you mean 'proportional_fair'?",
    ),
    (
        "unknown path-loss model",
        BASE.replace("bandwidth_hz: 20e6", "bandwidth_hz: 20e6\n  path_loss: {model: umx}"),
        "wireless.path_loss.model: must be one of",
    ),
    (
        "cross-section check",
        BASE.replace("domain: kjv/law", "domain: kjv/psalms"),
        "t.yaml:6 clients[0].domain: must be one of the data domains",
    ),
    (
        "resource blocks exceed bandwidth",
        BASE.replace("num_rbs: 50", "num_rbs: 500"),
        "wireless.mac.num_rbs",
    ),
    ("top level not a mapping", "- 1\n- 2\n", "t.yaml:1: the scenario must be a YAML mapping"),
    ("duplicate key", BASE + "seed: 4\n", "t.yaml:14 seed: duplicate key"),
    (
        "python object tag refused (safe_load only)",
        BASE.replace("name: t", "name: !!python/object/apply:os.system ['true']"),
        "t.yaml:1",
    ),
]


@pytest.mark.parametrize(
    ("label", "text", "expected"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_has_one_clear_message(label: str, text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.yaml")
    message = str(info.value)
    assert expected in message, message
    assert "\n" not in message


def test_overrides_apply_and_validate() -> None:
    cfg = parse_scenario(BASE, "t.yaml", ["wireless.bandwidth_hz=10e6", "clients[0].speed_mps=3"])
    assert cfg.wireless.bandwidth_hz == 10e6
    assert cfg.clients[0].speed_mps == 3.0
    # A setting that exists only as a default can be overridden too.
    cfg = parse_scenario(BASE, "t.yaml", ["distillation.method=fd_topk"])
    assert cfg.distillation.method == "fd_topk"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("wireless.bandwidht_hz=1", "--set wireless.bandwidht_hz: no such setting 'bandwidht_hz'; "
         "did you mean 'bandwidth_hz'?"),
        ("nosuch.key=1", "--set nosuch.key: no such setting 'nosuch'"),
        ("clients[3].name=x", "--set clients[3].name: index 3 out of range"),
        (
            "wireless.bandwidth_hz=-1",
            "--set wireless.bandwidth_hz wireless.bandwidth_hz: must be > 0",
        ),
        ("seed", "--set seed: expected KEY=VALUE"),
        ("seed.x=1", "'x' goes below a plain value"),
        # non-ASCII digits are names, not list indices (found by the deep fuzzer: int('¹'))
        ("¹=1", "--set ¹: no such setting '¹'"),
        ("clients.٣.name=x", "'٣' must be a list index"),
    ],
)
def test_bad_overrides(override: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(BASE, "t.yaml", [override])
    assert expected in str(info.value)


def test_resolved_config_round_trips_losslessly() -> None:
    cfg = parse_scenario(BASE, "t.yaml")
    plain = to_plain(cfg)
    again = parse_scenario(yaml.safe_dump(plain), "again.yaml")
    assert again == cfg
    import json

    assert parse_scenario(json.dumps(plain), "again.json") == cfg


SCENARIOS = sorted(p for p in (REPO / "scenarios").glob("*.yaml") if "study" not in p.name)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_shipped_scenarios_validate(path: Path) -> None:
    loaded = load_scenario(path)
    assert loaded.config.name
    assert parse_scenario(loaded.resolved_yaml(), "resolved.yaml") == loaded.config


def test_embedded_default_scenario_matches_the_shipped_quickstart() -> None:
    embedded = REPO / "cosim" / "scenarios" / "quickstart.yaml"
    assert embedded.read_text() == (REPO / "scenarios" / "quickstart.yaml").read_text()


def test_missing_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00name: x")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(bad)
