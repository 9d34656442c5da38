"""Register a stack and its components through the ZenML client, idempotently.

Stacks are declared as code (``stacks/local.py``, ``stacks/kubeflow/``); this module turns a
declaration into registered flavors, components and a stack. Existing components with the
same name are reused as they are, so a user's edits to them survive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zenml.client import Client
    from zenml.enums import StackComponentType

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComponentSpec:
    """A stack component. ``environment`` and ``secrets`` (ZenML secret names) reach every
    step that runs on a stack with this component, as environment variables."""

    type: StackComponentType
    name: str
    flavor: str
    configuration: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlavorSpec:
    """A custom flavor (stack plugin), given by its import path."""

    source: str
    type: StackComponentType


def register_flavors(client: Client, flavors: Iterable[FlavorSpec]) -> None:
    for spec in flavors:
        flavor_name = _flavor_name(spec.source)
        existing = client.get_flavors_by_type(spec.type)
        if any(f.name == flavor_name and f.source == spec.source for f in existing):
            continue
        client.create_flavor(source=spec.source, component_type=spec.type)
        logger.info("Registered flavor %s (%s).", flavor_name, spec.type.value)


def _flavor_name(source: str) -> str:
    from zenml.utils import source_utils

    return source_utils.load(source)().name


def register_stack(
    client: Client,
    name: str,
    components: Iterable[ComponentSpec],
    flavors: Iterable[FlavorSpec] = (),
) -> bool:
    """Register ``name`` unless it exists. Returns True when it was created."""
    register_flavors(client, flavors)
    try:
        client.get_stack(name)
        return False
    except KeyError:
        pass
    ids: dict[StackComponentType, str] = {}
    for spec in components:
        ids[spec.type] = str(_get_or_create_component(client, spec).id)
    client.create_stack(name=name, components=ids)
    logger.info("Registered stack '%s'.", name)
    return True


def _get_or_create_component(client: Client, spec: ComponentSpec) -> Any:
    try:
        return client.get_stack_component(spec.type, spec.name)
    except KeyError:
        return client.create_stack_component(
            name=spec.name,
            flavor=spec.flavor,
            component_type=spec.type,
            configuration=spec.configuration,
            environment=spec.environment or None,
            secrets=list(spec.secrets) or None,
        )
