"""The generated code accepts exactly what the schemas accept (JSON-Schema-Test-Suite)."""

from __future__ import annotations

from pathlib import Path

from tests.generator.conformance import markdown, overall, run_all

CORE_TARGET = 0.95


def test_core_keywords_pass_rate_meets_target(tmp_path: Path) -> None:
    results = run_all(tmp_path)
    passed, total = overall(results)
    table = markdown(results)
    failures = [f for r in results for file in r.files for f in file.failures]
    assert total > 1000, "the vendored suite went missing"
    assert passed / total >= CORE_TARGET, table + "\n".join(failures[:40])
    # Keywords that pydantic and the validator fully cover must stay perfect.
    perfect = {r.keyword: r.rate for r in results if r.keyword not in ("format", "pattern")}
    assert all(rate == 1.0 for rate in perfect.values()), table + "\n".join(failures[:40])
