"""ZenML steps, grouped by stage. Each is small and typed; the logic lives in ``churnops``."""
