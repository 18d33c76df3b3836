"""The operator's shell: settings, telemetry, the reconcile loop and its kopf wiring.

It joins the core to the adapters (``showtime.cluster``, ``showtime.sources``); it decides
nothing on its own.
"""
