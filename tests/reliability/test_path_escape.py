"""Scenario input paths: resolved against the scenario file, confined to its root.

Rule (cosim.scenario_paths): the root is the nearest folder at or above the
scenario holding a ``pyproject.toml``, else the scenario's own folder; paths
leaving it need ``allow_path_escape: true``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cosim.errors import ScenarioError
from cosim.scenario import load_scenario
from cosim.scenario_paths import scenario_root

REPO = Path(__file__).resolve().parents[2]

USER_FILE = """\
clients:
  - {{name: a, domain: user/notes}}
data:
  domains: []
  user_files: [{path}]
{extra}"""

CHANNEL = """\
clients:
  - {{name: a}}
channel:
  {key}: {path}
{extra}"""


def _write(folder: Path, text: str, name: str = "s.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_relative_paths_resolve_against_the_scenario_not_the_cwd(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scen_dir = tmp_path / "study"
    (scen_dir / "data").mkdir(parents=True)
    (scen_dir / "data" / "notes.txt").write_text("hello\n\nworld\n")
    scenario = _write(scen_dir, USER_FILE.format(path="data/notes.txt", extra=""))
    monkeypatch.chdir(tmp_path)  # somewhere else entirely
    loaded = load_scenario(scenario)
    assert loaded.config.data.user_files == (str((scen_dir / "data/notes.txt").resolve()),)
    assert loaded.config.all_domains() == ("user/notes",)


@pytest.mark.parametrize("path", ["../secret/notes.txt", "sub/../../secret/notes.txt"])
def test_dotdot_out_of_the_scenario_folder_is_refused(tmp_path: Path, path: str) -> None:
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "notes.txt").write_text("x")
    scenario = _write(tmp_path / "scen", USER_FILE.format(path=path, extra=""))
    with pytest.raises(ScenarioError) as err:
        load_scenario(scenario)
    message = str(err.value)
    assert "data.user_files[0]" in message and repr(path) in message
    assert "allow_path_escape" in message and "\n" not in message


def test_absolute_and_home_paths_outside_are_refused(tmp_path: Path) -> None:
    scen_dir = tmp_path / "scen"
    for path in ("/etc/notes.txt", "~/notes.txt"):
        scenario = _write(scen_dir, USER_FILE.format(path=path, extra=""))
        with pytest.raises(ScenarioError, match="outside the scenario's root"):
            load_scenario(scenario)


def test_symlink_pointing_out_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    scen_dir = tmp_path / "scen"
    scen_dir.mkdir()
    os.symlink(outside, scen_dir / "notes.txt")
    scenario = _write(scen_dir, USER_FILE.format(path="notes.txt", extra=""))
    with pytest.raises(ScenarioError, match=r"data\.user_files"):
        load_scenario(scenario)


def test_allow_path_escape_lifts_the_rule(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "notes.txt").write_text("x")
    scenario = _write(tmp_path / "scen", USER_FILE.format(
        path="../shared/notes.txt", extra="allow_path_escape: true\n"))
    loaded = load_scenario(scenario)
    assert loaded.config.data.user_files == (str((tmp_path / "shared/notes.txt").resolve()),)


def test_an_override_cannot_smuggle_a_path_out(tmp_path: Path) -> None:
    scenario = _write(tmp_path / "scen", USER_FILE.format(path="notes.txt", extra=""))
    with pytest.raises(ScenarioError, match=r"data.user_files\[0\]"):
        load_scenario(scenario, ["data.user_files=[../../notes.txt]"])
    with pytest.raises(ScenarioError, match=r"data\.cache_dir"):
        load_scenario(scenario, ["data.cache_dir=/tmp"])


@pytest.mark.parametrize("key,path,field", [
    ("trace", "../t.csv", "channel.trace"),
    ("traces", "[ok.csv, ../t.csv]", "channel.traces[1]"),
])
def test_channel_traces_are_confined(tmp_path: Path, key: str, path: str, field: str) -> None:
    scenario = _write(tmp_path / "scen", CHANNEL.format(key=key, path=path, extra=""))
    with pytest.raises(ScenarioError, match=field.replace("[", r"\[").replace("]", r"\]")):
        load_scenario(scenario)


def test_channel_cache_dir_and_local_model_dir_are_confined(tmp_path: Path) -> None:
    text = CHANNEL.format(key="trace", path="t.csv", extra="") + "  cache_dir: ../cache\n"
    with pytest.raises(ScenarioError, match=r"channel\.cache_dir"):
        load_scenario(_write(tmp_path / "a", text))
    model = "clients:\n  - {name: a, model: {preset: ../models/evil}}\n"
    with pytest.raises(ScenarioError, match=r"clients\[0\].model.preset"):
        load_scenario(_write(tmp_path / "b", model))


def test_hub_ids_and_presets_are_not_paths(tmp_path: Path) -> None:
    text = ("clients:\n  - {name: a, model: {preset: HuggingFaceTB/SmolLM2-135M}}\n"
            "  - {name: b, model: {preset: tiny-gpt2}}\n"
            "  - {name: c, model: {preset: smollm2-4l}}\n")
    loaded = load_scenario(_write(tmp_path, text))
    presets = [g.model.preset for g in loaded.config.clients]
    assert presets == ["HuggingFaceTB/SmolLM2-135M", "tiny-gpt2", "smollm2-4l"]


def test_local_model_dir_inside_resolves(tmp_path: Path) -> None:
    (tmp_path / "models" / "mine").mkdir(parents=True)
    text = "clients:\n  - {name: a, model: {preset: models/mine}}\n"
    loaded = load_scenario(_write(tmp_path, text))
    assert loaded.config.clients[0].model.preset == str((tmp_path / "models/mine").resolve())


def test_project_root_with_pyproject_allows_sibling_folders(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "channels").mkdir()
    (tmp_path / "channels" / "t.csv").write_text("time_s,rate_bps\n0,1e6\n")  # must exist
    scenario = _write(tmp_path / "scenarios", CHANNEL.format(
        key="trace", path="../channels/t.csv", extra=""))
    assert scenario_root(scenario.parent) == tmp_path.resolve()
    loaded = load_scenario(scenario)
    assert loaded.config.channel is not None
    assert loaded.config.channel.trace == str((tmp_path / "channels/t.csv").resolve())
    # …but not above the project.
    escape = _write(tmp_path / "scenarios", CHANNEL.format(
        key="trace", path="../../t.csv", extra=""), name="up.yaml")
    with pytest.raises(ScenarioError, match=r"channel\.trace"):
        load_scenario(escape)


def test_shipped_scenarios_load_from_anywhere(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_scenario(REPO / "scenarios" / "trace_replay.yaml")
    assert loaded.config.channel is not None
    assert Path(loaded.config.channel.traces[0]) == (
        REPO / "channels/hsdpa_norway/norway_bus_1").resolve()
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        if "base:" not in path.read_text():  # study files have their own loader
            load_scenario(path)


def test_resume_resolves_paths_like_the_original_load(tmp_path: Path) -> None:
    """``cosim run --resume`` rebuilds the scenario from the trace: same resolved config,
    or the checkpoint (which stores that config) would be refused."""
    from cosim.sim.runner import loaded_from_trace
    from cosim.trace.writer import TraceWriter

    loaded = load_scenario(REPO / "scenarios" / "trace_replay.yaml")
    out = tmp_path / "run.h5"
    TraceWriter(out, scenario_yaml=loaded.text, resolved_config=loaded.resolved_plain(),
                seed=loaded.config.seed, command="run", scenario_path=str(loaded.path),
                overrides=loaded.overrides).close()
    assert loaded_from_trace(out).resolved_plain() == loaded.resolved_plain()
