"""The wire formats of the model servers the service calls, without the transport.

Two protocols ask a server for class probabilities and read p(churn) back:

- ``mlflow``: MLflow's scoring server. ``POST <base>/invocations`` with a
  ``dataframe_split`` body; the answer is ``{"predictions": [[p0, p1], ...]}``. Health:
  ``GET <base>/ping``.
- ``v2``: the Open Inference Protocol (KServe V2), as MLServer answers it behind Seldon
  Core. ``POST <base>/v2/models/<name>/infer`` with one input per feature column and the
  pandas content type, which MLServer's MLflow runtime decodes into the DataFrame the
  model's signature describes. A model logged with ``pyfunc_predict_fn="predict_proba"``
  answers with one ``FP64`` output of shape ``[rows, 2]``. Health:
  ``GET <base>/v2/models/<name>/ready``.

``encode(rows)`` gives the path to append to a server's base URL and the JSON body;
``decode(body, expected_rows)`` checks the answer and returns p(churn) per row, or raises
``ProtocolError``. ``protocol_for_endpoint`` tells the protocol from a full prediction URL,
so an endpoint in the deployment record says how to call it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from churnops import REGISTERED_MODEL_NAME, schema


class ProtocolError(ValueError):
    """A request cannot be encoded, or a server's answer is not what the protocol promises."""


# Open Inference Protocol datatypes of the feature kinds in ``churnops.schema``.
V2_DATATYPES: dict[str, str] = {
    "categorical": "BYTES", "numeric": "FP64", "integer": "INT64", "binary": "INT64",
}


@dataclass(frozen=True)
class MLflowProtocol:
    """MLflow's scoring server: ``/invocations`` with ``dataframe_split``."""

    name: ClassVar[str] = "mlflow"
    infer_path: ClassVar[str] = "/invocations"
    health_path: ClassVar[str] = "/ping"

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, Any]]:
        columns = list(schema.FEATURE_NAMES)
        try:
            data = [[row[name] for name in columns] for row in rows]
        except KeyError as error:
            raise ProtocolError(f"a row lacks the feature {error.args[0]!r}") from error
        return self.infer_path, {"dataframe_split": {"columns": columns, "data": data}}

    def decode(self, body: Any, expected_rows: int) -> list[float]:
        """The positive-class column of ``{"predictions": [[p0, p1], ...]}``, checked."""
        try:
            values = [float(row[1]) for row in body["predictions"]]
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ProtocolError(f"no class probabilities in {_preview(body)}") from error
        return _checked(values, expected_rows)


@dataclass(frozen=True)
class V2Protocol:
    """The Open Inference Protocol, as served by MLServer's MLflow runtime."""

    model_name: str = REGISTERED_MODEL_NAME
    name: ClassVar[str] = "v2"

    @property
    def infer_path(self) -> str:
        return f"/v2/models/{self.model_name}/infer"

    @property
    def health_path(self) -> str:
        return f"/v2/models/{self.model_name}/ready"

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, Any]]:
        """One ``[rows, 1]`` input per feature, named by the column, with pandas decoding."""
        inputs = [_v2_input(column, rows) for column in schema.FEATURES]
        return self.infer_path, {"parameters": {"content_type": "pd"}, "inputs": inputs}

    def decode(self, body: Any, expected_rows: int) -> list[float]:
        """p(churn) from the ``[rows, 2]`` probability output, checked."""
        if not isinstance(body, dict) or not isinstance(body.get("outputs"), list):
            raise ProtocolError(f"no outputs in {_preview(body)}")
        if body.get("model_name", self.model_name) != self.model_name:
            raise ProtocolError(f"answered by model {body['model_name']!r}, "
                                f"not {self.model_name!r}")
        if len(body["outputs"]) != 1:
            raise ProtocolError(f"expected one output (the class probabilities), got "
                                f"{[o.get('name') for o in body['outputs']]}")
        output = body["outputs"][0]
        shape, data = output.get("shape"), _flat(output.get("data"))
        if shape != [expected_rows, 2] or data is None or len(data) != 2 * expected_rows:
            raise ProtocolError(f"expected class probabilities of shape [{expected_rows}, 2], "
                                f"got shape {shape} with {_preview(output.get('data'))}")
        if output.get("datatype") not in ("FP64", "FP32"):
            raise ProtocolError(f"probabilities of datatype {output.get('datatype')!r}")
        try:
            values = [float(p) for p in data[1::2]]  # row-major: [p0, p1, p0, p1, ...]
        except (TypeError, ValueError) as error:
            raise ProtocolError(f"non-numeric probabilities: {_preview(data)}") from error
        return _checked(values, expected_rows)


Protocol = MLflowProtocol | V2Protocol


def _v2_input(column: schema.Column, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    datatype = V2_DATATYPES[column.kind]
    try:
        data = [_v2_value(row[column.name], datatype) for row in rows]
    except KeyError as error:
        raise ProtocolError(f"a row lacks the feature {column.name!r}") from error
    except (TypeError, ValueError) as error:
        raise ProtocolError(f"{column.name}: {error}") from error
    return {"name": column.name, "datatype": datatype, "shape": [len(rows), 1], "data": data}


def _v2_value(value: Any, datatype: str) -> str | int | float:
    """A JSON value of ``datatype``; never silently truncates or stringifies."""
    if datatype == "BYTES":
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    if isinstance(value, bool) or value is None:
        raise TypeError(f"expected a number, got {value!r}")
    number = float(value)  # numpy scalars included
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    if datatype == "INT64":
        if not number.is_integer():
            raise ValueError(f"expected a whole number, got {value!r}")
        return int(number)
    return number


def _flat(data: Any) -> list[Any] | None:
    """The OIP sends tensors row-major, flat or nested; flatten nested lists."""
    if not isinstance(data, list):
        return None
    flat: list[Any] = []
    for item in data:
        if isinstance(item, list):
            nested = _flat(item)
            if nested is None:
                return None
            flat.extend(nested)
        else:
            flat.append(item)
    return flat


def _checked(values: list[float], expected_rows: int) -> list[float]:
    if len(values) != expected_rows:
        raise ProtocolError(f"{len(values)} rows of probabilities for {expected_rows} rows")
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        raise ProtocolError(f"probabilities outside [0, 1]: {_preview(values)}")
    return values


def _preview(value: Any) -> str:
    return str(value)[:200]


# Endpoints ----------------------------------------------------------------------------------

_V2_INFER = re.compile(r"^(?P<base>.*)/v2/models/(?P<model>[^/]+)(?:/versions/[^/]+)?/infer$")


def protocol_for_endpoint(endpoint: str) -> tuple[Protocol, str]:
    """The protocol of a full prediction URL and the server's base URL.

    ``http://host:8000/invocations`` is MLflow's; ``.../v2/models/<name>/infer`` is V2.
    """
    url = endpoint.rstrip("/")
    if url.endswith(MLflowProtocol.infer_path):
        return MLflowProtocol(), url.removesuffix(MLflowProtocol.infer_path)
    match = _V2_INFER.match(url)
    if match:
        return V2Protocol(model_name=match["model"]), match["base"]
    raise ProtocolError(f"{endpoint} is neither an MLflow (/invocations) nor a V2 "
                        "(/v2/models/<name>/infer) prediction URL")


def get_protocol(name: str, model_name: str = REGISTERED_MODEL_NAME) -> Protocol:
    """A protocol by name: ``mlflow`` or ``v2``."""
    if name == MLflowProtocol.name:
        return MLflowProtocol()
    if name == V2Protocol.name:
        return V2Protocol(model_name=model_name)
    raise ValueError(f"unknown model server protocol {name!r}; use 'mlflow' or 'v2'")
