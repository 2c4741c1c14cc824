"""The pumpstream pipeline: Faust app and agents, settings, CLI, embedded broker."""
