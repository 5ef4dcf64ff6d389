"""IPython magics and widgets over the platform client: ``%load_ext mlplat_magics``."""

from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    from mlplat.errors import MlplatError
    from mlplat_magics.base import Session, one_line_error
    from mlplat_magics.batch import BatchMagics
    from mlplat_magics.experiments import ExperimentMagics
    from mlplat_magics.features import ExampleMagics, FeatureMagics
    from mlplat_magics.jobs import ScheduleMagics
    from mlplat_magics.logs import quiet_library_logs
    from mlplat_magics.magics import MlplatMagics
    from mlplat_magics.models import ModelMagics
    from mlplat_magics.monitoring import MonitorMagics
    from mlplat_magics.serving import ServingMagics
    from mlplat_magics.streams import StreamMagics

    session = Session()
    for magics in (MlplatMagics, FeatureMagics, ExampleMagics, ScheduleMagics, ModelMagics, ServingMagics, BatchMagics,
                   StreamMagics, MonitorMagics, ExperimentMagics):
        ipython.register_magics(magics(ipython, session))
    ipython.set_custom_exc((MlplatError,), one_line_error)
    quiet_library_logs()


def unload_ipython_extension(ipython: Any) -> None:
    from mlplat.errors import MlplatError

    if ipython.custom_exceptions == (MlplatError,):  # ours, not a handler someone set since
        ipython.set_custom_exc((), None)
