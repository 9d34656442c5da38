"""Validate the Kubernetes manifests under ``deploy/k8s`` offline.

    python -m deploy.validate               # what kustomization.yaml applies + secret templates
    python -m deploy.validate FILE [FILE]   # only these files

Every YAML document is checked against the OpenAPI schemas of Kubernetes
``KUBERNETES_VERSION`` that ship with ``kubernetes-validate``, in strict mode (unknown fields
are errors), and against rules those schemas cannot express: no duplicate keys, a
``metadata.name``, well-formed resource quantities, and no credential in a Secret or
ConfigMap other than the placeholder ``CHANGE_ME``. Kinds without a schema (custom
resources) are errors, not warnings: nothing passes unchecked.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes_validate import utils as kv

KUBERNETES_VERSION = "1.30"
K8S_DIR = Path(__file__).resolve().parent / "k8s"
KUSTOMIZATION = "kustomization.yaml"
SECRET_TEMPLATES = "secrets.example.yaml"
PLACEHOLDER = "CHANGE_ME"

# Kubernetes resource quantities: 500m, 1, 1.5, 512Mi, 2Gi, 1e3 (apimachinery's grammar).
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")
# Keys whose whole value is a credential, and credentials embedded in longer values.
_CREDENTIAL_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential", re.I)
_EMBEDDED_CREDENTIALS = (
    re.compile(r"://[^/\s:@]+:(?P<value>[^@\s]+)@"),  # scheme://user:password@host
    re.compile(r"\b(?:password|passwd|secret|token)\s*[=:]\s*[\"']?(?P<value>[^\s,\"']+)", re.I),
)
_KNOWN_TOKENS = re.compile(
    r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|gh[pousr]_[A-Za-z0-9]{36}")


class ManifestError(Exception):
    """A manifest is not valid; the message names the file, the object and the field."""


@dataclass(frozen=True)
class Document:
    """One YAML document of a manifest file."""

    path: Path
    index: int  # 1-based position in the file
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", "?"))

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata") or {}
        name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        return f"{namespace}/{name}" if namespace else str(name)

    def __str__(self) -> str:
        return f"{_display(self.path)}, document {self.index} ({self.kind} {self.name})"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys, as kubectl does (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_documents(path: Path) -> list[Document]:
    """The file's non-empty YAML documents; each must be a mapping."""
    try:
        bodies = list(yaml.load_all(path.read_text(), Loader=_UniqueKeyLoader))
    except yaml.YAMLError as error:
        raise ManifestError(f"{_display(path)}: not valid YAML: {error}") from error
    documents = []
    for index, body in enumerate(bodies, start=1):
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ManifestError(f"{_display(path)}, document {index}: not a mapping")
        documents.append(Document(path, index, body))
    return documents


def kustomization_resources(directory: Path = K8S_DIR) -> list[Path]:
    """The files ``kustomization.yaml`` applies, in its order; each must exist."""
    file = directory / KUSTOMIZATION
    [document] = load_documents(file)
    resources = document.body.get("resources") or []
    paths = []
    for entry in resources:
        path = (directory / str(entry)).resolve()
        if not path.is_file():
            raise ManifestError(f"{_display(file)}: resource {entry!r} is not a file here")
        paths.append(path)
    return paths


def manifest_files(directory: Path = K8S_DIR) -> list[Path]:
    """Everything to validate: the applied resources, then the secret templates."""
    templates = directory / SECRET_TEMPLATES
    return kustomization_resources(directory) + ([templates] if templates.is_file() else [])


def validate_document(document: Document, version: str = KUBERNETES_VERSION) -> None:
    """Raise ``ManifestError`` unless the document is a valid object for ``version``."""
    body = document.body
    if not isinstance(body.get("apiVersion"), str) or not isinstance(body.get("kind"), str):
        raise ManifestError(f"{document}: apiVersion and kind must be strings")
    # Checked here: kubernetes-validate compares versions as strings, and fails with an
    # IndexError below its oldest schema set.
    if kv.major_minor(version.removeprefix("v")) not in supported_versions():
        raise ManifestError(f"{document}: kubernetes-validate has no schemas for Kubernetes "
                            f"{version} (it has {', '.join(supported_versions())})")
    try:
        kv.validate(body, version, strict=True)
    except kv.ValidationError as error:
        where = _json_path(error.path) or "(top level)"
        raise ManifestError(f"{document}: {where}: {error.message} "
                            f"[Kubernetes {error.version}, strict]") from None
    except kv.SchemaNotFoundError as error:
        raise ManifestError(f"{document}: {error.message} (custom resources cannot be "
                            "validated offline)") from None
    problems = [*_metadata_problems(body), *_quantity_problems(body),
                *credential_problems(document)]
    if problems:
        raise ManifestError(f"{document}: " + "; ".join(problems))


def supported_versions() -> list[str]:
    """The Kubernetes minor versions (``1.30``) whose schemas kubernetes-validate ships."""
    return sorted({kv.major_minor(v) for v in kv.all_versions()},
                  key=lambda v: tuple(map(int, v.split("."))))


def validate_files(paths: Sequence[Path], version: str = KUBERNETES_VERSION) -> list[str]:
    """Every problem in the files, one readable line each (empty when all are valid)."""
    errors = []
    for path in paths:
        try:
            documents = load_documents(path)
        except ManifestError as error:
            errors.append(str(error))
            continue
        for document in documents:
            try:
                validate_document(document, version)
            except ManifestError as error:
                errors.append(str(error))
    return errors


def credential_problems(document: Document) -> list[str]:
    """Credentials in a Secret or ConfigMap that are not the placeholder ``CHANGE_ME``."""
    if document.kind not in ("Secret", "ConfigMap"):
        return []
    problems = []
    for field, key, value in _data_values(document.body):
        if value is None:
            problems.append(f"{field}.{key}: Secret data must be base64 (or use stringData)")
            continue
        if _KNOWN_TOKENS.search(value):
            problems.append(f"{field}.{key}: looks like a real key or token")
        if _CREDENTIAL_KEY.search(key) and not _is_placeholder(value):
            problems.append(f"{field}.{key}: credential is not the placeholder {PLACEHOLDER}")
        for pattern in _EMBEDDED_CREDENTIALS:
            for match in pattern.finditer(value):
                if not _is_placeholder(match["value"]):
                    problems.append(f"{field}.{key}: embedded credential is not the "
                                    f"placeholder {PLACEHOLDER}")
    return problems


def _data_values(body: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(field, key, text) for stringData/data entries. Secret ``data`` is base64-decoded
    (text ``None`` if it is not base64, which the schemas do not check)."""
    for field in ("stringData", "data"):
        entries = body.get(field) or {}
        if not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            text: str | None = str(value)
            if field == "data" and body.get("kind") == "Secret":
                try:
                    text = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
                except (binascii.Error, ValueError):
                    text = None
            yield field, str(key), text


def _is_placeholder(value: str) -> bool:
    return value == "" or PLACEHOLDER in value


def _metadata_problems(body: dict[str, Any]) -> list[str]:
    metadata = body.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        return ["metadata.name: required"]
    return []


def _quantity_problems(node: Any, path: tuple[str | int, ...] = ()) -> list[str]:
    """Malformed quantities under resources.requests/limits and emptyDir.sizeLimit."""
    problems = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*path, key)
            if key in ("requests", "limits") and path[-1:] == ("resources",) \
                    and isinstance(value, dict):
                problems += [f"{_json_path((*here, name))}: {quantity!r} is not a quantity"
                             for name, quantity in value.items() if not _is_quantity(quantity)]
            elif key == "sizeLimit" and not _is_quantity(value):
                problems.append(f"{_json_path(here)}: {value!r} is not a quantity")
            else:
                problems += _quantity_problems(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            problems += _quantity_problems(item, (*path, index))
    return problems


def _is_quantity(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value >= 0
    return isinstance(value, str) and bool(_QUANTITY.match(value))


def _json_path(parts: Sequence[str | int]) -> str:
    """``spec.template.spec.containers[0].ports[0]`` from path items."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _display(path: Path) -> str:
    root = K8S_DIR.parent.parent
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        paths = [Path(arg) for arg in args] or manifest_files()
    except ManifestError as error:
        print(f"ERROR {error}", file=sys.stderr)
        return 1
    errors = validate_files(paths)
    for error in errors:
        print(f"ERROR {error}", file=sys.stderr)
    if errors:
        return 1
    count = sum(len(load_documents(path)) for path in paths)
    print(f"{count} documents in {len(paths)} files valid for Kubernetes {KUBERNETES_VERSION} "
          "(strict)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
