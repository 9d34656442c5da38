"""Simulated production: days of requests and late outcomes, with drift scenarios."""
