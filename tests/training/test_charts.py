"""training.charts: the one chart helper (dashboard, live training view, benchmarks)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from training.charts import LABEL_ALL_POINTS, Chart


def _texts(svg: bytes) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg.decode())


def test_bars_show_their_values_and_the_svg_describes_the_data():
    chart = Chart("Scores").bars(["S", "O"], {"base": [0.25, 0.5], "trained": [0.75, 1.0]}, fmt="{:.2f}",
                                 errors={"base": ([0.2, 0.4], [0.3, 0.6])})  # fmt: skip
    svg = chart.svg()
    assert svg.startswith(b"<?xml") and b"<title>Scores</title>" in svg
    assert {"0.25", "0.50", "0.75", "1.00", "base", "trained"} <= set(_texts(svg))
    desc = re.search(rb"<desc>(.*?)</desc>", svg).group(1).decode()
    assert "base: S: 0.25; O: 0.50" in desc and "trained: S: 0.75; O: 1.00" in desc


def test_lines_label_every_point_or_only_the_last_when_long():
    short = Chart("t").line({"loss": [(1, 0.5), (2, 0.25)]}).svg()
    assert {"0.5", "0.25"} <= set(_texts(short))
    points = [(i, float(i)) for i in range(LABEL_ALL_POINTS + 5)]
    long = _texts(Chart("t").line({"loss": points}, fmt="{:.0f}").svg())
    assert str(LABEL_ALL_POINTS + 4) in long and "3" not in long  # 3 is only a data point, not a tick
    empty = Chart("t").line({}, empty="nothing yet").svg()
    assert "nothing yet" in _texts(empty)


def test_inline_svg_and_png_files(tmp_path):
    chart = Chart("Two panels", panels=2).line({"a": [(1, 1.0), (2, 2.0), (3, 3.0)]}, smooth=2)
    chart.bars(["x"], {"b": [0.5]}, panel=1)
    assert chart.inline_svg().startswith("<svg")
    png = chart.save(tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart.save(tmp_path / "c.svg").read_bytes().startswith(b"<?xml")


def test_proof_run_plots_through_the_helper(tmp_path):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "proof_run.py"
    spec = importlib.util.spec_from_file_location("proof_run", path)
    proof_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proof_run)
    rows = [{"reward_mean": r, "step_seconds": 2.0} for r in (0.5, 1.0, 1.5, 2.0, 2.5)]
    (tmp_path / "ours_metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    stat = {"mean": 0.5, "low": 0.4, "high": 0.6}
    summary = dict.fromkeys(("S", "O", "A", "P", "json_valid"), stat)
    results = {"stages": {"eval:base": {"holdout": {"summary": summary}}}}
    assert proof_run.make_plots(tmp_path, tmp_path, results) == ["reward_curve.png", "sections.png"]
    assert (tmp_path / "sections.png").stat().st_size > 1000
