"""Wireless model: channels, link abstraction, OFDMA scheduling, packet/HARQ timing on SimPy.

Never imports :mod:`cosim.engine` or torch (DESIGN.md section 8); this
``__init__`` imports nothing so that loading the config stays cheap.

Modules (one idea each):

* :mod:`~cosim.wireless.config` — ``WirelessConfig`` and its sections (YAML ``wireless:``).
* :mod:`~cosim.wireless.channel` — the ``ChannelSource`` interface (simulated or replayed
  per-slot SNR / rate) and ``ChannelBlock``.
* :mod:`~cosim.wireless.pathloss` — free space, log-distance, TR 38.901 UMa/UMi/RMa
  (one model per file: its config section, formulas and build);
  :mod:`~cosim.wireless.shadowing` — log-normal shadowing.
* :mod:`~cosim.wireless.fading` — block, Jakes sum-of-sinusoids and AR(1) processes;
  Rayleigh / Rician / Nakagami amplitudes.
* :mod:`~cosim.wireless.simulated` — the simulated channel source (large scale + fading).
* :mod:`~cosim.wireless.link` — Shannon and TS 38.214 CQI-table link abstraction.
* :mod:`~cosim.wireless.scheduler` — round robin, proportional fair, max rate.
* :mod:`~cosim.wireless.mac`, :mod:`~cosim.wireless.transfers`,
  :mod:`~cosim.wireless.chunk`, :mod:`~cosim.wireless.tblog` — the vectorised slot
  engine: resource allocation, transport blocks, HARQ/ARQ.
* :mod:`~cosim.wireless.packets` — per-packet records and ``TransferResult``.
* :mod:`~cosim.wireless.network` — ``WirelessNetwork``, the SimPy API::

      net = WirelessNetwork(env, config, distances_m, speeds_mps, rng)
      result = yield net.uplink(client, payload_bytes, deadline_s=env.now + 1.0,
                                round_index=round_index)
      results = yield net.downlink(clients, payload_bytes, deadline_s)   # broadcast/unicast
      net.current_snr_db(); net.predicted_rate_bps(c); net.throughput_estimate_bps(c)
      net.channel_rows()   # recorded SNR samples for the trace's ``channel`` table

* :mod:`~cosim.wireless.reference_mac` — a slow per-slot pure-Python reference of the
  uplink MAC for differential checks (``tests/wireless/test_reference.py``) and the
  speed-up figure of ``benchmarks/wireless.py``; never used by a run.
* :mod:`~cosim.wireless.placement` — client distances in the cell annulus.

Wireless-only runs (``cosim wireless SCENARIO.yaml --out run.h5``) are driven by
:mod:`cosim.sim.wireless_only`; their command handler is :mod:`cosim.cli.wireless`.
"""
