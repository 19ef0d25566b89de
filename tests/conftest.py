"""Shared test fixtures."""

from __future__ import annotations

import os
import resource
import shutil
import sys
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]

# Hypothesis budgets. The full suite (`make test`) fuzzes deeply: at least 10,000
# examples per parser (scenario loader, --set overrides, run-trace reader, each
# channel-trace reader, payload decoder), split over that parser's property tests
# with fuzz_settings(share=...). The fast tier (`-m "not slow"`, chosen by the
# mark expression) keeps a smoke-test budget of 200 per parser (with 1,000 the
# scenario fuzzers were its slowest tests). COSIM_HYPOTHESIS_PROFILE=fast|deep
# overrides the choice.
PARSER_EXAMPLES = {"fast": 200, "deep": 10_000}
for _name, _examples in PARSER_EXAMPLES.items():
    settings.register_profile(_name, max_examples=_examples, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large,
                                                     HealthCheck.function_scoped_fixture])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cpu-durations", type=int, default=None, metavar="N",
        help="print the N tests that used the most CPU time (setup + call + teardown, "
             "this process and its waited-for subprocesses); 0 prints all. Unlike "
             "--durations, hardly affected by other load on the machine.")


def _cpu_s() -> float:
    """User + system CPU seconds of this process and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


_CPU_START = pytest.StashKey[float]()
_MODELS_BEFORE = pytest.StashKey[bool]()


def _models_imported() -> bool:
    return any(name in sys.modules for name in _MODEL_MODULES)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """Record each test's CPU seconds as the ``cpu_s`` user property of its reports.

    The property travels with the reports, so the totals are right under xdist too.
    So does ``imported_models``: the test, outside MODEL_TESTS, was the first in
    its process to import transformers' model classes or peft.
    """
    item.stash[_CPU_START] = _cpu_s()
    item.stash[_MODELS_BEFORE] = _models_imported()
    yield


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    if call.when == "teardown":
        item.user_properties.append(("cpu_s", _cpu_s() - item.stash[_CPU_START]))
        if (not item.stash[_MODELS_BEFORE] and _models_imported()
                and not item.nodeid.startswith(MODEL_TESTS)):
            item.user_properties.append(("imported_models", True))


_CPU_S: dict[str, float] = {}
_STRAY_MODEL_IMPORTS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        for key, value in report.user_properties:
            if key == "cpu_s":
                _CPU_S[report.nodeid] = float(value)
            elif key == "imported_models":
                _STRAY_MODEL_IMPORTS.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    if _STRAY_MODEL_IMPORTS:
        terminalreporter.write_sep("=", "tests outside MODEL_TESTS that imported peft or "
                                   "transformers' model classes (tests/conftest.py)")
        for nodeid in _STRAY_MODEL_IMPORTS:
            terminalreporter.write_line(nodeid)
    count = config.getoption("cpu_durations")
    if count is None or not _CPU_S:
        return
    ranked = sorted(_CPU_S.items(), key=lambda kv: kv[1], reverse=True)
    shown = ranked if count == 0 else ranked[:count]
    terminalreporter.write_sep("=", f"most CPU time: {len(shown)} of {len(ranked)} tests")
    for nodeid, seconds in shown:
        terminalreporter.write_line(f"{seconds:7.2f} CPU-s  {nodeid}")
    terminalreporter.write_line(f"{sum(_CPU_S.values()):7.1f} CPU-s in all tests "
                                "(collection and start-up not included)")


# Tests that build models run on one xdist worker (`--dist loadgroup`, as `make
# test-fast` runs pytest): importing transformers' model classes and peft costs
# about 6 CPU-s per process, which then only that worker pays. Every other test
# module imports neither at collection (cosim.engine defers them to the
# functions that build models); a test outside these paths that does is named
# at the end of the run, as it would silently cost the other worker that time.
MODEL_TESTS = ("tests/engine/",)
MODEL_GROUP = "models"
_MODEL_MODULES = ("peft", "transformers.modeling_utils")


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook; absent under -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Under ``--dist loadgroup``: MODEL_TESTS are one work unit, every other test its own.

    xdist's loadgroup reads ``xdist_group`` marks through a node-id suffix that
    pytest 9 no longer lets it set (every test would be its own unit), so the
    grouping is done here, by path, on its scheduler.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModelGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return MODEL_GROUP if nodeid.startswith(MODEL_TESTS) else nodeid

    return ModelGroupScheduling(config, log)  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    """Load the hypothesis profile before any test module is imported."""
    markexpr = config.getoption("markexpr", default="") or ""
    chosen = os.environ.get("COSIM_HYPOTHESIS_PROFILE") or (
        "fast" if "not slow" in markexpr else "deep")
    if chosen not in PARSER_EXAMPLES:
        raise pytest.UsageError(f"COSIM_HYPOTHESIS_PROFILE must be fast or deep, got {chosen!r}")
    settings.load_profile(chosen)


def fuzz_settings(share: int = 1) -> settings:
    """Settings of one of ``share`` property tests that fuzz one parser together.

    They split the loaded profile's per-parser budget (10,000 examples in the
    full suite, 200 in the fast tier).
    """
    per_parser = settings.default.max_examples
    return settings(max_examples=-(-per_parser // share))


def cosim_command() -> list[str]:
    """The real ``cosim`` console script of this environment."""
    script = Path(sys.executable).parent / "cosim"
    if script.exists():
        return [str(script)]
    found = shutil.which("cosim")
    if found is None:
        pytest.fail("the cosim console script is not installed (run `make setup`)")
    return [found]


@pytest.fixture
def cosim_env() -> dict[str, str]:
    """Environment for CLI subprocesses (quiet, deterministic)."""
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    return env


@pytest.fixture(scope="session")
def _scripted_run_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ``cosim run`` trace per test process (scripted backend, real wireless)."""
    from cosim.scenario import load_scenario
    from cosim.sim.runner import run_scenario
    from tests.sim.conftest import DETERMINISTIC, ScriptedBackend

    folder = tmp_path_factory.mktemp("scripted_run")
    scenario = folder / "det.yaml"
    scenario.write_text(DETERMINISTIC)
    out = folder / "run.h5"
    run_scenario(load_scenario(scenario), out, progress=False, plots=False,
                 backend=ScriptedBackend())
    return out


@pytest.fixture
def run_trace(_scripted_run_master: Path, tmp_path: Path) -> Path:
    """A private copy of a real run trace (the DETERMINISTIC scenario, scripted learning).

    Built once per process and copied, so a test may modify or write beside its copy.
    """
    copy = tmp_path / "run.h5"
    shutil.copyfile(_scripted_run_master, copy)
    return copy
