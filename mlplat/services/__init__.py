"""Outer layer: the HTTP services (platform API, Inference Service), one ``create_app`` each."""
