"""Custom ZenML flavors, registered with ``zenml <component> flavor register <source>``."""
