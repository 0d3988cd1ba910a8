"""Copy: table jobs -> rows on the target (keyset chunks, COPY streams, checkpoints, sequences).

The public pieces: :func:`move_batch` (the one-batch contract of the HTTP layer), :func:`read_status` and
:func:`drop_state` (pghaul's bookkeeping on the target). The whole-database copy is driven by
:mod:`pghaul.engine`.
"""

from pghaul.copy.batch import BatchResult, move_batch
from pghaul.copy.state import JobStatus, drop_state, read_status

__all__ = ["BatchResult", "JobStatus", "drop_state", "move_batch", "read_status"]
