"""Managed Model Hosting (core): the inference core, the prediction log, deployments, batch inference."""
