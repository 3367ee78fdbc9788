"""The app's note rules as vLLM v1 logits processors, so notes drafted on vLLM follow them too.

- SectionBudgetProcessor: inference.constrained.SectionBudget's rule (a section closes at a sentence
  end once it has used its token share, or when it starts restating itself).
- GroundedNumbersProcessor: inference.constrained.GroundedNumbers' rule (every run of digits in the
  note is a number the dialogue states).
- FindingsPrefixProcessor: inference.constrained.FindingsPrefix's rule (the Objective opens with the
  findings the visit says aloud, then closes); registered last, since it overrides the other masks.

Each rule runs in a vLLM-free class of inference.constrained (BatchSectionBudget,
BatchGroundedNumbers), tested on CPU step by step against the transformers processor; the classes
here only keep those rows in step with vLLM's persistent batch. vLLM applies the JSON-schema bitmask
before logits processors, so the rules see only what the grammar allows. A request opts in through
`SamplingParams.extra_args` ({"soap_section_budgets": [S, O, A, P], "soap_grounded_numbers": [...],
"soap_findings": "..."});
VLLMBackend sets them for constrained notes; other requests (rollouts, free text) are untouched.

Imported only where vllm is installed. The engine must run without async scheduling (a row's last
token can still be in flight when a processor runs), and custom processors keep vLLM on its V1 model
runner, so VLLMBackend registers these only for engines that draft notes (`note_rules=True`).
"""

from __future__ import annotations

from typing import Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor
from vllm.v1.sample.logits_processor.builtin import process_dict_updates

from inference.constrained import (
    BatchFindingsPrefix,
    BatchGroundedNumbers,
    BatchSectionBudget,
    is_findings_text,
    is_stated_number,
)

BUDGETS_KEY = "soap_section_budgets"
NUMBERS_KEY = "soap_grounded_numbers"
FINDINGS_KEY = "soap_findings"


def _tokenizer(vllm_config: Any) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(vllm_config.model_config.tokenizer)


class SectionBudgetProcessor(LogitsProcessor):
    """Per-request section budgets over vLLM's persistent batch (rows keyed by batch index)."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        self.rule = BatchSectionBudget(_tokenizer(vllm_config))

    @classmethod
    def validate_params(cls, params: Any) -> None:
        budgets = (params.extra_args or {}).get(BUDGETS_KEY)
        if budgets is not None and (len(budgets) != 4 or any(int(b) < 1 for b in budgets)):
            raise ValueError(f"{BUDGETS_KEY} must be four positive token budgets (S, O, A, P), got {budgets!r}")

    def is_argmax_invariant(self) -> bool:
        return False  # it masks tokens, so it changes greedy picks

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        process_dict_updates(self.rule.requests, batch_update, self._new_request)

    @staticmethod
    def _new_request(params: Any, prompt_ids: list[int] | None, output_ids: list[int]) -> Any:
        budgets = (params.extra_args or {}).get(BUDGETS_KEY)
        if not budgets:
            return None
        prompt_tokens = len(prompt_ids) if prompt_ids is not None else None
        return BatchSectionBudget.request(
            budgets, output_ids, prompt_tokens, (params.extra_args or {}).get(NUMBERS_KEY)
        )

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return self.rule.apply(logits)


class GroundedNumbersProcessor(LogitsProcessor):
    """Per-request stated numbers over vLLM's persistent batch: a note writes no other number."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        self.rule = BatchGroundedNumbers(_tokenizer(vllm_config))

    @classmethod
    def validate_params(cls, params: Any) -> None:
        numbers = (params.extra_args or {}).get(NUMBERS_KEY)
        if numbers is not None and not all(is_stated_number(str(n)) for n in numbers):
            raise ValueError(f"{NUMBERS_KEY} must be numbers (digits, one optional decimal point), got {numbers!r}")

    def is_argmax_invariant(self) -> bool:
        return False

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        process_dict_updates(self.rule.requests, batch_update, self._new_request)

    @staticmethod
    def _new_request(params: Any, prompt_ids: list[int] | None, output_ids: list[int]) -> Any:
        numbers = (params.extra_args or {}).get(NUMBERS_KEY)
        return BatchGroundedNumbers.request(numbers, output_ids) if numbers is not None else None

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return self.rule.apply(logits)


class FindingsPrefixProcessor(LogitsProcessor):
    """Per-request findings over vLLM's persistent batch: the Objective opens with them, then closes."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        self.rule = BatchFindingsPrefix(_tokenizer(vllm_config))

    @classmethod
    def validate_params(cls, params: Any) -> None:
        findings = (params.extra_args or {}).get(FINDINGS_KEY)
        if findings is not None and not is_findings_text(findings):
            raise ValueError(
                f"{FINDINGS_KEY} must be note text with no quote, backslash or control character, got {findings!r}"
            )

    def is_argmax_invariant(self) -> bool:
        return False  # it forces tokens, so it changes greedy picks

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        process_dict_updates(self.rule.requests, batch_update, self._new_request)

    @staticmethod
    def _new_request(params: Any, prompt_ids: list[int] | None, output_ids: list[int]) -> Any:
        findings = (params.extra_args or {}).get(FINDINGS_KEY)
        return BatchFindingsPrefix.request(findings, output_ids) if findings else None

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return self.rule.apply(logits)
