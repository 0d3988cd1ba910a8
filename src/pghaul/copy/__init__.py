"""Copy: table jobs -> rows on the target (keyset chunks, COPY streams, checkpoints, sequences).

The public pieces: :func:`move_batch` (the one-batch contract of the HTTP layer) and :func:`drop_state`
(pghaul's bookkeeping on the target). The whole-database copy, and the job and status it records, are
:mod:`pghaul.engine`'s.
"""

from pghaul.copy.batch import BatchResult, move_batch
from pghaul.copy.state import drop_state

__all__ = ["BatchResult", "drop_state", "move_batch"]
