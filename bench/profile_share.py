"""Where the CPU of one drain goes, grouped by who owns the code: nats-py, qx, pydantic, ...

``consumer_bench.py --profile DIR`` drains once per system under py-spy (``record --nonblocking
-f raw --full-filenames``) and hands the collapsed stacks to ``report()``. Each sample is charged
to the innermost *Python* frame, so time in C (``json.loads``, socket reads, pydantic-core,
jsonschema-rs) counts for the package whose Python code called it: "nats-py" is nats-py's own
code plus the C calls it makes.

py-spy samples the whole child process, not only the timed window: import stacks are left
out, and the shares are applied to the CPU per message the child measured over its window
(µs column). Connection setup and building the worker remain in the samples; with the default
50k events they are a few percent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

RATE = 997  # samples per second; prime, so it does not beat with periodic work

REPO = Path(__file__).resolve().parents[1]
# Code of this repository, by its path relative to the repository root; first prefix wins.
OWN: tuple[tuple[str, str], ...] = (
    ("bench/", "bench harness (handler, counting)"),
    ("qx/events/", "qx.events"),
    ("qx/transport/", "qx.transport"),
    ("qx/worker/", "qx.worker"),
    ("qx/telemetry/", "qx.telemetry"),
    ("qx/cqrs/", "qx.cqrs"),
    ("qx/", "qx (di, core, context)"),
)
# Installed distributions, by the top-level name after ``site-packages/``.
INSTALLED: dict[str, str] = {
    "nats": "nats-py",
    "faststream": "faststream",
    "fast_depends": "faststream",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "jsonschema_rs": "jsonschema-rs",
    "dishka": "dishka (DI)",
    "opentelemetry": "opentelemetry API",
    "uvloop": "asyncio",
}
_IMPORT = "_find_and_load"
_SITE = "site-packages/"


def group_of(frame: str) -> str:
    """The group of one py-spy frame, ``function (path:line)``: installed code by its
    distribution, this repository's by its package, the rest (stdlib) by module."""
    path = frame.rpartition(" (")[2].rpartition(":")[0]
    if _SITE in path:
        top = path.split(_SITE, 1)[1].split("/", 1)[0]
        return INSTALLED.get(top, "stdlib and other")
    try:
        rel = Path(path).resolve().relative_to(REPO).as_posix()
    except ValueError:
        rel = None
    if rel is not None:
        for prefix, group in OWN:
            if rel.startswith(prefix):
                return group
    if "/asyncio/" in path or path.endswith("/selectors.py"):
        return "asyncio"
    return "stdlib and other"


def samples(path: Path) -> Counter[str]:
    """Samples per group in one collapsed-stack file, imports left out."""
    out: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or _IMPORT in stack:
            continue
        out[group_of(stack.rsplit(";", 1)[-1])] += int(count)
    return out


def report(dumps: dict[str, Path], messages: int, cpu_us: dict[str, float]) -> str:
    """Per group and system: share of the samples and µs per message (share x measured CPU),
    with the difference of each system to the first one."""
    counts = {name: samples(path) for name, path in dumps.items()}
    names = list(counts)
    base = names[0]

    def us(name: str, group: str) -> float:
        total = sum(counts[name].values()) or 1
        return counts[name][group] / total * cpu_us[name]

    groups = sorted(
        {g for c in counts.values() for g in c}, key=lambda g: -max(us(n, g) for n in names)
    )
    width = max(len(g) for g in [*groups, "group"]) + 2
    others = names[1:]
    lines = [
        f"where the CPU goes: µs per message (share of py-spy samples x CPU per message "
        f"measured in the same drain of {messages:,})",
        "group".ljust(width)
        + "".join(f"{n:>16}" for n in names)
        + "".join(f"{o + ' - ' + base:>16}" for o in others),
    ]
    for g in [*groups, "total"]:
        values = [cpu_us[n] if g == "total" else us(n, g) for n in names]
        shares = [
            "" if g == "total" else f" {counts[n][g] / (sum(counts[n].values()) or 1):4.0%}"
            for n in names
        ]
        cells = "".join(f"{v:>11.1f}{s:>5}" for v, s in zip(values, shares, strict=True))
        diffs = "".join(f"{v - values[0]:>+16.1f}" for v in values[1:])
        lines.append(g.ljust(width) + cells + diffs)
    lines.append(
        "samples: "
        + ", ".join(f"{n} {sum(counts[n].values()):,}" for n in names)
        + f" (at {RATE}/s)"
    )
    return "\n".join(lines)
