"""The places a sync or a check reads and writes, as people name them:
"s3://bucket/prefix" for a store prefix, any other path for a local
directory; and the rules for turning a key into a local file name, which
a download into a directory follows (a command line naming a file after
its key follows the same ones).
"""

from __future__ import annotations

from object_clerk._location import SCHEME, LocalTree, Location, StorePrefix, parse_location
from object_clerk._sync_plan import names_no_file, unfit_local_name

__all__ = [
    "SCHEME",
    "LocalTree",
    "Location",
    "StorePrefix",
    "names_no_file",
    "parse_location",
    "unfit_local_name",
]
