"""Outer layer: the HTTP services (platform API, later inference), one ``create_app`` each."""
