"""WirelessConfig defaults and bad input: each error names the field."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from cosim.errors import ConfigFieldError, ScenarioError
from cosim.scenario import parse_scenario
from cosim.wireless.config import (
    CqiTableLink,
    FadingConfig,
    MacConfig,
    PacketConfig,
    ShannonLink,
    TrafficConfig,
    WirelessConfig,
)
from cosim.wireless.network import WirelessNetwork
from cosim.wireless.pathloss import LogDistancePathLoss, UMaPathLoss


def test_defaults_are_valid_and_fit_the_band():
    cfg = WirelessConfig()
    assert cfg.mac.num_rbs * cfg.mac.rb_bandwidth_hz <= cfg.bandwidth_hz
    # noise over the occupied RBs: -174 dBm/Hz + 5 dB + 10 log10(100 × 180 kHz) = -96.45 dBm
    assert cfg.noise_dbm == pytest.approx(-174 + 5 + 72.5527, abs=1e-3)


def _field_of(make) -> str:
    with pytest.raises(ConfigFieldError) as info:
        make()
    return info.value.field


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: MacConfig(scheduler="fifo"), "scheduler"),
        (lambda: MacConfig(access="cdma"), "access"),
        (lambda: WirelessConfig(path_loss="cost231"), "path_loss.model"),
        (lambda: UMaPathLoss(los="sometimes"), "los"),
        (lambda: FadingConfig(k_db=60.0), "k_db"),
        (lambda: FadingConfig(m=0.3), "m"),
        (lambda: FadingConfig(distribution="weibull"), "distribution"),
        (lambda: WirelessConfig(mac=MacConfig(num_rbs=120, rb_bandwidth_hz=180e3)), "mac.num_rbs"),
        (lambda: WirelessConfig(carrier_hz=None), "carrier_hz"),
        (
            lambda: WirelessConfig(
                carrier_hz=None,
                path_loss=LogDistancePathLoss(reference_loss_db=40.0),
                fading=FadingConfig(correlation="ar1"),
            ),
            "carrier_hz",
        ),
        (lambda: WirelessConfig(bandwidth_hz=-5.0), "bandwidth_hz"),
        (lambda: ShannonLink(bler=1.0), "bler"),
        (lambda: CqiTableLink(target_bler=0.9), "target_bler"),
        (lambda: PacketConfig(harq_max_tx=0), "harq_max_tx"),
        (lambda: TrafficConfig(payload_bytes=0), "payload_bytes"),
        (lambda: WirelessConfig(fading=FadingConfig(subbands=200)), "fading.subbands"),
    ],
)
def test_bad_values_name_their_field(make, field):
    assert _field_of(make) == field


def test_block_fading_needs_no_carrier_with_a_reference_loss():
    cfg = WirelessConfig(
        carrier_hz=None,
        path_loss=LogDistancePathLoss(reference_loss_db=40.0),
        fading=FadingConfig(correlation="block"),
    )
    assert cfg.carrier_hz is None


def test_negative_distance_names_the_client():
    env = simpy.Environment()
    with pytest.raises(ConfigFieldError) as info:
        WirelessNetwork(
            env, WirelessConfig(), np.array([50.0, -5.0]), np.zeros(2), np.random.default_rng(0)
        )
    assert info.value.field == "clients[1].distance_m"
    assert "-5.0" in str(info.value)


def test_negative_speed_names_the_client():
    with pytest.raises(ConfigFieldError, match=r"clients\[0\]\.speed_mps"):
        WirelessNetwork(
            simpy.Environment(), WirelessConfig(), np.array([50.0]), np.array([-1.0]),
            np.random.default_rng(0),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("yaml_wireless", "needle"),
    [
        ("mac: {scheduler: fifo}", "wireless.mac.scheduler"),
        ("path_loss: {model: cost231}", "wireless.path_loss"),
        ("fading: {distribution: rician, k_db: 99}", "wireless.fading.k_db"),
        ("mac: {num_rbs: 200}", "wireless.mac.num_rbs"),
    ],
)
def test_scenario_loader_reports_the_dotted_path(yaml_wireless, needle):
    text = f"clients:\n  - name: a\nwireless:\n  {yaml_wireless}\n"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    assert needle in str(info.value)


def test_scenario_maps_discriminated_unions():
    text = (
        "clients:\n  - name: a\nwireless:\n"
        "  path_loss: {model: umi, los: nlos}\n  link: {model: cqi_table, target_bler: 0.05}\n"
    )
    w = parse_scenario(text, "s.yaml").wireless
    assert (w.path_loss.model, w.path_loss.los) == ("umi", "nlos")
    assert isinstance(w.link, CqiTableLink) and w.link.target_bler == 0.05


def test_wireless_never_imports_the_engine_or_torch():
    import subprocess
    import sys

    code = (
        "import sys, cosim.wireless.network, cosim.wireless.placement, cosim.sim.wireless_only\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('cosim.engine')]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
