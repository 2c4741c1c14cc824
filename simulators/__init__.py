"""Simulators that produce realistic IVIG infusion sessions for the pipeline."""
