"""How long qxgen takes for the two test collections and for huge single schemas.

* ``tests/collections/webhooks`` (54 events, shared definitions) and
  ``tests/collections/cloudevents``, generated as a user would;
* a 100k-value enum (4.6 MB) and a 30k-property object (5.3 MB): both must stay well under
  30 s (enums over 1,000 values and objects over 2,000 properties are left to the validator).

Prints seconds and peak RSS; asserts nothing.
Run: ``.venv/bin/python bench/generator_big_inputs.py``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QXGEN = Path(sys.executable).parent / "qxgen"


def timed(project: Path, out: Path) -> tuple[float, float]:
    started = time.perf_counter()
    subprocess.run(
        [str(QXGEN), "generate", "-C", str(project), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return time.perf_counter() - started, peak


def huge(tmp: Path, name: str, schema: dict[str, object]) -> Path:
    project = tmp / name
    (project / "schemas").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.qxgen]\npackage = "huge"\n')
    (project / "schemas" / "event.json").write_text(json.dumps(schema))
    return project


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        projects = {
            "webhooks collection": REPO / "tests" / "collections" / "webhooks",
            "cloudevents collection": REPO / "tests" / "collections" / "cloudevents",
            "100k-value enum": huge(
                tmp,
                "enum",
                {
                    "x-qx-event": {"type": "big.enum", "version": 1},
                    "type": "object",
                    "properties": {
                        "code": {"enum": [f"code-{i:06d}-{'x' * 30}" for i in range(100_000)]}
                    },
                },
            ),
            "30k-property object": huge(
                tmp,
                "props",
                {
                    "x-qx-event": {"type": "big.props", "version": 1},
                    "type": "object",
                    "properties": {
                        f"field_{i:05d}_{'y' * 100}": {"type": "string", "description": "d" * 20}
                        for i in range(30_000)
                    },
                },
            ),
        }
        for label, project in projects.items():
            seconds, peak = timed(project, tmp / "out" / label.replace(" ", "_"))
            print(f"{label:<24} {seconds:6.2f} s   peak RSS so far {peak:7.0f} MB")


if __name__ == "__main__":
    main()
