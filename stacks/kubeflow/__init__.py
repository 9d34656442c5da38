"""The ``kubeflow`` production stack: registration (``register.py``) and KFP compilation
(``compile.py``). See ``stacks/kubeflow/README.md``."""
