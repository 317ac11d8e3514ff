"""The workloads the parallelism chapters use, each defined once with its source.

A chapter that needs AlexNet's parameter count or step time takes it from here, so
two chapters cannot disagree. There are two AlexNets in the 8-bit paper, and they are
different networks:

* :data:`ALEXNET_2012`: Krizhevsky et al. 2012, "60 million parameters". The paper's
  motivating example in section 2.3 (60M float32 parameters = 0.223 GB, four messages
  of ~32 ms on shared PCIe) uses this count. No step time belongs to it here.
* :data:`ALEXNET_PAPER`: the variant of the paper's Tables 3-6 (Krizhevsky 2014, FC
  width 3072), whose parameters we count layer by layer
  (:func:`course_utils.parallel.paper_model.alexnet_layers`: 43.3M) and whose measured
  step is 104.1 ms for 128 images (NervanaGPU kernels, GTX Titan X, Table 4).

Use :data:`ALEXNET_PAPER` wherever a step time enters (speedups, compute-to-
communication ratios); :data:`ALEXNET_2012` only to reproduce the section 2.3 example.
Units: parameters (count), seconds, examples.

Used in: :doc:`/notebooks/dp_communication`, :doc:`/notebooks/dp_compression`,
:doc:`/notebooks/mgpu_hardware`, :doc:`/notebooks/mp_pipeline_memory`,
:doc:`/notebooks/mp_speedup_model`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .figures import PAPER_URL
from .paper_model import TOTAL_MS, alexnet_layers

__all__ = ["Workload", "ALEXNET_2012", "ALEXNET_PAPER", "WORKLOADS"]


@dataclass(frozen=True)
class Workload:
    """A network as a parallelism model sees it.

    ``parameters`` (count), ``step_seconds`` (one forward + backward + update of
    ``batch`` examples on ``gpu``, seconds; ``None`` where no measured step belongs to
    this network), ``source`` (where the figures come from).
    """

    name: str
    parameters: int
    step_seconds: float | None
    batch: int | None
    gpu: str | None
    source: str

    @property
    def fp32_bytes(self) -> int:
        """Bytes of one float32 copy of the parameters (or of their gradients)."""
        return 4 * self.parameters

    @property
    def seconds_per_example(self) -> float:
        """Measured step time divided by the batch (seconds per example)."""
        if self.step_seconds is None or self.batch is None:
            raise ValueError(f"{self.name} has no measured step time")
        return self.step_seconds / self.batch


#: Krizhevsky, Sutskever and Hinton 2012 ("60 million parameters"), the count the 8-bit
#: paper's section 2.3 example uses [stated].
ALEXNET_2012 = Workload(
    name="AlexNet (Krizhevsky et al. 2012)",
    parameters=60_000_000,
    step_seconds=None,
    batch=None,
    gpu=None,
    source="https://papers.nips.cc/paper/4824 ; " + PAPER_URL + " section 2.3",
)

#: The 8-bit paper's AlexNet (Krizhevsky 2014's variant): parameters counted from its
#: layers [inferred], step 104.1 ms for 128 images on a GTX Titan X (Table 4) [stated].
ALEXNET_PAPER = Workload(
    name="AlexNet (8-bit paper's tables, Krizhevsky 2014 variant)",
    parameters=sum(layer.parameters for layer in alexnet_layers()),
    step_seconds=TOTAL_MS["nervana"] / 1e3,
    batch=128,
    gpu="GTX Titan X",
    source=PAPER_URL + " Table 4; https://arxiv.org/abs/1404.5997",
)

WORKLOADS = {"alexnet_2012": ALEXNET_2012, "alexnet_paper": ALEXNET_PAPER}
