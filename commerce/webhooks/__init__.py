"""Outbound webhooks: endpoints subscribed to topics, signed deliveries driven by the outbox.

`models` the endpoints and their deliveries, `services` what admins do (subscribe, change,
rotate a secret, redeliver), `payloads` which outbox events become which webhook topics and
their JSON, `delivery` making and sending deliveries (claims, retries, disabling), `signing`
the Standard Webhooks headers, `transport` the SSRF-safe HTTP POST, `tasks` the Celery side.
"""
