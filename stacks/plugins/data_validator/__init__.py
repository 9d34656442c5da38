"""A ZenML data validator for Great Expectations 1.x, with ZenML's Evidently validator built in.

ZenML's bundled ``great_expectations`` integration targets GE 0.x and does not import with
GX 1.x, and a stack holds a single data validator; this flavor gives the stack both engines.
Register it from the project root with::

    zenml data-validator flavor register \
        stacks.plugins.data_validator.flavor.GXEvidentlyDataValidatorFlavor
    zenml data-validator register gx_evidently --flavor=gx_evidently

(``python run.py`` does this by itself for the local stack.)
"""
