"""Stack definitions and the custom ZenML stack components they use."""
