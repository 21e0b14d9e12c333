"""Conformance of generated code with the official JSON-Schema-Test-Suite (draft 2020-12).

Each test group's schema becomes a shared schema file ``case_<n>.json`` referenced by an event
``{"type": "object", "properties": {"value": {"$ref": "case_<n>.json"}}, "required": ["value"]}``;
each test's instance is sent as ``{"value": <data>}`` through the generated registry
(``build_registry().build(type, 1, data)``: raw-payload validation, then the pydantic model).
A test passes when "accepted" matches the suite's ``valid``.

qx asserts ``format`` (it validates with a format checker), so the core ``format.json`` tests
that demand annotation-only behaviour ("... is only an annotation by default") are skipped; the
format keyword is measured by ``optional/format/*.json`` instead.

Run ``python -m tests.generator.conformance`` for the per-keyword table (Markdown).
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qxgen import load_config, plan, write

SUITE = Path(__file__).resolve().parents[1] / "data" / "json-schema-test-suite" / "tests"
DRAFT = SUITE / "draft2020-12"

# Keyword (as reported) -> suite files measuring it.
CORE_KEYWORDS: dict[str, list[str]] = {
    "type": ["type.json"],
    "properties": ["properties.json"],
    "required": ["required.json"],
    "enum": ["enum.json"],
    "const": ["const.json"],
    "numeric bounds": [
        "minimum.json",
        "maximum.json",
        "exclusiveMinimum.json",
        "exclusiveMaximum.json",
        "multipleOf.json",
    ],
    "string bounds": ["minLength.json", "maxLength.json"],
    "pattern": ["pattern.json"],
    "format": [
        "format.json",
        *(f"optional/format/{p.name}" for p in sorted((DRAFT / "optional/format").glob("*.json"))),
    ],
    "items": ["items.json", "prefixItems.json"],
    "array bounds": ["minItems.json", "maxItems.json"],
    "uniqueItems": ["uniqueItems.json"],
    "additionalProperties": ["additionalProperties.json"],
    "anyOf": ["anyOf.json"],
    "oneOf": ["oneOf.json"],
    "allOf": ["allOf.json"],
    "$ref": ["ref.json"],
    "$defs": ["defs.json"],
    "unevaluated*": ["unevaluatedProperties.json", "unevaluatedItems.json"],
    "not, if/then/else, dependentSchemas": [
        "not.json",
        "if-then-else.json",
        "dependentSchemas.json",
    ],
}

_ANNOTATION_ONLY = "only an annotation by default"


@dataclass
class FileResult:
    name: str
    passed: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.passed + self.failed


@dataclass
class KeywordResult:
    keyword: str
    files: list[FileResult]

    @property
    def passed(self) -> int:
        return sum(f.passed for f in self.files)

    @property
    def total(self) -> int:
        return sum(f.total for f in self.files)

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 1.0


_counter = 0


def run_file(relative: str, workdir: Path) -> FileResult:
    """All groups of one suite file, generated in one batch (per group if the batch fails)."""
    groups = json.loads((DRAFT / relative).read_text(encoding="utf-8"))
    result = FileResult(relative)
    try:
        registries = _generate(groups, workdir, list(range(len(groups))))
    except Exception:  # one bad group must not sink the file: retry group by group
        registries = {}
        for index in range(len(groups)):
            try:
                registries.update(_generate(groups, workdir, [index]))
            except Exception as exc:
                registries[index] = exc
    for index, group in enumerate(groups):
        registry = registries[index]
        for test in group["tests"]:
            if _ANNOTATION_ONLY in test["description"]:
                continue
            label = f"{relative} / {group['description']} / {test['description']}"
            if isinstance(registry, Exception):
                result.failed += 1
                result.failures.append(f"{label}: generation failed: {registry}")
                continue
            accepted, why = _accepts(registry, index, test["data"])
            if accepted == test["valid"]:
                result.passed += 1
            else:
                result.failed += 1
                result.failures.append(f"{label}: expected valid={test['valid']} ({why})")
    return result


def _generate(groups: list[dict[str, Any]], workdir: Path, indexes: list[int]) -> dict[int, Any]:
    global _counter
    _counter += 1
    package = f"suite_case_{_counter}"
    project = workdir / package
    schemas = project / "schemas"
    schemas.mkdir(parents=True)
    for index in indexes:
        (schemas / f"case_{index}.json").write_text(json.dumps(groups[index]["schema"]))
        event = {
            "x-qx-event": {"type": f"suite.case{index}", "version": 1},
            "type": "object",
            "properties": {"value": {"$ref": f"case_{index}.json"}},
            "required": ["value"],
        }
        (schemas / f"event_{index}.json").write_text(json.dumps(event))
    config = load_config(project, schemas=schemas, package=package, out=project / "out")
    write(plan(config), config.out)
    with _on_path(config.out):
        module = importlib.import_module(f"{package}.integration.registry")
    registry = module.build_registry()
    return dict.fromkeys(indexes, registry)


@contextmanager
def _on_path(path: Path) -> Iterator[None]:
    sys.path.insert(0, str(path))
    try:
        yield
    finally:
        sys.path.remove(str(path))


def _accepts(registry: Any, index: int, data: Any) -> tuple[bool, str]:
    try:
        registry.build(f"suite.case{index}", 1, {"value": data})
    except Exception as exc:  # any failure means the worker would not accept the message
        return False, f"rejected: {type(exc).__name__}: {str(exc)[:200]}"
    return True, "accepted"


def run_all(workdir: Path | None = None) -> list[KeywordResult]:
    with tempfile.TemporaryDirectory(prefix="qxgen-suite-") as tmp:
        base = workdir or Path(tmp)
        return [
            KeywordResult(keyword, [run_file(f, base) for f in files])
            for keyword, files in CORE_KEYWORDS.items()
        ]


def overall(results: list[KeywordResult]) -> tuple[int, int]:
    return sum(r.passed for r in results), sum(r.total for r in results)


def markdown(results: list[KeywordResult]) -> str:
    lines = ["| keyword | passed | total | rate |", "|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| `{r.keyword}` | {r.passed} | {r.total} | {r.rate:.1%} |")
    passed, total = overall(results)
    rate = passed / total
    lines.append(f"| **all core keywords** | **{passed}** | **{total}** | **{rate:.1%}** |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    all_results = run_all()
    print(markdown(all_results))
    if "-v" in sys.argv:
        for r in all_results:
            for f in r.files:
                for failure in f.failures:
                    print(failure)
