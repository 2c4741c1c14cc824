"""Event, alert and record shapes for pumpstream, and the topic registry.

Every producer, agent, simulator and test imports shapes from here rather than
re-declaring fields.
"""
