"""pumpstream's Grafana dashboards as code (grafana-foundation-sdk, Grafana 11.6).

``python -m grafana.generate`` (or ``pumpstream dashboards generate``) writes the JSON into
``grafana/dashboards/``; Grafana loads it through ``grafana/provisioning/``.
"""
