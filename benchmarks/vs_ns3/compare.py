"""cosim vs ns-3 LENA on the matched single-cell LTE uplink (see README.md here).

For each N in --n (default 10 50 100): UE i at d_i = 50 + 450 i / (N - 1) m uploads a
full buffer. When ns-3 is installed (Debian ``ns3`` + ``libns3-dev``, pkg-config
``ns3-lte``) the script builds ``lte_uplink.cc`` with g++ and runs it; otherwise, or with
``--reference``, it reads the committed ``ns3_reference_N{N}.csv``. It then runs the
cosim side (``matched_uplink.yaml`` through :func:`cosim.sim.wireless_only.run_wireless`)
for the same simulated time and prints per-UE and aggregate throughput side by side, the
ratios cosim / ns-3, and the speed ratio (ns-3's ``Simulator::Run`` wall time over
cosim's ``run_wireless`` wall time, both measured in this run).

Goal (DESIGN 2, issue #11): every UE within 10 % of ns-3, aggregate within 5 %. The exit
status is 0 whatever the outcome (this is a report, not a test); ``--strict`` makes a
miss exit 1.

Throughput definitions:
  ns-3 ``udp``  UDP payload bytes at the remote host's sink per second, after warm-up
                (default; the ns-3 run is EPC + saturated UdpClient, 1472-byte payloads);
  ns-3 ``mac``  bytes of correctly decoded uplink TBs per second at the eNB PHY (what
                the MAC carried, RLC/PDCP/IP/UDP headers included);
  cosim         delivered payload bytes per second over the whole run (no warm-up is
                needed: cosim knows the channel from slot 0).

Usage::

    .venv/bin/python benchmarks/vs_ns3/compare.py               # ns-3 if present
    .venv/bin/python benchmarks/vs_ns3/compare.py --reference   # committed CSVs only
    .venv/bin/python benchmarks/vs_ns3/compare.py --n 10 --set wireless.link.model=shannon
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "lte_uplink.cc"
SCENARIO = HERE / "matched_uplink.yaml"
BUILD_DIR = HERE / "build"
BINARY = BUILD_DIR / "lte_uplink"
NS3_PKGS = (
    "ns3-lte",
    "ns3-core",
    "ns3-network",
    "ns3-internet",
    "ns3-applications",
    "ns3-mobility",
    "ns3-point-to-point",
)
UE_TOLERANCE = 0.10
AGGREGATE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Ns3Result:
    """Per-UE throughput of one ns-3 run (or committed reference) and its wall times."""

    distances_m: np.ndarray
    udp_bps: np.ndarray
    mac_bps: np.ndarray
    mean_mcs: np.ndarray
    wall_run_s: float
    cpu_run_s: float
    warmup_s: float
    measure_s: float
    source: str


def ue_distances_m(n: int) -> np.ndarray:
    """``d_i = 50 + 450 i / (N − 1)`` m, i = 0 … N−1."""
    return 50.0 + 450.0 * np.arange(n) / (n - 1)


def reference_path(n: int, ul_cqi: str) -> Path:
    """The committed ns-3 output for N UEs (``ul_cqi``: ``pusch`` or ``srs``)."""
    return HERE / (
        f"ns3_reference_N{n}.csv" if ul_cqi == "pusch" else f"ns3_reference_srs_N{n}.csv"
    )


# --------------------------------------------------------------------------- ns-3 side
def ns3_available() -> str | None:
    """None when ns-3 can be built here, else why not."""
    if shutil.which("g++") is None:
        return "g++ not found"
    if shutil.which("pkg-config") is None:
        return "pkg-config not found"
    if subprocess.run(["pkg-config", "--exists", "ns3-lte"], check=False).returncode != 0:
        return "pkg-config has no ns3-lte (apt-get install ns3 libns3-dev)"
    if not Path("/usr/include/ns3/lte-module.h").exists():
        return "/usr/include/ns3/lte-module.h missing (apt-get install libns3-dev)"
    return None


def build_ns3() -> Path:
    """Compile lte_uplink.cc unless the binary is newer than the source."""
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    BUILD_DIR.mkdir(exist_ok=True)
    libs = subprocess.run(
        ["pkg-config", "--libs", *NS3_PKGS], check=True, capture_output=True, text=True
    ).stdout.split()
    # Debian's .pc files also name libgsl.so/libxml2.so by absolute path, which exist only
    # with their -dev packages; the ns-3 shared libraries already link them.
    ns3_libs = sorted({f for f in libs if f.startswith("-lns3")})
    cmd = ["g++", "-O2", "-std=c++17", "-I/usr/include", "-o", str(BINARY), str(SOURCE)]
    print("building:", " ".join(cmd[:6]), "... ", " ".join(ns3_libs[:3]), "...", flush=True)
    subprocess.run([*cmd, *ns3_libs], check=True)
    return BINARY


def run_ns3(n: int, warmup_s: float, measure_s: float, ul_cqi: str, out: Path) -> Ns3Result:
    """Run the ns-3 program for N UEs; its CSV goes to ``out``."""
    cmd = [
        str(build_ns3()),
        f"--n={n}",
        f"--warmup={warmup_s}",
        f"--measure={measure_s}",
        f"--ulCqi={ul_cqi}",
        f"--out={out}",
    ]
    print("running:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return read_ns3_csv(out)


def read_ns3_csv(path: Path) -> Ns3Result:
    """Parse lte_uplink's CSV: '#' lines carry ``key=value`` settings and wall times."""
    meta: dict[str, str] = {}
    rows: list[dict[str, str]] = []
    with path.open(encoding="utf-8") as f:
        body = []
        for line in f:
            if line.startswith("#"):
                for tok in line[1:].split():
                    if "=" in tok:
                        k, v = tok.split("=", 1)
                        meta[k] = v
            else:
                body.append(line)
        rows = list(csv.DictReader(body))
    if not rows:
        raise SystemExit(f"{path}: no UE rows")

    def col(name: str) -> np.ndarray:
        return np.array([float(r[name]) for r in rows])

    return Ns3Result(
        distances_m=col("distance_m"),
        udp_bps=col("throughput_bps"),
        mac_bps=col("mac_ok_bps"),
        mean_mcs=col("mean_mcs"),
        wall_run_s=float(meta.get("wall_run_s", "nan")),
        cpu_run_s=float(meta.get("cpu_run_s", "nan")),
        warmup_s=float(meta.get("warmup_s", "nan")),
        measure_s=float(meta.get("measure_s", "nan")),
        source=str(path),
    )


# --------------------------------------------------------------------------- cosim side
def run_cosim(
    n: int, duration_s: float, overrides: list[str]
) -> tuple[np.ndarray, tuple[float, float]]:
    """Per-UE delivered throughput [bit/s] and run_wireless (wall, CPU) time [s]."""
    from cosim.scenario import load_scenario
    from cosim.sim.wireless_only import run_wireless
    from cosim.trace.recorder import MemorySink, Recorder

    loaded = load_scenario(
        SCENARIO,
        [
            f"clients[0].count={n}",
            f"wireless.traffic.period_s={duration_s}",
            "wireless.traffic.rounds=1",
            *overrides,
        ],
    )
    cfg = loaded.config.wireless
    _, wireless_seq, _ = np.random.SeedSequence(loaded.config.seed).spawn(3)
    sink = MemorySink()
    t0, c0 = time.perf_counter(), time.process_time()
    run_wireless(cfg, ue_distances_m(n), np.zeros(n), np.random.default_rng(wireless_seq),
                 Recorder(sink))
    times = (time.perf_counter() - t0, time.process_time() - c0)
    tr = sink.tables["transfers"]
    per_ue = np.zeros(n)
    np.add.at(per_ue, tr["client"].astype(int), tr["delivered_bytes"].astype(float))
    return 8.0 * per_ue / duration_s, times


# --------------------------------------------------------------------------- report
def report(
    n: int,
    ns3: Ns3Result,
    metric: str,
    cosim_bps: np.ndarray,
    cosim_times: tuple[float, float],
    per_ue_rows: bool,
) -> bool:
    """Print the side-by-side table; True when both goals are met."""
    ref = ns3.udp_bps if metric == "udp" else ns3.mac_bps
    ratio = np.divide(cosim_bps, ref, out=np.full(n, np.nan), where=ref > 0)
    print(f"\n=== N = {n} UEs (ns-3: {Path(ns3.source).name}; metric {metric}) ===")
    if per_ue_rows:
        print(
            f"{'ue':>4} {'d_m':>7} {'ns3_mcs':>7} {'ns3_Mbps':>9} {'cosim_Mbps':>10} {'ratio':>7}"
        )
        for i in range(n):
            flag = "" if abs(ratio[i] - 1) <= UE_TOLERANCE else "  <-- off"
            print(
                f"{i:>4} {ns3.distances_m[i]:>7.1f} {ns3.mean_mcs[i]:>7.2f} "
                f"{ref[i] / 1e6:>9.4f} {cosim_bps[i] / 1e6:>10.4f} {ratio[i]:>7.3f}{flag}"
            )
    agg_ns3, agg_cosim = ref.sum(), cosim_bps.sum()
    agg_ratio = agg_cosim / agg_ns3
    worst = int(np.nanargmax(np.abs(ratio - 1)))
    ue_ok = bool(np.all(np.abs(ratio - 1) <= UE_TOLERANCE))
    agg_ok = abs(agg_ratio - 1) <= AGGREGATE_TOLERANCE
    print(
        f"aggregate: ns-3 {agg_ns3 / 1e6:.3f} Mbit/s, cosim {agg_cosim / 1e6:.3f} Mbit/s, "
        f"ratio {agg_ratio:.3f} ({'within' if agg_ok else 'OUTSIDE'} 5%)"
    )
    print(
        f"per-UE ratio: min {np.nanmin(ratio):.3f}, median {np.nanmedian(ratio):.3f}, "
        f"max {np.nanmax(ratio):.3f}; worst UE {worst} at {ns3.distances_m[worst]:.0f} m; "
        f"{int(np.sum(np.abs(ratio - 1) <= UE_TOLERANCE))}/{n} UEs within 10%"
    )
    if np.isfinite(ns3.wall_run_s):
        wall, cpu = cosim_times
        print(
            f"speed for {ns3.warmup_s + ns3.measure_s:g} s simulated: ns-3 Simulator::Run "
            f"{ns3.wall_run_s:.2f} s wall / {ns3.cpu_run_s:.2f} s CPU, cosim run_wireless "
            f"{wall:.3f} s wall / {cpu:.3f} s CPU -> cosim {ns3.wall_run_s / wall:.0f}x "
            f"faster (wall), {ns3.cpu_run_s / cpu:.0f}x (CPU)"
        )
    return ue_ok and agg_ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[10, 50, 100], help="UE counts")
    p.add_argument(
        "--reference",
        action="store_true",
        help="use the committed ns3_reference_N*.csv even if ns-3 is installed",
    )
    p.add_argument(
        "--write-reference",
        action="store_true",
        help="run ns-3 and overwrite the committed reference CSVs",
    )
    p.add_argument("--warmup", type=float, default=1.0, help="ns-3 warm-up [s]")
    p.add_argument("--measure", type=float, default=2.0, help="ns-3 measured window [s]")
    p.add_argument(
        "--metric",
        choices=("udp", "mac"),
        default="udp",
        help="ns-3 throughput to compare with: UDP payload or MAC TB bytes",
    )
    p.add_argument(
        "--ul-cqi",
        choices=("pusch", "srs"),
        default="pusch",
        help="ns-3 UL-CQI for the MCS choice: pusch (reference) or srs (LENA default)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a cosim scenario setting, e.g. wireless.link.model=shannon",
    )
    p.add_argument("--brief", action="store_true", help="summary lines only, no per-UE rows")
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = p.parse_args(argv)
    if any(n < 2 for n in args.n):
        p.error("--n: every UE count must be >= 2")

    why_not = None if args.reference else ns3_available()
    if args.reference:
        print("using the committed ns-3 reference CSVs (--reference)")
    elif why_not is not None:
        if args.write_reference:
            p.error(f"--write-reference needs ns-3: {why_not}")
        print(
            f"ns-3 not available ({why_not}): skipping the ns-3 run and comparing "
            "against the committed reference CSVs (no speed ratio measured)"
        )
    all_ok = True
    for n in args.n:
        if args.reference or why_not is not None:
            path = reference_path(n, args.ul_cqi)
            if not path.exists():
                print(f"N={n}: no committed reference {path.name}; skipped")
                continue
            # A committed CSV's run times are from another run: no speed ratio from them.
            ns3 = Ns3Result(
                **{**read_ns3_csv(path).__dict__, "wall_run_s": math.nan, "cpu_run_s": math.nan}
            )
        else:
            out = (
                reference_path(n, args.ul_cqi)
                if args.write_reference
                else BUILD_DIR / f"ns3_{args.ul_cqi}_N{n}.csv"
            )
            BUILD_DIR.mkdir(exist_ok=True)
            ns3 = run_ns3(n, args.warmup, args.measure, args.ul_cqi, out)
        if len(ns3.distances_m) != n or not np.allclose(ns3.distances_m, ue_distances_m(n)):
            raise SystemExit(f"{ns3.source}: UE distances do not match d_i = 50 + 450 i/(N-1)")
        duration_s = ns3.warmup_s + ns3.measure_s
        overrides = list(args.overrides)
        if args.ul_cqi == "srs":
            overrides.insert(0, "wireless.link.adaptation=wideband")
        cosim_bps, cosim_times = run_cosim(n, duration_s, overrides)
        all_ok &= report(n, ns3, args.metric, cosim_bps, cosim_times, not args.brief)
    print("\nresult:", "all goals met" if all_ok else "goals NOT met (see above)")
    return 1 if (args.strict and not all_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
