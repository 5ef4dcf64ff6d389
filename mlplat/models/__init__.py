"""Managed Models: Model Pipelines, the catalog, training and tuning, and the Model Repository (MLflow)."""
