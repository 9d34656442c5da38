"""The FastAPI app: /predict, /predict/batch, /feedback, /health, /ready, /metrics."""

import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request, Security, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from churnops.continuous import PRODUCTION_CONTROLLER
from churnops.deployment_record import DeploymentRecord
from churnops.settings import ServiceSettings
from serving.api_models import (
    EXAMPLE_CUSTOMER_ID,
    EXAMPLE_FEATURES,
    FeedbackRequest,
    FeedbackResponse,
    Health,
    PredictionResponse,
    PredictRequest,
    Readiness,
    batch_request_model,
    feedback_batch_model,
)
from serving.docs import install_offline_docs
from serving.feature_source import OnlineFeatureSource
from serving.inference_log import Feedback, FeedbackError, InferenceLog
from serving.metrics import Metrics, MonitoringCollector
from serving.model_client import ModelClient
from serving.predictor import (
    InvalidFeaturesError,
    Prediction,
    Predictor,
    ServiceUnavailableError,
    UnknownCustomerError,
)
from serving.routing import DeploymentWatcher

logger = logging.getLogger(__name__)

PREDICT_EXAMPLES = {
    "by_id": {"summary": "By customer id (features from the online store)",
              "value": {"customer_id": EXAMPLE_CUSTOMER_ID}},
    "by_features": {"summary": "By features (the store is not read)",
                    "value": {"features": EXAMPLE_FEATURES}},
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not valid JSON."},
    401: {"description": "Missing or wrong `X-API-Key` (when the service requires one)."},
    404: {"description": "Unknown customer_id."},
    503: {"description": "A model server, the feature store or the inference log failed."},
}
FEEDBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    404: {"description": "No answered prediction has this request_id, or the customer has "
                         "no answered prediction."},
    409: {"description": "The prediction already has a different outcome, or the request "
                         "was for another customer; nothing was written."},
}


@dataclass
class Services:
    """What the endpoints use; built at startup, closed at shutdown."""

    deployment: DeploymentWatcher
    models: ModelClient
    features: OnlineFeatureSource
    log: InferenceLog
    predictor: Predictor

    @classmethod
    def start(cls, settings: ServiceSettings, metrics: Metrics) -> "Services":
        record = DeploymentRecord(settings.deployment_url)
        deployment = DeploymentWatcher(record, settings.model_override, metrics)
        metrics.registry.register(MonitoringCollector(
            lambda: record.latest_loop_run(PRODUCTION_CONTROLLER), PRODUCTION_CONTROLLER))
        models = ModelClient(settings.model_timeout_s)
        features = OnlineFeatureSource(settings.feature_repo)
        log = InferenceLog(settings.inference_log_url)
        predictor = Predictor(deployment, models, features, log, metrics)
        return cls(deployment, models, features, log, predictor)

    async def close(self) -> None:
        await self.models.aclose()
        self.log.close()
        self.deployment.record.close()

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state: 'ok' or what is wrong."""
        checks: dict[str, str] = {}
        active = self.deployment.current()
        checks["deployment"] = self.deployment.problem or "ok"
        slots = [] if active is None else [active.primary, active.candidate]
        for slot in filter(None, slots):
            checks[f"model:{slot.slot}"] = await _probe(self.models.ping(slot.model.endpoint))
        checks["feature_store"] = await _probe(run_in_threadpool(self.features.ping))
        checks["inference_log"] = await _probe(run_in_threadpool(self.log.ping))
        return checks


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service; dependencies are opened when the app starts (its lifespan)."""
    settings = settings or ServiceSettings.from_env()
    metrics = Metrics()
    app = FastAPI(title="churnops churn model", version="1.0", description=DESCRIPTION,
                  lifespan=_lifespan(settings, metrics), docs_url=None, redoc_url=None)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _add_error_handlers(app)
    guard = [Depends(_api_key_guard(settings.api_key))] if settings.api_key else []
    app.include_router(_prediction_routes(settings.batch_limit), dependencies=guard)
    app.include_router(_feedback_routes(settings.batch_limit), dependencies=guard)
    app.include_router(_operation_routes(metrics))
    install_offline_docs(app)
    return app


DESCRIPTION = (
    "Churn probabilities and retention decisions for Telco customers, from the "
    "`churn-model` versions the deployment serves (primary, shadow or canary). "
    "Every answer is logged with its `request_id`; send the observed outcome to `/feedback`."
)


def _lifespan(settings: ServiceSettings, metrics: Metrics
              ) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = Services.start(settings, metrics)
        yield
        await app.state.services.close()

    return lifespan


def _services(request: Request) -> Services:
    return request.app.state.services


def _prediction_routes(batch_limit: int) -> APIRouter:
    router = APIRouter(tags=["predictions"], responses=ERROR_RESPONSES)
    BatchRequest = batch_request_model(batch_limit)  # noqa: N806

    @router.post("/predict", response_model=PredictionResponse)
    async def predict(
        request: Request,
        body: PredictRequest = Body(openapi_examples=PREDICT_EXAMPLES),  # noqa: B008
        svc: Services = Depends(_services),  # noqa: B008
    ) -> PredictionResponse:
        """Score one customer, by `customer_id` or by its full `features`."""
        [answer] = await _answer(request, svc, [body], batch=False)
        return answer

    @router.post("/predict/batch", response_model=list[PredictionResponse],
                 description=f"Score up to {batch_limit} requests at once. The batch is "
                 "answered or refused as a whole (404 if any customer is unknown, 422 naming "
                 "the item index of any invalid one).")
    async def predict_batch(
        request: Request, body: BatchRequest, svc: Services = Depends(_services)  # noqa: B008
    ) -> list[PredictionResponse]:
        return await _answer(request, svc, body.requests, batch=True)

    return router


def _feedback_routes(batch_limit: int) -> APIRouter:
    router = APIRouter(tags=["feedback"], responses=FEEDBACK_RESPONSES)
    BatchRequest = feedback_batch_model(batch_limit)  # noqa: N806

    @router.post("/feedback", response_model=FeedbackResponse,
                 status_code=status.HTTP_201_CREATED,
                 responses={200: {"model": FeedbackResponse, "description":
                                  "The same outcome was recorded before; nothing changed."}})
    def post_feedback(body: FeedbackRequest, response: Response,
                      svc: Services = Depends(_services)) -> FeedbackResponse:  # noqa: B008
        """Record whether a customer churned: one outcome per answered prediction, named by
        `request_id`, else the customer's latest answered prediction."""
        [recorded] = svc.log.record_feedback([_feedback(body)])
        if not recorded.created:
            response.status_code = status.HTTP_200_OK
        return FeedbackResponse(**asdict(recorded))

    @router.post("/feedback/batch", response_model=list[FeedbackResponse],
                 description=f"Record up to {batch_limit} outcomes at once, all or none "
                 "(404 or 409 names the index of the outcome that was refused).")
    def post_feedback_batch(request: Request, body: BatchRequest,
                            svc: Services = Depends(_services)  # noqa: B008
                            ) -> list[FeedbackResponse]:
        request.state.batch = True
        recorded = svc.log.record_feedback([_feedback(item) for item in body.outcomes])
        return [FeedbackResponse(**asdict(each)) for each in recorded]

    return router


def _feedback(body: FeedbackRequest) -> Feedback:
    return Feedback(body.customer_id, body.churned, body.request_id)


def _operation_routes(metrics: Metrics) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", response_model=Health)
    def health() -> Health:
        """The process is alive."""
        return Health()

    @router.get("/ready", response_model=Readiness,
                responses={503: {"model": Readiness, "description": "A dependency is down."}})
    async def ready(svc: Services = Depends(_services)) -> JSONResponse:  # noqa: B008
        """200 when every model server, the feature store and the log answer; else 503."""
        checks = await svc.readiness()
        ok = all(state == "ok" for state in checks.values())
        body = Readiness(ready=ok, checks=checks).model_dump()
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", response_class=Response)
    def prometheus_metrics() -> Response:
        """Prometheus metrics in the text exposition format."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def _answer(request: Request, svc: Services, bodies: list[PredictRequest], batch: bool
                  ) -> list[PredictionResponse]:
    request.state.batch = batch
    predictions = await svc.predictor.predict(
        [(b.customer_id, b.features.model_dump() if b.features else None) for b in bodies]
    )
    variants = {p.variant for p in predictions}
    request.state.variant = variants.pop() if len(variants) == 1 else "mixed"
    return [_response(p) for p in predictions]


def _response(prediction: Prediction) -> PredictionResponse:
    return PredictionResponse.model_validate(prediction, from_attributes=True)


async def _probe(check: Awaitable[None]) -> str:
    try:
        await check
    except Exception as error:
        return str(error) or type(error).__name__
    return "ok"


def _api_key_guard(expected: str) -> Callable[[str | None], None]:
    header = APIKeyHeader(name="X-API-Key", auto_error=False)

    def require_api_key(key: str | None = Security(header)) -> None:  # noqa: B008
        if key is None or not secrets.compare_digest(key.encode(), expected.encode()):
            raise HTTPException(401, "missing or wrong X-API-Key",
                                headers={"WWW-Authenticate": "X-API-Key"})

    return require_api_key


def _add_error_handlers(app: FastAPI) -> None:
    def handler(code: int, kind: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handle(request: Request, error: Exception) -> JSONResponse:
            request.state.error_kind = kind
            if code >= 500:
                logger.error("%s: %s", kind, error)
            return JSONResponse({"detail": str(error)}, status_code=code)
        return handle

    async def invalid_features(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, InvalidFeaturesError)
        request.state.error_kind = "invalid_features"
        batch = getattr(request.state, "batch", False)
        return JSONResponse({"detail": _violation_details(error, batch)}, status_code=422)

    async def refused_feedback(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, FeedbackError)
        request.state.error_kind = error.kind
        where = f"outcomes[{error.index}]: " if getattr(request.state, "batch", False) else ""
        return JSONResponse({"detail": where + str(error)}, status_code=error.status_code)

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        if any(problem.get("type") == "json_invalid" for problem in error.errors()):
            request.state.error_kind = "unparsable_body"
            return JSONResponse({"detail": "The body is not valid JSON."}, status_code=400)
        if getattr(request.scope.get("route"), "path", None) in PREDICTION_PATHS:
            _log_refused(request.app.state.services, error)
        return await request_validation_exception_handler(request, error)

    app.add_exception_handler(UnknownCustomerError, handler(404, "unknown_customer"))
    app.add_exception_handler(FeedbackError, refused_feedback)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(ServiceUnavailableError, handler(503, "unavailable"))
    app.add_exception_handler(InvalidFeaturesError, invalid_features)


PREDICTION_PATHS = ("/predict", "/predict/batch")


def _log_refused(svc: Services, error: RequestValidationError) -> None:
    """Log each prediction request the body's validation refused, with its problems (in a
    batch, the items named; a problem with the batch itself is no item's)."""
    body = error.body if isinstance(error.body, dict) else {}
    batched = isinstance(body.get("requests"), list)
    items = body["requests"] if batched else [body]
    problems: dict[int, list[str]] = {}
    for problem in error.errors():
        loc = list(problem["loc"][1:])  # after "body"
        index = 0
        if batched:
            if len(loc) < 2 or not isinstance(loc[1], int):
                continue
            index, loc = loc[1], loc[2:]
        missing = problem.get("type") == "missing" or problem.get("input", "") is None
        problems.setdefault(index, []).append(
            f"{loc[-1] if loc else 'body'}: {'missing' if missing else problem['msg']}")
    if not problems:
        return
    refused = []
    for index, found in problems.items():
        item = items[index] if isinstance(items[index], dict) else {}
        features = item.get("features")
        refused.append((_text(item.get("customer_id")),
                        features if isinstance(features, dict) else None, found))
    active = svc.deployment.current()
    svc.predictor.refuse(active.primary.model.version if active else None, refused)


def _text(value: Any) -> str | None:
    return value[:64] if isinstance(value, str) else None


def _violation_details(error: InvalidFeaturesError, batch: bool) -> list[dict[str, Any]]:
    """Suite violations in FastAPI's 422 format, located in the request body."""
    details = []
    for index, from_store, violation in error.failures:
        item: list[Any] = ["body", "requests", index] if batch else ["body"]
        field = ["customer_id"] if from_store else ["features", violation.column]
        details.append({
            "type": "expectation_failed",
            "loc": item + field,
            "msg": ("stored features of this customer fail the model's suite: "
                    if from_store else "") + violation.message,
            "input": violation.value,
        })
    return details


class MetricsMiddleware:
    """Counts and times every request by its route (not its raw path, to bound the labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        code = 500
        unrouted = dict(scope)  # routing rewrites paths inside mounts

        async def send_with_status(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._observe(scope, code, time.perf_counter() - start, unrouted)

    def _observe(self, scope: Scope, code: int, seconds: float, unrouted: Scope) -> None:
        endpoint = _route_path(scope, unrouted)
        state = scope.get("state") or {}
        self.metrics.requests.labels(endpoint, str(code), state.get("variant", "none")).inc()
        self.metrics.latency.labels(endpoint).observe(seconds)
        if code >= 400:
            kind = state.get("error_kind") or _ERROR_KINDS.get(code, f"http_{code}")
            self.metrics.errors.labels(endpoint, kind).inc()


def _route_path(scope: Scope, unrouted: Scope) -> str:
    """The route template a request matched; FastAPI's own routes (`/openapi.json`,
    mounts) do not record it in the scope, so those are matched again here."""
    route = scope.get("route")
    if route is None and "app" in scope:
        matches = {match: candidate for candidate in reversed(scope["app"].router.routes)
                   for match, _ in [candidate.matches(unrouted)] if match is not Match.NONE}
        route = matches.get(Match.FULL) or matches.get(Match.PARTIAL)
    return getattr(route, "path", "unmatched")


_ERROR_KINDS = {401: "unauthorized", 404: "not_found", 409: "conflict",
                422: "invalid_request", 500: "internal"}
