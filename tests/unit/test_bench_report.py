"""docs/benchmarks.md from a results file: the schema, the loader and the computed claims."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench import claims, records, report
from bench.common import ROOT
from bench.stream_trace import less_own_time

LATEST = ROOT / "bench" / "results" / "latest.json"
PLOTS = {
    name: f"benchmarks/{name}.png"
    for name in (
        "render_cost",
        "render_timeline",
        "render_cdf",
        "startup",
        "memory",
        "backend",
        "stream",
    )
}


@pytest.fixture(scope="module")
def latest() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(LATEST.read_text(encoding="utf-8"))
    return raw


def document(raw: dict[str, Any]) -> str:
    results = records.parse(copy.deepcopy(raw))
    return report.markdown(results, PLOTS, ROOT / "bench" / "results" / "2026-12-06.json")


def paragraph_after(heading: str, markdown: str) -> str:
    """The text between `heading`'s line and the next heading."""
    start = markdown.index(heading)
    end = markdown.find("\n#", start + len(heading))
    return markdown[start : end if end != -1 else None]


# The schema and the loader --------------------------------------------------------------------


def test_every_results_file_matches_the_schema() -> None:
    for path in sorted((ROOT / "bench" / "results").glob("20*.json")):
        results = records.load(path)
        assert results["render"]["answer"]["characters"] > 0
    latest = records.load(LATEST)
    assert set(latest["backend"]["levels"]) >= {"1", "200"}
    assert latest["memory"]["answers"] > latest["memory"]["warm_answers"]


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (
            lambda r: r["render"]["incremental"]["update_ms"].update(p50="fast"),
            'results: render.incremental.update_ms.p50: expected a number or null, found "fast"',
        ),
        (lambda r: r.pop("memory"), "results: missing memory"),
        (
            lambda r: r["memory"]["samples"][3].update(dom_nodes=None),
            "results: memory.samples[3].dom_nodes: expected a number, found null",
        ),
        (
            lambda r: r["startup"]["cold"]["runs"][0]["largest"][0].pop("bytes"),
            "results: startup.cold.runs[0].largest[0]: missing bytes",
        ),
        (
            lambda r: r["backend"]["levels"]["200"]["median"].update(completed=True),
            "results: backend.levels.200.median.completed: expected an integer, found true",
        ),
        (lambda r: r.update(tree=[1]), "results: tree: expected an object or null, found [1]"),
    ],
)
def test_a_malformed_figure_is_named(latest: dict[str, Any], break_it: Any, message: str) -> None:
    broken = copy.deepcopy(latest)
    break_it(broken)
    with pytest.raises(records.ResultsError) as raised:
        records.parse(broken)
    assert str(raised.value) == message


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    path.write_text('{"started_at": ', encoding="utf-8")
    with pytest.raises(records.ResultsError, match=r"latest\.json: not a readable JSON file"):
        records.load(path)


def test_the_report_refuses_malformed_results_before_writing(
    latest: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(report, "DOC", tmp_path / "benchmarks.md")
    monkeypatch.setattr(report, "PLOTS", tmp_path / "benchmarks")
    broken = copy.deepcopy(latest)
    del broken["render"]["headline"]
    with pytest.raises(records.ResultsError, match="render: missing headline"):
        report.write(broken, tmp_path / "2026-12-06.json")
    assert list(tmp_path.iterdir()) == []


# The document ---------------------------------------------------------------------------------


def test_the_document_has_every_section_and_target(latest: dict[str, Any]) -> None:
    markdown = document(latest)
    for heading in (
        "## Summary",
        "## Machine and versions",
        "## Start-up",
        "## Streaming render",
        "## Memory",
        "## Back end",
        "## Scale-out",
        "## Targets",
    ):
        assert f"\n{heading}\n" in markdown
    summary = paragraph_after("## Summary", markdown)
    assert summary.count("\n| ") - 1 == markdown.count("\n### ") - _stream_subsections(latest)
    assert "$" not in markdown  # every placeholder filled


def _stream_subsections(latest: dict[str, Any]) -> int:
    from bench import report_stream

    section = report_stream.section(latest.get("stream"), "benchmarks/stream_cost.png", "n/a")
    return section.count("\n### ")


def test_the_document_refers_only_to_files_in_the_repository(latest: dict[str, Any]) -> None:
    markdown = document(latest)
    docs = ROOT / "docs"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", markdown):
        if target.startswith(("http://", "https://")) or target.startswith("benchmarks/"):
            continue  # plots are written next to the document
        assert (docs / target).resolve().is_relative_to(ROOT), target
        assert (docs / target).exists(), target
    assert "shared/" not in markdown
    assert not re.search(r"(?<![\w.])/(work|home|tmp|usr)/", markdown)


# Claims that follow the numbers ---------------------------------------------------------------


def test_flat_incremental_cost_is_said_flat_and_growing_cost_growing(
    latest: dict[str, Any],
) -> None:
    flat = copy.deepcopy(latest)
    series = flat["render"]["incremental"]["series"]
    series["update_ms"] = [1.0 for _ in series["length"]]
    why = paragraph_after("### incremental update at 20 KB", document(flat))
    assert "the plot shows it flat from 1 KB to 20 KB" in why
    grown = copy.deepcopy(latest)
    series = grown["render"]["incremental"]["series"]
    series["update_ms"] = [1.0 + length / 1000 for length in series["length"]]
    why = paragraph_after("### incremental update at 20 KB", document(grown))
    assert "its cost should follow the size of the block being written" in why
    assert "yet the plot shows it growing linearly from 1 KB to 20 KB" in why


def test_naive_cost_said_to_grow_only_when_it_does(latest: dict[str, Any]) -> None:
    growing = copy.deepcopy(latest)
    series = growing["render"]["naive"]["series"]
    series["update_ms"] = [1.0 + length / 500 for length in series["length"]]
    why = paragraph_after("### incremental ≥ 10× cheaper", document(growing))
    assert "its cost grows linearly with the answer's length" in why
    flat = copy.deepcopy(latest)
    series = flat["render"]["naive"]["series"]
    series["update_ms"] = [20.0 for _ in series["length"]]
    why = paragraph_after("### incremental ≥ 10× cheaper", document(flat))
    assert "its cost hardly changes with the answer's length" in why


def test_memory_verdict_flips_with_what_each_answer_keeps(latest: dict[str, Any]) -> None:
    markdown = document(latest)
    assert "### memory flat across 50 answers: met" in markdown
    assert "so memory is flat apart from the answers themselves" in markdown
    leaking = copy.deepcopy(latest)
    leaking["memory"]["kept_per_answer_steady"]["v8_heap_used_bytes"] = 40_000.0
    markdown = document(leaking)
    assert "### memory flat across 50 answers: missed" in markdown
    assert "something outlives its answer" in markdown


def test_timers_said_to_hold_memory_only_when_idling_freed_some(latest: dict[str, Any]) -> None:
    assert "the stall watch's cancelled timers" in document(latest)
    idle = copy.deepcopy(latest)
    idle["memory"]["pending_after_last"].update(v8_heap_used_bytes=0, malloc_in_use_bytes=0)
    markdown = document(idle)
    assert "Nothing was held for the timers' 30 s" in markdown
    assert "the stall watch's cancelled timers" not in markdown


def test_start_up_verdicts_follow_the_medians(latest: dict[str, Any]) -> None:
    fast = copy.deepcopy(latest)
    fast["startup"]["cold"]["median"]["ready_ms"] = 2000.0
    fast["startup"]["warm"]["median"]["ready_ms"] = 1499.0
    markdown = document(fast)
    assert "### ready in < 2.5 s, cold cache (median): met" in markdown
    assert "### ready in < 1.5 s, warm cache (median): met" in markdown
    slow = copy.deepcopy(latest)
    slow["startup"]["cold"]["median"]["ready_ms"] = 2500.0
    slow["startup"]["warm"]["median"]["ready_ms"] = 1600.0
    markdown = document(slow)
    assert "### ready in < 2.5 s, cold cache (median): missed" in markdown
    assert "### ready in < 1.5 s, warm cache (median): missed" in markdown


def test_back_end_lateness_blamed_on_the_ramp_up_only_when_it_is(
    latest: dict[str, Any],
) -> None:
    ramp = copy.deepcopy(latest)
    ramp["backend"]["levels"]["200"]["median"].update(
        probe_lateness_p99_ms=80.0, probe_lateness_after_ramp_up_p99_ms=5.0
    )
    assert "the lateness is the ramp-up" in document(ramp)
    throughout = copy.deepcopy(latest)
    throughout["backend"]["levels"]["200"]["median"].update(
        probe_lateness_p99_ms=80.0, probe_lateness_after_ramp_up_p99_ms=78.0
    )
    markdown = document(throughout)
    assert "the lateness lasts the whole stream" in markdown
    assert "the lateness is the ramp-up" not in markdown


@pytest.mark.parametrize(
    ("medians", "expected"),
    [
        ([1.0, 1.2, 0.9, 1.1, 1.0, 1.3], "flat"),
        ([1.0, 5.0, 9.0, 13.0, 17.0, 21.0], "growing linearly"),
        ([1.0, 1.0, 1.0, 1.0, 1.0, 30.0], "growing"),
        ([9.0, 7.0, 5.0, 3.0, 2.0, 1.0], "falling"),
    ],
)
def test_trend_of_a_cost_against_length(medians: list[float], expected: str) -> None:
    centres = [1.0, 4.0, 8.0, 12.0, 16.0, 20.0]
    assert claims.trend(centres, medians, 1, 20) == expected


def test_met_is_strict_only_when_asked() -> None:
    assert claims.met(2.0, 2.0, lower_is_better=True, strict=False)
    assert not claims.met(2.0, 2.0, lower_is_better=True, strict=True)
    assert claims.met(12.0, 10.0, lower_is_better=False, strict=True)
    assert not claims.met(None, 10.0, lower_is_better=False, strict=False)


def test_blocks_finds_fenced_code_in_lists_and_tables() -> None:
    markdown = (
        "Intro.\n\n```python\nx = 1\n```\n\n1. Step\n   ```bash\n   ls\n   ```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\nEnd.\n"
    )
    spans = claims.blocks(markdown)
    assert [markdown[start:end].split("\n")[0] for start, end in spans] == [
        "```python",
        "   ```bash",
        "| a | b |",
    ]
    assert claims.in_block(spans, 0, len("Intro.\n\n``"))
    assert not claims.in_block(spans, 0, len("Intro."))


# Start-up runs on their own (bench/startup_report.py) -----------------------------------------


def test_start_up_run_files_match_their_schema() -> None:
    paths = sorted((ROOT / "bench" / "results").glob("startup-snapshot-*.json"))
    assert paths
    for path in paths:
        run = records.load_as(path, records.StartupFile)
        assert run["cold"]["runs"]


def test_merging_a_file_that_is_not_a_start_up_run_names_it(tmp_path: Path) -> None:
    from bench import startup_report

    path = tmp_path / "startup-x.json"
    path.write_text(json.dumps({"cold": {"runs": []}, "warm": {"runs": "none"}}), encoding="utf-8")
    with pytest.raises(records.ResultsError, match=r"startup-x\.json: warm\.runs: expected a list"):
        startup_report.merge([path])


@pytest.mark.parametrize(
    ("tasks", "own", "expected"),
    [
        ([(0, 60)], [], [60]),  # nothing of the probe's: the whole task
        ([(0, 60)], [(10, 15), (50, 52)], [53]),  # two callbacks inside
        ([(0, 60), (100, 170)], [(55, 105), (160, 200)], [55, 55]),  # across task edges
        ([(0, 60)], [(60, 80), (-20, 0)], [60]),  # touching, not inside
        ([(100, 120)], [(0, 10), (20, 30), (105, 110)], [15]),  # earlier spans passed over
    ],
)
def test_a_tasks_length_leaves_out_the_probes_own_callbacks(
    tasks: list[tuple[float, float]], own: list[tuple[float, float]], expected: list[float]
) -> None:
    assert less_own_time(tasks, own) == expected
