"""Check SeldonDeployment manifests offline, the way the cluster would.

Three checks, each returning readable messages (empty when the manifest passes):

- ``schema_errors``: the CRD's ``openAPIV3Schema`` (the API server's validation), checked
  with ``jsonschema``. The schema comes from the CRD file Seldon Core ships
  (``seldondeployments.machinelearning.seldon.io``); this module takes its path and keeps
  no copy of it.
- ``pruned_fields``: fields the schema does not declare. The API server silently drops
  them (structural pruning), so a misspelt ``shadow`` would deploy a second live
  predictor instead of a shadow.
- ``admission_errors``: the rules Seldon's validating webhook adds (traffic weights,
  shadows, predictor names, protocol). The CRD schema cannot express them.

``validate_manifest`` runs all three and raises ``InvalidSeldonDeployment``.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from stacks.plugins.model_deployer.manifests import API_VERSION, KIND

PROTOCOLS = ("seldon", "tensorflow", "kfserving", "v2")
TRANSPORTS = ("rest", "grpc")
# Seldon's prepackaged servers need a modelUri to download.
PREPACKAGED_SERVERS = ("SKLEARN_SERVER", "XGBOOST_SERVER", "TENSORFLOW_SERVER",
                       "MLFLOW_SERVER", "TRITON_SERVER", "HUGGINGFACE_SERVER",
                       "TEMPO_SERVER")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class InvalidSeldonDeployment(ValueError):
    """A manifest the cluster would reject (or silently change)."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("invalid SeldonDeployment:\n  " + "\n  ".join(errors))


# The CRD schema -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def load_crd_schema(crd_path: str | Path, version: str = "v1") -> dict[str, Any]:
    """The ``openAPIV3Schema`` of ``version`` in a CustomResourceDefinition YAML file.

    OpenAPI's ``nullable: true`` becomes a ``"null"`` type, so that ``jsonschema`` reads
    the schema as the API server does.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRD is ~2 MB of YAML
    with open(crd_path) as handle:
        document = yaml.load(handle, Loader=loader)
    if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"{crd_path} is not a CustomResourceDefinition")
    for entry in document.get("spec", {}).get("versions", []):
        if entry.get("name") == version:
            schema = entry.get("schema", {}).get("openAPIV3Schema")
            if schema is None:
                break
            return _nullable_as_type(copy.deepcopy(schema))
    raise ValueError(f"{crd_path} has no openAPIV3Schema for version {version!r}")


def _nullable_as_type(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        for value in node.values():
            _nullable_as_type(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_as_type(value)
    return node


def schema_errors(manifest: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Where ``manifest`` breaks the CRD schema, one message per error."""
    from jsonschema import Draft4Validator  # OpenAPI v3 schemas are close to draft 4

    validator = Draft4Validator(schema)
    return [f"{_path(error.absolute_path)}: {error.message}"
            for error in sorted(validator.iter_errors(manifest), key=lambda e: e.path)]


def pruned_fields(manifest: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Fields of ``manifest`` the API server would drop because the schema lacks them."""
    return [f"{path}: unknown field (the API server would drop it)"
            for path in _unknown(manifest, schema, ())]


def _unknown(value: Any, schema: Mapping[str, Any], path: tuple) -> Iterator[str]:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        if path == ("metadata",):
            return  # ObjectMeta is the API server's own, never pruned
        # An object schema without properties keeps nothing unless it says otherwise.
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                yield from _unknown(item, properties[key], (*path, key))
            elif isinstance(extra, dict):
                yield from _unknown(item, extra, (*path, key))
            elif extra is not True:
                yield _path((*path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _unknown(item, schema["items"], (*path, index))


def _path(parts: Any) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return text.lstrip(".") or "(root)"


# Seldon's admission webhook -----------------------------------------------------------------


def admission_errors(manifest: Mapping[str, Any]) -> list[str]:
    """The checks of Seldon Core's validating webhook that the schema cannot express."""
    errors = _header_errors(manifest)
    spec = manifest.get("spec") if isinstance(manifest.get("spec"), dict) else {}
    if spec.get("protocol") not in (None, "", *PROTOCOLS):
        errors.append(f"spec.protocol: {spec['protocol']!r} is not one of {PROTOCOLS}")
    if spec.get("transport") not in (None, "", *TRANSPORTS):
        errors.append(f"spec.transport: {spec['transport']!r} is not one of {TRANSPORTS}")
    predictors = spec.get("predictors") or []
    if not predictors:
        return [*errors, "spec.predictors: a SeldonDeployment needs a predictor"]
    names = [p.get("name") for p in predictors]
    errors += [f"spec.predictors: duplicate predictor name {n!r}"
               for n in sorted({n for n in names if names.count(n) > 1})]
    for index, predictor in enumerate(predictors):
        errors += _predictor_errors(predictor, f"spec.predictors[{index}]")
    return errors + _traffic_errors(predictors)


def _header_errors(manifest: Mapping[str, Any]) -> list[str]:
    errors = []
    if manifest.get("apiVersion") != API_VERSION or manifest.get("kind") != KIND:
        errors.append(f"apiVersion/kind: expected {API_VERSION} {KIND}")
    name = (manifest.get("metadata") or {}).get("name", "")
    if not (isinstance(name, str) and len(name) <= 63 and _DNS_LABEL.match(name)):
        errors.append(f"metadata.name: {name!r} is not a DNS-1123 label")
    return errors


def _predictor_errors(predictor: Mapping[str, Any], where: str) -> list[str]:
    errors = []
    name = predictor.get("name", "")
    if not (isinstance(name, str) and _DNS_LABEL.match(name)):
        errors.append(f"{where}.name: {name!r} is not a DNS-1123 label")
    graph = predictor.get("graph") or {}
    if graph.get("implementation") in PREPACKAGED_SERVERS and not graph.get("modelUri"):
        errors.append(f"{where}.graph: {graph['implementation']} needs a modelUri")
    return errors


def _traffic_errors(predictors: list[Mapping[str, Any]]) -> list[str]:
    weights = [p.get("traffic", 0) for p in predictors]
    if not all(isinstance(w, int) and not isinstance(w, bool) for w in weights):
        return []  # the schema check reports weights that are not integers
    shadows = [w for p, w in zip(predictors, weights, strict=True) if p.get("shadow")]
    live = [w for p, w in zip(predictors, weights, strict=True) if not p.get("shadow")]
    errors = []
    if len(shadows) > 1:
        errors.append("spec.predictors: at most one predictor can be a shadow")
    if not live:
        errors.append("spec.predictors: a shadow cannot be the only predictor")
    if any(not 0 <= w <= 100 for w in shadows):
        errors.append("spec.predictors: a shadow's traffic must be within [0, 100]")
    if len(live) > 1 and sum(live) != 100:
        errors.append(f"spec.predictors: traffic must sum to 100 over the live predictors, "
                      f"not {sum(live)}")
    if len(predictors) == 1 and 0 < sum(live) < 100:
        errors.append("spec.predictors: a single predictor's traffic must be 100 when set")
    return errors


# All together -------------------------------------------------------------------------------


def manifest_errors(manifest: Mapping[str, Any], crd_path: str | Path) -> list[str]:
    """Every reason the cluster would reject or alter ``manifest``."""
    schema = load_crd_schema(str(crd_path))
    return [*schema_errors(manifest, schema), *pruned_fields(manifest, schema),
            *admission_errors(manifest)]


def validate_manifest(manifest: Mapping[str, Any], crd_path: str | Path) -> None:
    """Raise ``InvalidSeldonDeployment`` unless ``manifest`` passes every check."""
    errors = manifest_errors(manifest, crd_path)
    if errors:
        raise InvalidSeldonDeployment(errors)
