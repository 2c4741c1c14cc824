"""The import rules of the house (docs/architecture.md): stages meet only on topics.

Every module of ``schemas``, ``streams`` and ``simulators`` belongs to one layer; a layer may
import only the layers listed for it. Imports inside functions and ``TYPE_CHECKING`` blocks count.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

#: The pipeline's stages; none may import another.
STAGES = ("streams.ingest", "streams.clinical", "streams.alerting", "streams.gateway")
#: Shared by the stages: Kafka plumbing, metric families and labels, settings, errors.
SHARED = ("schemas", "streams.kafka", "streams.metrics", "streams.settings", "streams.exceptions")

#: Layer -> the layers (module prefixes) it may import. The most specific layer wins.
ALLOWED: dict[str, tuple[str, ...]] = {
    "schemas": ("schemas",),
    "streams.exceptions": ("streams.exceptions",),
    # Settings name a bad variable with the one validation-error reading (schemas has no deps),
    # and build the one KafkaConnection every client uses.
    "streams.settings": ("schemas", "streams.settings", "streams.exceptions", "streams.kafka"),
    "streams.kafka": ("schemas", "streams.kafka", "streams.exceptions"),
    # The metrics server names a taken port with a PumpstreamError.
    "streams.metrics": ("schemas", "streams.metrics", "streams.exceptions"),
    **{stage: (stage, *SHARED) for stage in STAGES},
    # The assembly: every stage, never the CLI or the simulators.
    "streams.app": (*STAGES, *SHARED, "streams.app"),
    "streams.worker": (*STAGES, *SHARED, "streams.app", "streams.worker"),
    # The command line may use everything.
    "streams.cli": ("schemas", "streams", "simulators", "grafana"),
    # Simulators speak to the pipeline only through topics (and read them with streams.kafka).
    "simulators": ("schemas", "simulators", "streams.kafka"),
}
OURS = ("schemas", "streams", "simulators", "grafana")


@dataclass(frozen=True)
class Violation:
    module: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}"


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(module: str) -> str | None:
    matches = [layer for layer in ALLOWED if _within(module, layer)]
    return max(matches, key=len) if matches else None


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, module: str) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, node.lineno))
    return found


def violations(root: Path) -> list[Violation]:
    """Every import in ``root``'s packages that its layer does not allow."""
    found = []
    for package in ("schemas", "streams", "simulators"):
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(root, path)
            if module == "streams":
                continue  # the namespace's own __init__ holds nothing
            layer = layer_of(module)
            if layer is None:
                found.append(Violation(module, "(module belongs to no layer)", 0))
                continue
            for imported, line in imported_modules(path, module):
                if not imported.startswith(OURS) or imported.split(".")[0] not in OURS:
                    continue
                if not any(_within(imported, allowed) for allowed in ALLOWED[layer]):
                    found.append(Violation(module, imported, line))
    return found
