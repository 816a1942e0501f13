"""Which providers Plait has, found the way plugins are: every ``plait.providers`` entry
point names a tuple of :class:`~plait.providers.catalog.ProviderSpec` (see ``pyproject.toml``).

Provider ids come in the forms Dify's DSL files use: the bare id (``openai``) and the
plugin form ``<org>/<plugin>/<provider>`` (``langgenius/openai/openai``). Both resolve to
the same spec, as do a spec's own aliases.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib.metadata import entry_points

from plait.providers.catalog import ProviderSpec

ENTRY_POINT_GROUP = "plait.providers"


class ProviderRegistry:
    def __init__(self, specs: Iterable[ProviderSpec]) -> None:
        self._specs: dict[str, ProviderSpec] = {}
        self._names: dict[str, str] = {}
        for spec in specs:
            if spec.id in self._specs:
                raise ValueError(f"two model providers are named {spec.id!r}")
            self._specs[spec.id] = spec
            for name in (spec.id, *spec.aliases):
                self._names[name.lower()] = spec.id

    def specs(self) -> list[ProviderSpec]:
        return sorted(self._specs.values(), key=lambda spec: spec.id)

    def canonical(self, provider: str) -> str | None:
        """Plait's id for ``provider`` as a DSL file or an API caller wrote it, or None."""
        name = provider.strip().lower()
        if name in self._names:
            return self._names[name]
        if name.count("/") == 2:  # langgenius/openai/openai: the last part is the provider
            return self._names.get(name.rsplit("/", 1)[1])
        return None

    def get(self, provider: str) -> ProviderSpec | None:
        canonical = self.canonical(provider)
        return self._specs[canonical] if canonical else None


@cache
def installed() -> ProviderRegistry:
    """Every provider the installed packages offer (built-ins included)."""
    specs: list[ProviderSpec] = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        found = entry.load()
        if not (isinstance(found, tuple) and all(isinstance(spec, ProviderSpec) for spec in found)):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a tuple of ProviderSpec")
        specs.extend(found)
    return ProviderRegistry(specs)
