"""The data-parallel scaling explorer: network, system and gradient format as inputs.

Every curve is computed here by :func:`course_utils.parallel.scaling.scaling_efficiency`
with the stack fitted on Goyal et al. 2017
(:func:`~course_utils.parallel.scaling_fit.fit_on_goyal`), for every combination of the
inputs, so the figure works on the static page: three sliders pick the network, the
system and the gradient format, and a few lines of JavaScript look the curves up in the
precomputed table.

The systems, each as its source describes it (peaks are FP32 throughout, because the
fitted MFU is an FP32 figure):

* the 8-bit paper's cluster: 96 GTX Titan X, 3 per node, PCIe 3.0, FDR InfiniBand;
* Goyal et al. 2017: 8 P100 per server on NVLink, 50 Gbit/s Ethernet;
* Horovod's benchmark: 4 Pascal GPUs per server (PCIe assumed), 25 Gbit/s RoCE;
* a DGX H100 cluster: 8 H100 on NVLink 4 (NVSwitch), one NDR port per GPU.

Used in: :doc:`/notebooks/dp_scaling`.
"""

from __future__ import annotations

import json

import numpy as np

from ..core.checks import check_int
from ..core.plots import InteractiveFigure, interactive
from ..systems import hardware as hw
from . import networks
from .figures import DGX_H100_GPUS, PAPER_FDR_BANDWIDTH
from .paper_model import CLUSTER_GPUS, CLUSTER_NODES
from .scaling import Achieved, Cluster, scaling_efficiency

__all__ = ["FORMATS", "EXPLORER_NETWORKS", "explorer_systems", "explorer_table",
           "explorer_figure"]

#: Bytes per gradient value on the wire for each format the explorer offers.
FORMATS = {"fp32": 4.0, "bf16": 2.0, "8-bit": 1.0, "1-bit": 1 / 8}
EXPLORER_NETWORKS = ("alexnet", "vgg16", "resnet50", "resnet101", "inception_v3")
GPU_COUNTS = tuple(2**k for k in range(13))  # 1 ... 4096


def explorer_systems() -> dict[str, Cluster]:
    """The four systems of the module docstring, by label."""
    titan, p100, h100 = (hw.gpu(n) for n in ("GTX Titan X", "P100 SXM2", "H100 SXM5"))
    pcie3 = hw.link("pcie3").bandwidth
    return {
        "paper 2015 (FDR)": Cluster(
            "3x GTX Titan X per node (PCIe 3.0), FDR InfiniBand", titan.fp32_flops,
            CLUSTER_GPUS // CLUSTER_NODES, pcie3, PAPER_FDR_BANDWIDTH),
        "Goyal 2017 (50 GbE)": Cluster(
            "8x P100 per server (NVLink), 50 Gbit/s Ethernet", p100.fp32_flops, 8,
            hw.link("nvlink1").bandwidth, 50e9 / 8),
        "Horovod 2017 (25 GbE)": Cluster(
            "4x Pascal per server (PCIe 3.0), 25 Gbit/s RoCE", p100.fp32_flops, 4, pcie3,
            25e9 / 8),
        "DGX H100 (NDR)": Cluster(
            "8x H100 (NVLink 4), one NDR port per GPU", h100.fp32_flops, DGX_H100_GPUS,
            hw.link("nvlink4").bandwidth, DGX_H100_GPUS * hw.link("ib_ndr").bandwidth),
    }


def explorer_table(achieved: Achieved, *, weak_batch: int = 32,
                   strong_batch: int = 8192) -> dict:
    """Efficiencies for every (network, system, format): weak scaling at ``weak_batch``
    examples per GPU and strong scaling at a global batch of ``strong_batch``."""
    if not isinstance(achieved, Achieved):
        raise TypeError(f"achieved must be an Achieved, got {type(achieved).__name__}")
    check_int("weak_batch", weak_batch, minimum=1)
    check_int("strong_batch", strong_batch, minimum=1)
    gpus = np.array(GPU_COUNTS, dtype=float)
    systems = explorer_systems()
    table = {}
    for net in EXPLORER_NETWORKS:
        layers = networks.get(net)
        for label, cluster in systems.items():
            for fmt, nbytes in FORMATS.items():
                weak = scaling_efficiency(layers, gpus, cluster, achieved, scaling="weak",
                                          batch=weak_batch, bytes_per_value=nbytes)
                strong = scaling_efficiency(layers, gpus, cluster, achieved, scaling="strong",
                                            batch=strong_batch, bytes_per_value=nbytes)
                table[net, label, fmt] = (weak.efficiency.tolist(), strong.efficiency.tolist())
    return table


def explorer_figure(achieved: Achieved, *, weak_batch: int = 32,
                     strong_batch: int = 8192) -> InteractiveFigure:
    """The interactive figure (Plotly, three sliders, works without a kernel)."""
    if not isinstance(achieved, Achieved):
        raise TypeError(f"achieved must be an Achieved, got {type(achieved).__name__}")
    import plotly.graph_objects as go

    table = explorer_table(achieved, weak_batch=weak_batch, strong_batch=strong_batch)
    clusters = explorer_systems()
    nets, systems, fmts = list(EXPLORER_NETWORKS), list(clusters), list(FORMATS)
    start = ("resnet50", systems[1], "fp32")
    weak, strong = table[start]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(GPU_COUNTS), y=weak, mode="lines+markers",
                             name=f"weak scaling, {weak_batch} per GPU"))
    fig.add_trace(go.Scatter(x=list(GPU_COUNTS), y=strong, mode="lines+markers",
                             line_dash="dash", name=f"strong scaling, global batch {strong_batch}"))

    def slider(name, labels, active, y):
        return dict(name=name, active=active, y=y, len=1.0, pad=dict(t=10),
                    currentvalue=dict(prefix=f"{name}: "),
                    steps=[dict(method="skip", label=label, value=str(i), args=[None])
                           for i, label in enumerate(labels)])

    fig.update_layout(
        title=dict(text=_title(start[0], clusters[start[1]].name, start[2]), font_size=14),
        height=700, margin=dict(t=80, b=320),
        xaxis=dict(title="GPUs", type="log", dtick=np.log10(2) * 2, tickformat="d"),
        yaxis=dict(title="efficiency (throughput / linear)", range=[0, 1.05]),
        legend=dict(x=0.01, y=0.02, xanchor="left", yanchor="bottom"),
        sliders=[slider("network", nets, nets.index(start[0]), -0.15),
                 slider("system", systems, systems.index(start[1]), -0.42),
                 slider("gradients", fmts, fmts.index(start[2]), -0.69)])
    lookup = {f"{i},{j},{k}": table[n, s, f] for i, n in enumerate(nets)
              for j, s in enumerate(systems) for k, f in enumerate(fmts)}
    titles = {f"{i},{j},{k}": _title(n, clusters[s].name, f) for i, n in enumerate(nets)
              for j, s in enumerate(systems) for k, f in enumerate(fmts)}
    state = {"network": nets.index(start[0]), "system": systems.index(start[1]),
             "gradients": fmts.index(start[2])}
    script = """
var gd = document.getElementById('{plot_id}');
var T = %s, TITLES = %s, state = %s;
gd.on('plotly_sliderchange', function (ev) {
  state[ev.slider.name] = ev.slider.active;
  var key = state.network + ',' + state.system + ',' + state.gradients;
  setTimeout(function () {
    Plotly.restyle(gd, {y: [T[key][0], T[key][1]]}, [0, 1]);
    Plotly.relayout(gd, {'title.text': TITLES[key]});
  }, 0);
});
""" % (json.dumps(lookup), json.dumps(titles), json.dumps(state))  # noqa: UP031 (JS braces)
    return interactive(fig, title="Data-parallel scaling explorer", post_script=script)


def _title(network: str, system: str, fmt: str) -> str:
    return f"{network} on {system}, {fmt} gradients"
