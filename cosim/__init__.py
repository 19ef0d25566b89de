"""cosim: co-simulator for federated LLM fine-tuning by knowledge distillation over wireless networks."""

__version__ = "0.1.0"
