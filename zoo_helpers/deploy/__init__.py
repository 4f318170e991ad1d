"""Deployment to STM32N6 and STM32MP2 boards: commands, validation through the board link, placement.

Modules, bottom to top:

- :mod:`~zoo_helpers.deploy.appconfig`: the ``app_config.h`` of ST's N6 pose application and the
  ``stedgeai generate`` line, both from the model file's own tensors;
- :mod:`~zoo_helpers.deploy.placement`: which operators of a file ST Edge AI would put on the N6 NPU and the
  MP2 NPU/GPU (rules from ST's documentation), and the MP2 rows of the cards beside them;
- :mod:`~zoo_helpers.deploy.toolchain`: the exact command lines a user runs to deploy a file;
- :mod:`~zoo_helpers.deploy.validation`: a model run on a board, or on its emulator, beside the host;
- :mod:`~zoo_helpers.deploy.placement_report`: the ``zoo-placement`` command (not imported here: it is a program).

The chapters call the names below. This layer imports the board, runtime and registry layers, never the
cards or the book.
"""

from zoo_helpers.deploy import appconfig, placement, toolchain, validation
from zoo_helpers.deploy.placement import mp2_check, place
from zoo_helpers.deploy.toolchain import app_config, commands
from zoo_helpers.deploy.validation import check_board, validate, validate_models

__all__ = [
    "app_config", "appconfig", "check_board", "commands", "mp2_check", "place", "placement", "toolchain",
    "validate", "validate_models", "validation"
]
