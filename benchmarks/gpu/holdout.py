"""The synthetic holdout's dialogues, for `python -m inference generate --jsonl` (GPU scripts' helper).

    python benchmarks/gpu/holdout.py var/datasets/synth.jsonl > var/datasets/synth-holdout.jsonl

Keeps every example whose split is not "train" as {"key", "dialogue"}, one JSON object a line.
"""

import json
import sys

with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        example = json.loads(line)
        if example.get("split") != "train":
            print(json.dumps({"key": example["key"], "dialogue": example["dialogue"]}))
