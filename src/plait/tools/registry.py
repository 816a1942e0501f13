"""Which tool providers exist, found the way plugins are: the ``plait.tools`` entry points.

Each entry point names a :data:`~plait.tools.base.ProviderFactory`; the registry calls it
with a :class:`~plait.tools.base.ToolEnvironment` (the egress client, the clock...). The
built-ins are registered in Plait's own ``pyproject.toml`` exactly as a plugin would be.
Tests and embedders may build a registry from an explicit list instead.

Provider ids are looked up as Dify writes them in DSL files: ``time``, and the plugin form
``langgenius/time/time`` of the same provider. Dify's own test fixtures also name
``builtin`` (or nothing) as the provider of a built-in tool; then the tool's name alone
decides, when exactly one provider has it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib.metadata import entry_points

from plait.tools.base import ProviderFactory, Tool, ToolEnvironment, ToolProvider
from plait.tools.errors import ToolNotFound

ENTRY_POINT_GROUP = "plait.tools"
# The organisation whose plugins are Dify's former built-ins ("langgenius/time/time").
DIFY_PLUGIN_ORG = "langgenius"
# Provider ids that mean "a built-in, find it by the tool's name".
ANY_BUILTIN = frozenset({"", "builtin"})


@cache
def provider_factories() -> dict[str, ProviderFactory]:
    """Every ``plait.tools`` entry point, loaded once per process."""
    found: dict[str, ProviderFactory] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        factory = entry.load()
        if not callable(factory):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a tool provider factory")
        found[entry.name] = factory
    return found


def canonical_provider_id(provider_id: str) -> str:
    """``langgenius/time/time`` -> ``time``; any other id as given (trimmed)."""
    parts = provider_id.strip().split("/")
    if len(parts) == 3 and parts[0] == DIFY_PLUGIN_ORG and parts[2]:
        return parts[2]
    return provider_id.strip()


class ToolRegistry:
    """Tool providers by id. Immutable once built; share one per environment."""

    def __init__(self, providers: Iterable[ToolProvider]) -> None:
        self._providers: dict[str, ToolProvider] = {}
        for provider in providers:
            if provider.name in self._providers:
                raise ValueError(f"two tool providers are named {provider.name!r}")
            self._providers[provider.name] = provider

    @classmethod
    def from_entry_points(cls, environment: ToolEnvironment | None = None) -> ToolRegistry:
        environment = environment or ToolEnvironment()
        providers = []
        for name, factory in provider_factories().items():
            provider = factory(environment)
            if not isinstance(provider, ToolProvider):
                raise TypeError(f"the plait.tools entry point {name!r} returned {type(provider).__name__}")
            if provider.name != name:
                raise TypeError(f"the plait.tools entry point {name!r} built a provider named {provider.name!r}")
            providers.append(provider)
        return cls(providers)

    @property
    def providers(self) -> tuple[ToolProvider, ...]:
        return tuple(self._providers.values())

    def provider(self, provider_id: str) -> ToolProvider:
        canonical = canonical_provider_id(provider_id)
        try:
            return self._providers[canonical]
        except KeyError:
            raise ToolNotFound(f"there is no tool provider {provider_id!r}") from None

    async def tool(self, provider_id: str, tool_name: str) -> Tool:
        """The tool a DSL's ``provider_id``/``tool_name`` pair names; raises ToolNotFound."""
        if canonical_provider_id(provider_id) not in ANY_BUILTIN:
            return await self.provider(provider_id).get_tool(tool_name)
        matches = [
            tool
            for provider in self._providers.values()
            for tool in await provider.list_tools()
            if tool.name == tool_name
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ToolNotFound(f"there is no built-in tool {tool_name!r}")
        raise ToolNotFound(f"more than one tool provider has a tool {tool_name!r}; name the provider")
