"""Library logs out of users' notebooks: a kernel's stderr lands in the cell, in a red box.

MLflow configures its own logger at INFO when it is imported and writes run
links, "Creating initial MLflow database tables" and "Validating input example"
to stderr; in a notebook each becomes a red box above the result. Loading the
magics asks MLflow for warnings and errors only, before anything imports it.
(Spark's driver writes its console output to a log file for the same reason:
see ``mlplat.spark``.) The ``library_logs`` setting (``MLPLAT_LIBRARY_LOGS=1``)
shows them again, and so does setting ``MLFLOW_LOGGING_LEVEL`` yourself.
"""

from __future__ import annotations

import logging
import os
import sys

QUIET_LEVEL = "WARNING"


def quiet_library_logs(show: bool | None = None) -> bool:
    """Quiet MLflow's INFO lines in this kernel unless ``show`` (default: the ``library_logs`` setting).

    Returns whether the logs stay quiet.
    """
    if show is None:
        from mlplat.config import load_settings
        from mlplat.errors import MlplatError

        try:
            show = load_settings().library_logs
        except MlplatError:  # a broken setting is reported by the first magic that needs the client
            show = False
    if show or "MLFLOW_LOGGING_LEVEL" in os.environ:
        return False
    # MLflow reads this when it is imported; a logger it configured already is set directly.
    os.environ["MLFLOW_LOGGING_LEVEL"] = QUIET_LEVEL
    if "mlflow" in sys.modules:
        logging.getLogger("mlflow").setLevel(QUIET_LEVEL)
    return True
