"""The files one stage writes and another reads: typed, versioned, one reader and writer each.

Each document type lives in its own module; this package only re-exports them.
The common rule (``schema_version``, refusing newer files, atomic writes) is in
`rcm.outputs._document`.
"""

from rcm.outputs._document import (
    VERSION_KEY,
    OutputFormatError,
    read_document,
    require,
    write_document,
)

__all__ = ["VERSION_KEY", "OutputFormatError", "read_document", "require", "write_document"]
