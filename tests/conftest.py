"""Shared fixtures: fixed users (healthchecks' hc/test.py style) and the real default model.

Users: `alice` and `bob` are clinicians (each owns only their own encounters), `staff` sees all,
`admin` is a superuser. Every ownership test is one line with them.
"""

from __future__ import annotations

import os

import pytest

# Tests draft with the base model unless they ask for the shipped default adapter: the base writes terse
# notes that finish in a couple of hundred tokens on 2 CPU cores, while the trained default writes longer
# notes (median ~11 s each, some near a minute). Tests of the trained default (the browser test that takes
# the screenshots, tests/inference/test_default_adapter.py) set SOAP_DEFAULT_ADAPTER back themselves.
os.environ.setdefault("SOAP_DEFAULT_ADAPTER", "none")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs ~1 s per user on these CPUs; tests need passwords to work, not to be slow to crack."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.org", "alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.org", "bob-password-1")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", "staff@example.org", "staff-password-1", is_staff=True)


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", "root-password-1")


@pytest.fixture(scope="session")
def default_model_dir():
    """The converted default policy (SmolLM2-135M-Instruct) under var/models/, made once per machine."""
    from inference.models import fetch_default

    return fetch_default()


@pytest.fixture
def tiny_llama():
    """A randomly initialised two-layer Llama with tied embeddings: peft and weight-name tests, no download."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, tie_word_embeddings=True,
    )  # fmt: skip
    return LlamaForCausalLM(config)
