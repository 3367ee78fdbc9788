"""De-identification throughput: how long scrubbing a signed note's example takes, by dialogue size.

    .venv/bin/python benchmarks/deid_throughput.py            # 10 KB, 100 KB and 1 MB dialogues
    .venv/bin/python benchmarks/deid_throughput.py --sizes 10000 --repeat 5

Collection runs right after a note is signed, so it must stay small beside the intake the clinician
already waited for. Baseline, measured in the same run on the same text: `parse_dialogue` (the
intake parser every dialogue goes through). Prints seconds, MB/s and the ratio de-id / parse.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.dialogue import dialogue_to_text, parse_dialogue  # noqa: E402
from training.deid import deidentify_example  # noqa: E402

TURNS = [
    ("Doctor", "Good morning, Mrs. Kowalczyk. I'm Dr. Ramanathan. What brings you in today?"),
    ("Patient", "My name is Helena Kowalczyk, born 03/03/1931. I get dizzy when I stand, for two weeks now."),
    ("Doctor", "Is your phone still (617) 555-0142? Any chest pain, palpitations or fainting?"),
    ("Patient", "No chest pain. I live at 42 Maple Street, Springfield, IL 62704 with my daughter Agnes."),
    ("Doctor", "Your blood pressure is 142/88 sitting and 118/70 standing, pulse 78, temperature 98.6."),
    ("Patient", "I take lisinopril 20 mg and metformin 500 mg twice a day. Email me at helena.k@gmail.com."),
]


def make_dialogue(size: int) -> str:
    lines: list[str] = []
    total = 0
    while total < size:
        for speaker, text in TURNS:
            line = f"{speaker}: {text}"
            lines.append(line)
            total += len(line) + 1
    return "\n".join(lines) + "\n"


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'size':>10} {'parse s':>9} {'deid s':>9} {'deid MB/s':>10} {'deid/parse':>11}")
    for size in args.sizes:
        text = make_dialogue(size)
        turns = [t.model_dump() for t in parse_dialogue(text)]
        note = {"S": dialogue_to_text(parse_dialogue(text)[:6]), "O": "BP 142/88", "A": "Dizziness", "P": "Return"}
        parse_s = timed(lambda text=text: parse_dialogue(text), args.repeat)
        deid_s = timed(lambda turns=turns, note=note: deidentify_example(turns, {"signed": note}), args.repeat)
        rate = len(text) / deid_s / 1e6
        print(f"{len(text):>10} {parse_s:>9.3f} {deid_s:>9.3f} {rate:>10.2f} {deid_s / parse_s:>11.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
