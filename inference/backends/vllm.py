"""vLLM's in-process engine, for training rollouts on real GPU clusters; import-guarded.

vLLM cannot be installed on the machines here (its wheel pins another torch), so this path is
exercised only where vllm imports; `get_backend("vllm")` elsewhere raises BackendUnavailable
naming the fix. The served equivalent (`vllm serve`) is reached through the `openai` backend.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from inference.backends.base import Backend, Completion, Prompt, SamplingParams
from inference.errors import BackendUnavailable, InputTooLong
from inference.models import model_reference, resolve_model


def vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


class VLLMBackend(Backend):
    """vllm.LLM with guided JSON decoding; one engine per model per process."""

    name = "vllm"
    _shared: dict[str, VLLMBackend] = {}
    _lock = threading.Lock()

    def __init__(self, model_ref: str | None = None, **engine_options: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as exc:
            raise BackendUnavailable(
                "the vllm backend needs the vllm package (pip install vllm on a CUDA machine); use the "
                "'transformers' backend here, or 'openai' against a running `vllm serve`",
                retryable=False,
            ) from exc
        self.model_reference = model_reference(model_ref)
        self.llm = LLM(model=str(resolve_model(model_ref)), **engine_options)
        self.tokenizer = self.llm.get_tokenizer()
        self.context_length = int(self.llm.llm_engine.model_config.max_model_len)

    @classmethod
    def shared(cls, model_ref: str | None = None, **options: Any) -> VLLMBackend:
        key = model_reference(model_ref)
        with cls._lock:
            if key not in cls._shared:
                cls._shared[key] = cls(model_ref, **options)
            return cls._shared[key]

    def _render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.tokenizer(self._render(prompt), add_special_tokens=False)["input_ids"])

    def _sampling(self, params: SamplingParams) -> Any:
        from vllm import SamplingParams as VSamplingParams

        options: dict[str, Any] = {
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": params.n,
            "seed": params.seed,
            "logprobs": 0 if params.logprobs else None,
        }
        schema = params.schema()
        if schema is not None:
            try:  # vLLM >= 0.10
                from vllm.sampling_params import StructuredOutputsParams

                options["structured_outputs"] = StructuredOutputsParams(json=schema)
            except ImportError:  # older releases
                from vllm.sampling_params import GuidedDecodingParams

                options["guided_decoding"] = GuidedDecodingParams(json=schema)
        return VSamplingParams(**options)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        texts = [self._render(p) for p in prompts]
        context = int(self.context_length or 0)
        for text in texts:
            n = self.count_tokens(text)
            if n + params.max_new_tokens > context:
                raise InputTooLong(
                    f"prompt of {n} tokens + {params.max_new_tokens} new tokens exceeds the context of "
                    f"{context}; shorten the dialogue",
                    prompt_tokens=n,
                    limit=context,
                )
        outputs = self.llm.generate(texts, self._sampling(params), use_tqdm=False)
        completions = []
        for output in outputs:
            for sample in output.outputs:
                logprobs = None
                if params.logprobs and sample.logprobs:
                    logprobs = [step[tok].logprob for step, tok in zip(sample.logprobs, sample.token_ids, strict=False)]
                completions.append(
                    Completion(
                        text=sample.text,
                        token_ids=list(sample.token_ids),
                        finish_reason="length" if sample.finish_reason == "length" else "stop",
                        logprobs=logprobs,
                        prompt_tokens=len(output.prompt_token_ids or []),
                    )
                )
        return completions
