"""Delivery channels for alert notifications: webhook, Alertmanager v2 API, HL7 PCD-04 over MLLP."""
