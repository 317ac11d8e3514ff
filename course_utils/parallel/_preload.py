"""Imported once by :func:`course_utils.parallel.launch.run_local`'s fork server.

Everything a worker needs is imported here, before the fork server starts forking, so
each worker starts in milliseconds (DistributedDataParallel alone pulls in
``torch._dynamo``: about a second).
"""

import sklearn.datasets  # noqa: F401
import sklearn.model_selection  # noqa: F401
import torch  # noqa: F401
import torch._dynamo  # noqa: F401
import torch.distributed  # noqa: F401

from . import comm_hooks, measure, train_ddp  # noqa: F401
