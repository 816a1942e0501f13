"""Every setting Plait reads is documented in docs/settings.md, and every documented
variable is one Plait reads."""

from __future__ import annotations

import re

from pydantic_settings import BaseSettings

from plait.settings import Settings

from .conftest import REPO


def _variables(model: type[BaseSettings]) -> set[str]:
    found: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            found |= _variables(annotation)
        else:
            alias = field.validation_alias
            assert isinstance(alias, str), f"setting {model.__name__}.{name} must name its variable"
            found.add(alias)
    return found


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", (REPO / "docs" / "settings.md").read_text(), re.M))
    read = _variables(Settings)
    assert read - documented == set(), "settings missing from docs/settings.md"
    assert documented - read == set(), "docs/settings.md documents variables Plait does not read"
