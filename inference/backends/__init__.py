"""Generation backends behind one interface: see inference/backends/base.py."""

from inference.backends.base import BACKENDS, Backend, Completion, SamplingParams, get_backend

__all__ = ["BACKENDS", "Backend", "Completion", "SamplingParams", "get_backend"]
