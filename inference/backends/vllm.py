"""vLLM's in-process engine (GPU): batched generation, JSON-schema structured output, streaming,
log-probs of given completions, and weights pushed in from a live training model.

The engine runs inside the calling process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`, vLLM's one-process
executor), the way TRL's colocate mode runs it: the model object is reachable, so a learner can copy
new weights into it after each optimiser step (`load_weights`) with no server and no checkpoint on
disk. vLLM needs a CUDA machine with its wheels installed (benchmarks/gpu/stage.sh carries them to
the GPU machine); elsewhere `get_backend("vllm")` raises BackendUnavailable naming the fix. The
served equivalent (`vllm serve`, the docker-compose services) is reached through the `openai` backend.

What `constrained=True` means here: vLLM's structured-output engine (xgrammar) keeps every note valid
against the bounded SOAP schema, and vLLM logits processors (inference.backends.vllm_processors)
apply the app's note rules as the transformers path does: each section closes at a sentence end by
its token budget or when it starts restating itself, and the note writes only numbers the dialogue
states. Not ported: the n-gram repetition guard (`no_repeat_ngram`, off by default).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Generator, Iterable, Sequence
from typing import Any

from inference.backends.base import Backend, Completion, Prompt, SamplingParams
from inference.errors import BackendUnavailable, GenerationError, InputTooLong
from inference.models import model_reference, resolve_model
from inference.prompts import render_prompt

# vLLM reads these when it is imported: in-process engine core (weights reachable), and PyTorch's
# sampler rather than FlashInfer's, whose kernels are compiled (and on first use downloaded) at run time.
_ENV_DEFAULTS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_USE_FLASHINFER_SAMPLER": "0"}


def _import_vllm() -> Any:
    for key, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        import vllm
    except ImportError as exc:
        raise BackendUnavailable(
            "the vllm backend needs the vllm package on a CUDA machine (on the GPU machine: "
            "benchmarks/gpu/stage.sh); use the 'transformers' backend here, or 'openai' against a "
            f"running `vllm serve` ({exc})",
            retryable=False,
        ) from exc
    return vllm


def vllm_available() -> bool:
    """Whether vllm imports and a CUDA device is visible (what the GPU tests skip on)."""
    try:
        _import_vllm()
        import torch
    except (BackendUnavailable, ImportError):
        return False
    return bool(torch.cuda.is_available())


def peft_free_weights(model: Any) -> Iterable[tuple[str, Any]]:
    """(name, tensor) of a model as a plain checkpoint would name them, for `load_weights`.

    A peft LoRA model must be merged first (`merge_adapter()`, as TRL does before a sync): its
    `base_layer` weights then hold W + BA, the names lose peft's prefixes and the adapter's own
    tensors are skipped. A module kept whole (peft's `modules_to_save`, e.g. the norms of an adapter from
    `training.lora_extract`) is sent as its trained copy under the module's own name.
    """
    for name, param in model.named_parameters():
        if "lora_" in name or "original_module" in name:
            continue
        if ".modules_to_save." in name:
            owner, _, rest = name.partition(".modules_to_save.")
            name = f"{owner}.{rest.split('.', 1)[1]}"  # drop the adapter's name ("default")
        name = name.removeprefix("base_model.model.").replace(".base_layer.", ".")
        yield name, param.detach()


class VLLMBackend(Backend):
    """vllm.LLM with structured JSON output; one engine per model per process (`shared`)."""

    name = "vllm"
    _shared: dict[str, VLLMBackend] = {}
    _lock = threading.Lock()

    def __init__(
        self,
        model_ref: str | None = None,
        *,
        gpu_memory_utilization: float = 0.5,
        max_model_len: int | None = None,
        dtype: str = "bfloat16",
        seed: int = 0,
        enforce_eager: bool = False,
        note_rules: bool = True,
        **engine_options: Any,
    ) -> None:
        vllm = _import_vllm()
        self.model_reference = model_reference(model_ref)
        path = str(resolve_model(model_ref))
        # The app's note rules (sections close by budget, only stated numbers) as vLLM logits processors;
        # they cost vLLM's V2 runner and async scheduling, so rollout engines go without (note_rules=False).
        self.note_rules = note_rules
        if note_rules:
            from inference.backends.vllm_processors import (
                FindingsPrefixProcessor,
                GroundedNumbersProcessor,
                SectionBudgetProcessor,
            )

            engine_options.setdefault(
                "logits_processors", [SectionBudgetProcessor, GroundedNumbersProcessor, FindingsPrefixProcessor]
            )
            # The processors read each row's latest token; async scheduling would hand them a placeholder.
            engine_options.setdefault("async_scheduling", False)
        try:
            self.llm = vllm.LLM(
                model=path,
                dtype=dtype,
                seed=seed,
                gpu_memory_utilization=gpu_memory_utilization,
                max_model_len=max_model_len,
                enforce_eager=enforce_eager,
                **engine_options,
            )
        except Exception as exc:  # CUDA out of memory, unsupported architecture, missing kernels
            raise BackendUnavailable(f"vLLM could not start on {path}: {exc}", retryable=False) from exc
        self.tokenizer = self.llm.get_tokenizer()
        self.context_length = int(self.llm.llm_engine.model_config.max_model_len)
        self._requests = itertools.count()
        self._engine_lock = threading.Lock()  # one caller drives the engine at a time
        self._stop_ids = self._eos_ids()

    @classmethod
    def shared(cls, model_ref: str | None = None, **options: Any) -> VLLMBackend:
        key = model_reference(model_ref)
        with cls._lock:
            if key not in cls._shared:
                cls._shared[key] = cls(model_ref, **options)
            return cls._shared[key]

    def _eos_ids(self) -> set[int]:
        ids = {int(self.tokenizer.eos_token_id)} if self.tokenizer.eos_token_id is not None else set()
        config = self.llm.llm_engine.model_config.hf_config
        eos = getattr(getattr(self.llm.llm_engine.model_config, "hf_generation_config", None), "eos_token_id", None)
        for value in (getattr(config, "eos_token_id", None), eos):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list):
                ids.update(int(v) for v in value)
        return ids

    # --- prompts ---------------------------------------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        return prompt if isinstance(prompt, str) else render_prompt(self.tokenizer, prompt)

    def encode(self, prompt: Prompt) -> list[int]:
        """Prompt token ids exactly as the transformers backend and the learner tokenize them."""
        return list(self.tokenizer(self.render(prompt), add_special_tokens=False)["input_ids"])

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.encode(prompt))

    def _check_length(self, ids: list[int], new_tokens: int) -> None:
        limit = int(self.context_length or 0)
        if len(ids) + new_tokens > limit:
            raise InputTooLong(
                f"prompt of {len(ids)} tokens + {new_tokens} new tokens exceeds the context of "
                f"{limit}; shorten the dialogue",
                prompt_tokens=len(ids),
                limit=limit,
            )

    def sampling(
        self,
        params: SamplingParams,
        *,
        delta: bool = False,
        ignore_eos: bool = False,
        numbers: Any = None,
        findings: str | None = None,
    ) -> Any:
        """vLLM SamplingParams for ours: same temperature/top-p/n/seed, the schema as structured output,
        and (note_rules) the section budgets, this prompt's stated `numbers` and its said `findings` for the
        processors."""
        vllm = _import_vllm()
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        options: dict[str, Any] = {
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": params.n,
            "seed": params.seed,
            "logprobs": 0 if params.logprobs else None,
            "ignore_eos": ignore_eos,
            "skip_special_tokens": True,
        }
        schema = params.schema()
        if schema is not None:
            options["structured_outputs"] = StructuredOutputsParams(json=schema)
        extra: dict[str, Any] = {}
        if self.note_rules and params.budgets_sections:  # close sections like the transformers path
            from inference.backends.vllm_processors import BUDGETS_KEY
            from inference.schema import SECTION_KEYS, section_token_budgets

            budgets = section_token_budgets(params.max_new_tokens)
            extra[BUDGETS_KEY] = [budgets[k] for k in SECTION_KEYS]
        if self.note_rules and numbers is not None:
            from inference.backends.vllm_processors import NUMBERS_KEY

            extra[NUMBERS_KEY] = sorted(numbers)
        if self.note_rules and findings and params.budgets_sections:
            from inference.backends.vllm_processors import FINDINGS_KEY

            extra[FINDINGS_KEY] = findings
        if extra:
            options["extra_args"] = extra
        if delta:
            options["output_kind"] = RequestOutputKind.DELTA
        return vllm.SamplingParams(**options)

    def _completion(
        self, ids: list[int], text: str, finish: str | None, logprobs: list[float] | None, prompt_tokens: int
    ) -> Completion:
        extra: dict[str, Any] = {}
        # Same convention as the transformers backend: token_ids hold the note, the stop token goes to extra.
        if finish == "stop" and ids and ids[-1] in self._stop_ids:
            extra["stop_token_id"] = ids.pop()
            if logprobs:
                extra["stop_logprob"] = logprobs.pop()
        return Completion(
            text=text,
            token_ids=ids,
            finish_reason="length" if finish == "length" else "stop",
            logprobs=logprobs,
            prompt_tokens=prompt_tokens,
            extra=extra,
        )

    @staticmethod
    def _logprobs(sample: Any) -> list[float]:
        return [float(step[tok].logprob) for step, tok in zip(sample.logprobs or [], sample.token_ids, strict=False)]

    # --- generation ------------------------------------------------------------------------------

    def generate_ids(
        self, prompt_ids: Sequence[list[int]], params: SamplingParams, *, ignore_eos: bool = False
    ) -> list[Completion]:
        """Generate from token ids (rollouts pass the learner's own ids), flat and grouped by prompt."""
        from vllm.inputs import TokensPrompt

        for ids in prompt_ids:
            self._check_length(list(ids), params.max_new_tokens)
        inputs = [TokensPrompt(prompt_token_ids=list(ids)) for ids in prompt_ids]
        for name in ("grounded_numbers", "findings"):
            given = getattr(params, name)
            if given is not None and len(given) != len(prompt_ids):
                raise GenerationError(f"{name} has {len(given)} entries for {len(prompt_ids)} prompts", retryable=False)
        if params.grounded_numbers is not None or params.findings is not None:
            # one SamplingParams a prompt: each has its own numbers and findings
            numbers = params.grounded_numbers or (None,) * len(prompt_ids)
            findings = params.findings or (None,) * len(prompt_ids)
            sampling: Any = [
                self.sampling(params, ignore_eos=ignore_eos, numbers=n, findings=f)
                for n, f in zip(numbers, findings, strict=True)
            ]
        else:
            sampling = self.sampling(params, ignore_eos=ignore_eos)
        with self._engine_lock:
            outputs = self.llm.generate(inputs, sampling, use_tqdm=False)
        completions: list[Completion] = []
        for ids, output in zip(prompt_ids, outputs, strict=True):
            samples = sorted(output.outputs, key=lambda s: s.index)
            completions.extend(
                self._completion(
                    list(s.token_ids),
                    s.text,
                    s.finish_reason,
                    self._logprobs(s) if params.logprobs else None,
                    len(ids),
                )
                for s in samples
            )
        return completions

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        return self.generate_ids([self.encode(p) for p in prompts], params)

    def stream(self, prompt: Prompt, params: SamplingParams) -> Generator[str, None, Completion]:
        """Text deltas of one sample as the engine produces them; returns the final Completion."""
        if params.n != 1:
            raise GenerationError("stream() draws one sample; use generate() for n > 1", retryable=False)
        from vllm.inputs import TokensPrompt

        ids = self.encode(prompt)
        self._check_length(ids, params.max_new_tokens)
        request_id = f"stream-{next(self._requests)}"
        engine = self.llm.llm_engine
        text: list[str] = []
        token_ids: list[int] = []
        logprobs: list[float] = []
        finish: str | None = None
        with self._engine_lock:
            numbers = params.grounded_numbers[0] if params.grounded_numbers else None
            findings = params.findings[0] if params.findings else None
            engine.add_request(
                request_id,
                TokensPrompt(prompt_token_ids=ids),
                self.sampling(params, delta=True, numbers=numbers, findings=findings),
            )
            try:
                while finish is None:
                    for output in engine.step():
                        if output.request_id != request_id:
                            continue
                        sample = output.outputs[0]
                        token_ids.extend(sample.token_ids)
                        if params.logprobs:
                            logprobs.extend(self._logprobs(sample))
                        if sample.text:
                            text.append(sample.text)
                            yield sample.text
                        if output.finished:
                            finish = sample.finish_reason or "stop"
            finally:
                if finish is None:  # the consumer stopped early: free the engine for the next caller
                    engine.abort_request([request_id])

        return self._completion(token_ids, "".join(text), finish, logprobs if params.logprobs else None, len(ids))

    # --- training support ------------------------------------------------------------------------

    def sequence_logprobs(
        self, prompt_ids: Sequence[list[int]], completion_ids: Sequence[list[int]]
    ) -> list[list[float]]:
        """log p(completion token | everything before it) under the engine's current weights.

        vLLM scores the prompt tokens of prompt + completion (`prompt_logprobs`); the raw log-probs
        (temperature 1, full vocabulary) are what the learner computes, so the two can be compared.
        """
        from vllm.inputs import TokensPrompt

        vllm = _import_vllm()
        inputs = [
            TokensPrompt(prompt_token_ids=list(p) + list(c)) for p, c in zip(prompt_ids, completion_ids, strict=True)
        ]
        params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        with self._engine_lock:
            outputs = self.llm.generate(inputs, params, use_tqdm=False)
        result = []
        for p, c, output in zip(prompt_ids, completion_ids, outputs, strict=True):
            scored = output.prompt_logprobs  # position 0 has none
            result.append([float(scored[len(p) + i][tok].logprob) for i, tok in enumerate(c)])
        return result

    def load_weights(self, weights: Iterable[tuple[str, Any]]) -> int:
        """Copy named tensors (checkpoint names) into the engine's model; returns how many were sent.

        The prefix cache is reset afterwards: cached KV blocks were computed with the old weights.
        """
        tensors = list(weights)

        def _load(model: Any) -> None:
            model.load_weights(iter(tensors))

        with self._engine_lock:
            self.llm.apply_model(_load)
            self.llm.reset_prefix_cache()
        return len(tensors)

    def load_from_model(self, model: Any) -> int:
        """Push a live transformers (or peft LoRA) model's weights into the engine."""
        merge = hasattr(model, "merge_adapter") and hasattr(model, "peft_config")
        if merge:
            model.merge_adapter()
        try:
            return self.load_weights(peft_free_weights(model))
        finally:
            if merge:
                model.unmerge_adapter()

    def sleep(self) -> None:
        """Free the KV cache while the learner updates (needs `enable_sleep_mode=True` at start)."""
        with self._engine_lock:
            self.llm.sleep(level=1)

    def wake_up(self) -> None:
        with self._engine_lock:
            self.llm.wake_up()
