# JupyterHub configuration of the mlplat local stack (`mlplat up` runs the hub with it).
# Everything is derived from the platform settings (MLPLAT_* environment, mlplat.toml);
# see mlplat/services/hub.py.
from mlplat.config import load_settings
from mlplat.services.hub import configure

configure(c, load_settings())  # noqa: F821 - `c` is provided by JupyterHub
