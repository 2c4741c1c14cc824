"""The standards gateway stage: HL7 v2 over MLLP and the symptom intake API in, onto the raw
topics (docs/integration.md)."""
