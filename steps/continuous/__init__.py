"""Continuous-training steps: the controller's state, the candidate's fate, the order to retrain."""
