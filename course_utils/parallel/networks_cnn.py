"""Convolutional networks layer by layer, in forward order, for the data-parallel model.

Each builder returns a list of :class:`~course_utils.parallel.memory.Layer`, one entry
per convolution or fully connected layer, in the order the forward pass runs them,
with

* ``parameters``: the layer's weights and biases; where the architecture has
  BatchNorm after a convolution (ResNet, Inception V3) its scale and shift are counted
  with that convolution. BatchNorm's running mean and variance are buffers, not
  parameters: not counted (they are not all-reduced as gradients);
* ``flops``: forward FLOPs per example, **2 FLOPs per multiply-add**, convolutions and
  matrix products only (pooling, ReLU, BatchNorm and the bias adds are left out, as
  ``torch.utils.flop_counter.FlopCounterMode`` leaves them out);
* ``activations``: the layer's outputs per example.

Every spatial size is computed from the input size, kernel, stride and padding
(``(size + 2 * padding - kernel) // stride + 1``), never typed in. Layer names follow
torchvision's module names for ResNet and Inception V3 (``layer3.4.conv2``,
``Mixed_6b.branch7x7_2``), so a reader can match them with ``model.named_modules()``.

The totals agree with the torchvision model zoo
(https://docs.pytorch.org/vision/stable/models.html): parameters exactly; its "GFLOPS"
column counts one multiply-add as one operation [inferred: our multiply-add counts,
half our FLOPs, give its printed figures to every printed digit; Inception V3's
without the auxiliary classifier, which does not run in evaluation]. The tests
(tests/unit/parallel/test_networks_cnn.py) check both, and check each layer against
the same network built from ``torch.nn`` modules and counted by ``FlopCounterMode``.

Used in: :doc:`/notebooks/dp_scaling`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.checks import check_int
from .memory import Layer, conv_layer, fc_layer

__all__ = ["alexnet", "vgg16", "resnet", "resnet50", "resnet101", "inception_v3",
           "RESNET_BLOCKS"]

#: Bottleneck blocks per stage (conv2_x ... conv5_x), He et al. 2015, Table 1.
RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M")  # configuration D, Simonyan & Zisserman 2014, Table 1
_CLASSES = 1000  # ImageNet


class _TooSmall(Exception):
    """A layer's output would be empty: the input image is too small."""


def _out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise _TooSmall
    return out


def _pair(x: int | tuple[int, int]) -> tuple[int, int]:
    return x if isinstance(x, tuple) else (x, x)


class _Net:
    """Collects layers in forward order."""

    def __init__(self) -> None:
        self.layers: list[Layer] = []

    def conv(self, name: str, c_in: int, c_out: int, kernel: int | tuple[int, int],
             size: int, stride: int = 1, padding: int | tuple[int, int] = 0,
             bn: bool = True) -> int:
        """Add a convolution (with BatchNorm and no bias if ``bn``); return its output size."""
        (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
        out, out_w = _out(size, kh, stride, ph), _out(size, kw, stride, pw)
        assert out == out_w, f"{name}: non-square output {out} x {out_w}"
        self.layers.append(conv_layer(name, c_in, c_out, (kh, kw), out, bias=not bn,
                                      batchnorm=bn))
        return out

    def fc(self, name: str, n_in: int, n_out: int) -> None:
        self.layers.append(fc_layer(name, n_in, n_out))


def _build(network: str, image_size: int, minimum: int,
           body: Callable[[_Net, int], None]) -> list[Layer]:
    """Run ``body`` at ``image_size``; if a layer's output would be empty, say which
    input size is the smallest that works."""
    image_size = check_int("image_size", image_size, minimum=minimum)
    for size in range(image_size, 4 * image_size + 1024):
        net = _Net()
        try:
            body(net, size)
        except _TooSmall:
            continue
        if size == image_size:
            return net.layers
        raise ValueError(f"image_size must be >= {size} for {network}, got {image_size}")
    raise ValueError(f"image_size {image_size} is too small for {network}")


def alexnet(image_size: int = 224) -> list[Layer]:
    """AlexNet as in torchvision: one tower, conv widths 64-192-384-256-256, FC 4096.

    torchvision follows Krizhevsky 2014, "One weird trick for parallelizing
    convolutional neural networks" (https://arxiv.org/abs/1404.5997), not the
    two-tower 2012 network (https://papers.nips.cc/paper/4824). Five convolutions with
    bias (11x11 stride 4, 5x5, then three 3x3), max-pooling 3x3 stride 2 after
    conv1, conv2 and conv5, adaptive average pooling to 6x6, three FC layers.
    ``image_size``: square input, pixels (>= 63).
    """
    def body(net: _Net, s: int) -> None:
        s = net.conv("conv1", 3, 64, 11, s, stride=4, padding=2, bn=False)
        s = net.conv("conv2", 64, 192, 5, _out(s, 3, 2), padding=2, bn=False)
        s = net.conv("conv3", 192, 384, 3, _out(s, 3, 2), padding=1, bn=False)
        s = net.conv("conv4", 384, 256, 3, s, padding=1, bn=False)
        s = net.conv("conv5", 256, 256, 3, s, padding=1, bn=False)
        _out(s, 3, 2)  # pool5, then adaptive pooling to 6 x 6
        net.fc("fc6", 256 * 6 * 6, 4096)
        net.fc("fc7", 4096, 4096)
        net.fc("fc8", 4096, _CLASSES)

    return _build("alexnet", image_size, 1, body)


def vgg16(image_size: int = 224) -> list[Layer]:
    """VGG-16, configuration D of Simonyan & Zisserman 2014, "Very Deep Convolutional
    Networks for Large-Scale Image Recognition" (https://arxiv.org/abs/1409.1556).

    Thirteen 3x3 convolutions with bias (padding 1) in five stages, each followed by
    2x2 max-pooling; adaptive average pooling to 7x7 (as torchvision); FC
    25088-4096-4096-1000. ``image_size``: square input, pixels (>= 32).
    """
    def body(net: _Net, s: int) -> None:
        c_in, stage, index = 3, 1, 1
        for item in _VGG16:
            if item == "M":
                s, stage, index = _out(s, 2, 2), stage + 1, 1
                continue
            s = net.conv(f"conv{stage}_{index}", c_in, int(item), 3, s, padding=1, bn=False)
            c_in, index = int(item), index + 1
        net.fc("fc6", c_in * 7 * 7, 4096)
        net.fc("fc7", 4096, 4096)
        net.fc("fc8", 4096, _CLASSES)

    return _build("vgg16", image_size, 1, body)


def resnet(depth: int, image_size: int = 224) -> list[Layer]:
    """ResNet-50 or -101 of He et al. 2015, "Deep Residual Learning for Image
    Recognition" (https://arxiv.org/abs/1512.03385), bottleneck v1.5 as torchvision.

    7x7 stride-2 convolution and 3x3 stride-2 max-pooling, then four stages of
    bottleneck blocks (:data:`RESNET_BLOCKS`) of widths 64, 128, 256, 512: 1x1, 3x3,
    1x1 (x4 channels), each convolution without bias and followed by BatchNorm. v1.5:
    a stage's first block strides on its 3x3 convolution (the paper strides on the
    first 1x1); its projection shortcut (``downsample``, 1x1 with BatchNorm) comes
    last, as torchvision registers it. Global average pooling, FC 2048-1000.
    ``depth``: 50 or 101. ``image_size``: square input, pixels (>= 1).
    """
    depth = check_int("depth", depth)
    if depth not in RESNET_BLOCKS:
        raise ValueError(f"depth must be one of {tuple(RESNET_BLOCKS)}, got {depth}")

    def body(net: _Net, s: int) -> None:
        s = _out(net.conv("conv1", 3, 64, 7, s, stride=2, padding=3), 3, 2, 1)
        c_in = 64
        widths = (64, 128, 256, 512)
        for stage, (blocks, width) in enumerate(zip(RESNET_BLOCKS[depth], widths, strict=True),
                                                start=1):
            for block in range(blocks):
                stride = 2 if block == 0 and stage > 1 else 1
                name, s_in = f"layer{stage}.{block}", s
                net.conv(f"{name}.conv1", c_in, width, 1, s_in)
                s = net.conv(f"{name}.conv2", width, width, 3, s_in, stride=stride, padding=1)
                net.conv(f"{name}.conv3", width, 4 * width, 1, s)
                if block == 0:
                    net.conv(f"{name}.downsample", c_in, 4 * width, 1, s_in, stride=stride)
                c_in = 4 * width
        net.fc("fc", c_in, _CLASSES)

    return _build(f"resnet{depth}", image_size, 1, body)


def resnet50(image_size: int = 224) -> list[Layer]:
    """ResNet-50 (https://arxiv.org/abs/1512.03385), see :func:`resnet`."""
    return resnet(50, image_size)


def resnet101(image_size: int = 224) -> list[Layer]:
    """ResNet-101 (https://arxiv.org/abs/1512.03385), see :func:`resnet`."""
    return resnet(101, image_size)


# ---- Inception V3: one function per torchvision module type; each adds its
# convolutions (BasicConv2d = conv without bias + BatchNorm) and returns
# (output channels, output size).
def _inception_a(net: _Net, p: str, c: int, s: int, pool_features: int) -> tuple[int, int]:
    net.conv(f"{p}.branch1x1", c, 64, 1, s)
    net.conv(f"{p}.branch5x5_1", c, 48, 1, s)
    net.conv(f"{p}.branch5x5_2", 48, 64, 5, s, padding=2)
    net.conv(f"{p}.branch3x3dbl_1", c, 64, 1, s)
    net.conv(f"{p}.branch3x3dbl_2", 64, 96, 3, s, padding=1)
    net.conv(f"{p}.branch3x3dbl_3", 96, 96, 3, s, padding=1)
    net.conv(f"{p}.branch_pool", c, pool_features, 1, _out(s, 3, 1, 1))
    return 64 + 64 + 96 + pool_features, s


def _inception_b(net: _Net, p: str, c: int, s: int) -> tuple[int, int]:
    out = net.conv(f"{p}.branch3x3", c, 384, 3, s, stride=2)
    net.conv(f"{p}.branch3x3dbl_1", c, 64, 1, s)
    net.conv(f"{p}.branch3x3dbl_2", 64, 96, 3, s, padding=1)
    net.conv(f"{p}.branch3x3dbl_3", 96, 96, 3, s, stride=2)
    return 384 + 96 + c, out  # + max-pooled input


def _inception_c(net: _Net, p: str, c: int, s: int, c7: int) -> tuple[int, int]:
    net.conv(f"{p}.branch1x1", c, 192, 1, s)
    net.conv(f"{p}.branch7x7_1", c, c7, 1, s)
    net.conv(f"{p}.branch7x7_2", c7, c7, (1, 7), s, padding=(0, 3))
    net.conv(f"{p}.branch7x7_3", c7, 192, (7, 1), s, padding=(3, 0))
    net.conv(f"{p}.branch7x7dbl_1", c, c7, 1, s)
    for i, (kernel, c_out) in enumerate((((7, 1), c7), ((1, 7), c7), ((7, 1), c7),
                                         ((1, 7), 192)), start=2):
        net.conv(f"{p}.branch7x7dbl_{i}", c7, c_out, kernel, s,
                 padding=(kernel[0] // 2, kernel[1] // 2))
    net.conv(f"{p}.branch_pool", c, 192, 1, _out(s, 3, 1, 1))
    return 4 * 192, s


def _inception_d(net: _Net, p: str, c: int, s: int) -> tuple[int, int]:
    net.conv(f"{p}.branch3x3_1", c, 192, 1, s)
    out = net.conv(f"{p}.branch3x3_2", 192, 320, 3, s, stride=2)
    net.conv(f"{p}.branch7x7x3_1", c, 192, 1, s)
    net.conv(f"{p}.branch7x7x3_2", 192, 192, (1, 7), s, padding=(0, 3))
    net.conv(f"{p}.branch7x7x3_3", 192, 192, (7, 1), s, padding=(3, 0))
    net.conv(f"{p}.branch7x7x3_4", 192, 192, 3, s, stride=2)
    return 320 + 192 + c, out  # + max-pooled input


def _inception_e(net: _Net, p: str, c: int, s: int) -> tuple[int, int]:
    net.conv(f"{p}.branch1x1", c, 320, 1, s)
    net.conv(f"{p}.branch3x3_1", c, 384, 1, s)
    net.conv(f"{p}.branch3x3_2a", 384, 384, (1, 3), s, padding=(0, 1))
    net.conv(f"{p}.branch3x3_2b", 384, 384, (3, 1), s, padding=(1, 0))
    net.conv(f"{p}.branch3x3dbl_1", c, 448, 1, s)
    net.conv(f"{p}.branch3x3dbl_2", 448, 384, 3, s, padding=1)
    net.conv(f"{p}.branch3x3dbl_3a", 384, 384, (1, 3), s, padding=(0, 1))
    net.conv(f"{p}.branch3x3dbl_3b", 384, 384, (3, 1), s, padding=(1, 0))
    net.conv(f"{p}.branch_pool", c, 192, 1, _out(s, 3, 1, 1))
    return 320 + 2 * 384 + 2 * 384 + 192, s


def _inception_aux(net: _Net, c: int, s: int) -> None:
    s = net.conv("AuxLogits.conv0", c, 128, 1, _out(s, 5, 3))  # after 5x5 / 3 avg-pool
    net.conv("AuxLogits.conv1", 128, 768, 5, s)
    net.fc("AuxLogits.fc", 768, _CLASSES)  # after adaptive average pooling


def inception_v3(image_size: int = 299, aux_logits: bool = True) -> list[Layer]:
    """Inception V3 of Szegedy et al. 2015, "Rethinking the Inception Architecture for
    Computer Vision" (https://arxiv.org/abs/1512.00567), module by module as torchvision.

    Stem (five convolutions, two 3x3 stride-2 max-pools), Mixed_5b-5d (InceptionA),
    Mixed_6a (B, grid reduction), Mixed_6b-6e (C, factorised 1x7 / 7x1), the auxiliary
    classifier ``AuxLogits`` after Mixed_6e (it runs in training only; ``aux_logits``
    keeps it, as torchvision's default and its parameter count do), Mixed_7a (D),
    Mixed_7b-7c (E), global average pooling, FC 2048-1000. Every convolution is
    torchvision's BasicConv2d: no bias, BatchNorm. ``image_size``: square input, pixels
    (299 in the paper; the smallest that works is reported).
    """
    if not isinstance(aux_logits, bool):
        raise TypeError(f"aux_logits must be True or False, got {type(aux_logits).__name__}")

    def body(net: _Net, s: int) -> None:
        s = net.conv("Conv2d_1a_3x3", 3, 32, 3, s, stride=2)
        s = net.conv("Conv2d_2a_3x3", 32, 32, 3, s)
        s = _out(net.conv("Conv2d_2b_3x3", 32, 64, 3, s, padding=1), 3, 2)
        s = net.conv("Conv2d_3b_1x1", 64, 80, 1, s)
        s = _out(net.conv("Conv2d_4a_3x3", 80, 192, 3, s), 3, 2)
        c = 192
        for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
            c, s = _inception_a(net, name, c, s, pool_features)
        c, s = _inception_b(net, "Mixed_6a", c, s)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160),
                         ("Mixed_6e", 192)):
            c, s = _inception_c(net, name, c, s, c7)
        if aux_logits:
            _inception_aux(net, c, s)
        c, s = _inception_d(net, "Mixed_7a", c, s)
        for name in ("Mixed_7b", "Mixed_7c"):
            c, s = _inception_e(net, name, c, s)
        net.fc("fc", c, _CLASSES)

    return _build("inception_v3" + (" with aux_logits" if aux_logits else ""),
                  image_size, 1, body)
