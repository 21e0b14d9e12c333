"""qxgen: JSON Schema in, typed events, registry, handler stubs and a worker entrypoint out.

``qxgen generate`` on the command line; from Python::

    from qxgen import load_config, plan, write
    config = load_config(Path("."))
    report = write(plan(config), config)
"""

from qxgen.config import GeneratorConfig, load_config
from qxgen.errors import ConfigError, QxgenError, RefError, SchemaError
from qxgen.generator import plan
from qxgen.output import CheckResult, OutputFile, Plan, WriteReport, check, write

__all__ = [
    "CheckResult",
    "ConfigError",
    "GeneratorConfig",
    "OutputFile",
    "Plan",
    "QxgenError",
    "RefError",
    "SchemaError",
    "WriteReport",
    "check",
    "load_config",
    "plan",
    "write",
]
