"""Synthesis figures: offline rendering of N dialogues and semantic de-duplication, time and peak memory.

    python benchmarks/synthesis.py --n 24000 --workers 2                # render + CPU dedup estimate
    python benchmarks/synthesis.py --n 24000 --embed-all --embed-device cuda --model-dir var/minilm-fp16

Each figure is printed with its ratio to a baseline measured in the same run:
* render: `--workers` processes over all N versus one process (on a 2,000-case sample);
* similarity: blockwise greedy dedup versus the naive all-pairs matrix (on the largest subset whose
  matrix fits in `--naive-max` rows), both on the same embeddings;
* embedding: dialogues/s on `--embed-device` with `--threads` CPU threads (`--embed-sample` dialogues,
  extrapolated to N unless `--embed-all`).
Results also go to var/benchmarks/synthesis.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.synthesis import Embedder, SynthesisConfig, render_range  # noqa: E402
from training.synthesis.dedup import dialogue_text, max_pairwise_similarity, semantic_keep  # noqa: E402


class PeakRSS:
    """Peak resident memory of this process and its children while the block runs (sampled every 50 ms)."""

    def __enter__(self) -> PeakRSS:
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                rss = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
            except psutil.Error:
                rss = 0
            self.peak = max(self.peak, rss)
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        return round(self.peak / 2**20, 1)


def _render(args: tuple[int, int]) -> list[dict]:
    start, stop = args
    return render_range(SynthesisConfig(n=stop, threshold=None), start, stop)


def render_all(n: int, workers: int) -> list[dict]:
    chunks = [(lo, min(lo + 500, n)) for lo in range(0, n, 500)]
    if workers <= 1:
        return [e for c in chunks for e in _render(c)]
    with mp.get_context("fork").Pool(workers) as pool:
        return [e for part in pool.map(_render, chunks, chunksize=1) for e in part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=24000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for embedding")
    parser.add_argument("--embed-sample", type=int, default=1000)
    parser.add_argument("--embed-all", action="store_true", help="embed all N (GPU) instead of extrapolating")
    parser.add_argument("--embed-device", default="cpu")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--naive-max", type=int, default=12000)
    parser.add_argument("--cache", default=None, help="write the embeddings cache here (npz) for a later run")
    parser.add_argument("--out", default="var/benchmarks/synthesis.json")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    result: dict = {
        "n": args.n,
        "machine": platform.node(),
        "cpus_visible": os.cpu_count(),
        "python": sys.version.split()[0],
    }

    t = time.perf_counter()
    baseline = render_all(min(2000, args.n), 1)
    base_rate = len(baseline) / (time.perf_counter() - t)
    with PeakRSS() as mem:
        t = time.perf_counter()
        examples = render_all(args.n, args.workers)
        render_s = time.perf_counter() - t
    result["render"] = {
        "seconds": round(render_s, 1),
        "per_second": round(args.n / render_s, 1),
        "baseline_1proc_per_second": round(base_rate, 1),
        "speedup_vs_1proc": round(args.n / render_s / base_rate, 2),
        "peak_rss_mib": mem.mib,
        "target_seconds": 300,
    }
    print(
        f"render {args.n}: {render_s:.1f} s ({args.n / render_s:.0f}/s, {args.workers} workers; "
        f"1 process {base_rate:.0f}/s, x{args.n / render_s / base_rate:.2f}); peak RSS {mem.mib} MiB"
    )

    texts = [dialogue_text(e) for e in examples]
    embedder = Embedder(device=args.embed_device, model_dir=args.model_dir, cache_path=args.cache)
    sample = texts if args.embed_all else texts[: args.embed_sample]
    with PeakRSS() as mem:
        t = time.perf_counter()
        vectors = embedder.encode(sample)
        embed_s = time.perf_counter() - t
    rate = len(sample) / embed_s
    result["embed"] = {
        "device": args.embed_device,
        "threads": args.threads,
        "dialogues": len(sample),
        "seconds": round(embed_s, 1),
        "per_second": round(rate, 2),
        "estimated_seconds_for_n": round(args.n / rate, 1),
        "peak_rss_mib": mem.mib,
        "windows": embedder.windows,
    }
    print(
        f"embed {len(sample)} on {args.embed_device} ({args.threads} threads): {embed_s:.1f} s, {rate:.1f}/s, "
        f"=> {args.n / rate:.0f} s for {args.n}; peak RSS {mem.mib} MiB"
    )

    if not args.embed_all:  # similarity figures need N vectors: tile the sample with small noise
        reps = -(-args.n // len(vectors))
        rng = np.random.default_rng(0)
        vectors = np.tile(vectors, (reps, 1))[: args.n] + rng.normal(0, 0.02, (args.n, vectors.shape[1])).astype(
            np.float32
        )
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with PeakRSS() as mem:
        t = time.perf_counter()
        keep = semantic_keep(vectors, args.threshold)
        block_s = time.perf_counter() - t
    kept = vectors[keep]
    t = time.perf_counter()
    worst = max_pairwise_similarity(kept)
    verify_s = time.perf_counter() - t
    m = min(args.naive_max, len(vectors))
    with PeakRSS() as naive_mem:
        t = time.perf_counter()
        full = vectors[:m] @ vectors[:m].T
        np.fill_diagonal(full, -1)
        naive_s = time.perf_counter() - t
        del full
    with PeakRSS() as sub_mem:
        t = time.perf_counter()
        semantic_keep(vectors[:m], args.threshold)
        sub_s = time.perf_counter() - t
    result["similarity"] = {
        "blockwise_seconds": round(block_s, 2),
        "blockwise_peak_rss_mib": mem.mib,
        "kept": int(keep.sum()),
        "dropped": int((~keep).sum()),
        "max_pair_after": round(worst, 4),
        "verify_seconds": round(verify_s, 2),
        "naive_rows": m,
        "naive_matrix_seconds": round(naive_s, 2),
        "naive_peak_rss_mib": naive_mem.mib,
        "blockwise_same_rows_seconds": round(sub_s, 2),
        "blockwise_same_rows_peak_rss_mib": sub_mem.mib,
        "real_embeddings": bool(args.embed_all),
    }
    total = (embed_s if args.embed_all else args.n / rate) + block_s
    result["dedup_total_seconds_for_n"] = round(total, 1)
    result["dedup_target_seconds"] = 600
    print(
        f"blockwise dedup of {args.n}: {block_s:.1f} s, peak RSS {mem.mib} MiB, dropped {(~keep).sum()}, "
        f"max pair after {worst:.4f}; naive all-pairs on {m}: matrix alone {naive_s:.1f} s, "
        f"peak RSS {naive_mem.mib} MiB vs blockwise {sub_s:.1f} s, {sub_mem.mib} MiB"
    )
    print(f"semantic dedup of {args.n} total (embedding + similarity): {total:.0f} s (target 600)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
