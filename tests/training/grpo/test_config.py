from __future__ import annotations

import pytest

from training.config import PRESETS, ConfigError, build_config, config_from_dict, parse_overrides


def test_recipe_preset_has_the_published_values():
    cfg = build_config("recipe")
    assert (cfg.num_generations, cfg.temperature, cfg.max_new_tokens) == (4, 1.0, 1024)
    assert (cfg.epsilon_low, cfg.epsilon_high, cfg.beta) == (0.4, 0.5, 0.05)
    assert (cfg.learning_rate, cfg.weight_decay, cfg.max_grad_norm) == (3e-6, 0.01, 1.0)
    assert build_config("dapo").epsilon_high == 0.28
    assert set(PRESETS) >= {"recipe", "dapo", "tiny-cpu"}


def test_string_overrides_are_coerced_to_field_types():
    cfg = build_config("tiny-cpu", parse_overrides(["beta=0", "steps=7", "gradient_checkpointing=true", "model=none"]))
    assert cfg.beta == 0.0 and cfg.steps == 7 and cfg.gradient_checkpointing is True and cfg.model is None
    assert not cfg.uses_reference_model
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_generations": "1"}, "G must be at least 2"),
        ({"epsilon_low": "1.2"}, "epsilon_low"),
        ({"scale_rewards": "median"}, "scale_rewards"),
        ({"temperature": "0"}, "temperature"),
        ({"bета": "1"}, "unknown setting"),
        ({"betta": "1"}, "Did you mean 'beta'"),
        ({"steps": "many"}, "not a valid int"),
        ({"reward": "full", "judge": "llm"}, "judge_base_url"),
        ({"micro_batch_tokens": "8", "max_new_tokens": "64"}, "raise micro_batch_tokens"),
        ({"rollout_engine": "sglang"}, "rollout_engine='sglang' is unknown"),
        ({"rollout_engine": "vllm", "mode": "ray"}, "rollout_engine=vllm runs in mode=local"),
        ({"vllm_gpu_memory_utilization": "1.5"}, "vllm_gpu_memory_utilization"),
    ],
)
def test_bad_settings_are_rejected_with_a_fix(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_config("tiny-cpu", overrides)


def test_unknown_preset_and_malformed_override_are_errors():
    with pytest.raises(ConfigError, match="preset"):
        build_config("huge")
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["beta"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"steps": 2.5}, "steps=2.5"),
        ({"steps": "2.5"}, "not a valid int"),
        ({"steps": "2.5e0"}, "not a valid int"),
        ({"steps": True}, "steps=True"),
        ({"beta": float("nan")}, "finite"),
        ({"beta": float("inf")}, "finite"),
        ({"beta": "nan"}, "not a valid float"),
        ({"few_shot": 1}, "few_shot"),
        ({"model": 3}, "model=3"),
    ],
)
def test_json_values_of_the_wrong_type_are_rejected(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_config("tiny-cpu", overrides)


def test_cli_strings_are_coerced_but_json_values_are_taken_as_they_are():
    cfg = build_config("tiny-cpu", {"few_shot": "yes", "steps": "1e1", "gpus_per_worker": 1})
    assert cfg.few_shot is True and cfg.steps == 10 and cfg.gpus_per_worker == 1.0
    with pytest.raises(ConfigError, match="must be at least 1"):
        config_from_dict({**cfg.to_dict(), "steps": 0})


def test_every_field_has_help_for_help_config():
    from training.config import TrainConfig

    helps = TrainConfig.fields_help()
    assert set(helps) == set(TrainConfig.model_fields) and "steps" in helps
    assert all(text.strip() for text in helps.values())
