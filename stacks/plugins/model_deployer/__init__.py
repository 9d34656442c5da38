"""A Seldon Core model deployer with progressive delivery: shadow and canary rollouts.

ZenML's ``seldon`` model deployer builds a SeldonDeployment with a single predictor. The
``seldon_progressive`` flavor extends it and maps the project's deployment strategies onto
the predictors of one SeldonDeployment (``manifests``):

| strategy | predictors                                                        |
|----------|-------------------------------------------------------------------|
| basic    | the primary, ``traffic: 100``                                     |
| shadow   | the primary, ``traffic: 100``; the candidate, ``shadow: true``    |
| canary   | the primary and the candidate, ``traffic`` e.g. 90 and 10         |

Promotion (the candidate becomes the single predictor), rollback (the candidate is
dropped) and a new canary share replace the resource in place
(``SeldonProgressiveModelDeployer.promote``, ``rollback`` and ``set_canary_share``).

Seldon Core gives each predictor a Kubernetes Service, ``<deployment>-<predictor>`` on the
executor's port 8000. ``manifests.predictor_address`` computes a predictor's name and that
Service's URL; the deployment pipeline publishes the URLs as the slots' endpoints, and the
prediction service routes to them (``stacks/access.py``, ``serve_slot``).

The runtime is chosen on purpose: ``implementation: MLFLOW_SERVER`` with
``protocol: v2``. Seldon then runs MLServer's MLflow runtime, which loads the registered
model's MLflow artifact folder as it is, answers the Open Inference Protocol
(``/v2/models/<name>/infer``) and creates no conda environment at start-up, unlike the
``seldon``-protocol MLflow server. The image must carry the MLflow, scikit-learn and skops
versions the models were trained with (``server_image``); the integration test
``tests/integration/test_v2_model_client.py`` runs the same MLServer on the lock's versions.

``validation`` checks manifests offline against Seldon's CRD schema and admission rules.

Register the flavor from the project root with the Python client (the ``zenml
model-deployer register`` CLI cannot set the ``secret`` field)::

    from zenml.client import Client
    from zenml.enums import StackComponentType

    Client().create_flavor(
        source="stacks.plugins.model_deployer.flavor.SeldonProgressiveDeployerFlavor",
        component_type=StackComponentType.MODEL_DEPLOYER,
    )
"""
