"""cosim: co-simulator for federated LLM distillation over wireless networks."""

__version__ = "0.1.0"
