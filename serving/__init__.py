"""The churn model's online service: a FastAPI app in front of MLflow model servers.

``serving.app.create_app`` builds the app from ``churnops.settings.ServiceSettings``;
``serving.server.serve`` runs it with uvicorn. See ``serving/README.md``.
"""
