"""``rcm data ...``: turn labelled data into training inputs (photos, splits, tile labels).

Each subcommand lives in its own module with a ``register(data_commands)`` function.
"""

from __future__ import annotations

from typing import Any

from rcm.cli import _photo_commands, _split_commands


def register(commands: Any) -> None:
    data = commands.add_parser(
        "data",
        help="prepare datasets: clinical-photo CSV to COCO/VOC, patient-level splits",
        description="Prepare labelled data for training and evaluation.",
    )
    data_commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    for module in (_photo_commands, _split_commands):
        module.register(data_commands)
