"""The Inference Service (HTTP): ``create_app`` in ``app``; ``python -m mlplat.services.inference`` runs it."""
