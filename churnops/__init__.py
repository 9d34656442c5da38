"""churnops: the customer-churn model's life cycle as ZenML pipelines.

This package holds the domain logic (schema, validation, features, modelling, registry).
It does not touch the ZenML stack: steps in ``steps/`` wrap it, pipelines in ``pipelines/``
wire the steps, and ``run.py`` drives them.
"""

REGISTERED_MODEL_NAME = "churn-model"
CHAMPION_ALIAS = "champion"
