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
