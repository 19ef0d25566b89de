"""The federated distillation engine (DESIGN.md section 1).

Real ``transformers`` models with ``peft`` LoRA adapters, real text, real
payload bytes. The co-simulator reaches it only through
:class:`cosim.engine.backend.DistillationBackend`; the engine never imports
simpy or ``cosim.wireless``.

This package's ``__init__`` imports nothing heavy on purpose: the scenario
schema imports :mod:`cosim.engine.config` without pulling in torch.
"""
