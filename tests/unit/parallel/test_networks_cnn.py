"""The convolutional networks, against torchvision's published figures and against the
same networks built from torch.nn modules (parameters by ``numel``, FLOPs by
``torch.utils.flop_counter.FlopCounterMode``, on the meta device: no arithmetic)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.parallel import networks_cnn as cnn

# torchvision model zoo, https://docs.pytorch.org/vision/stable/models.html (per-model
# pages, e.g. .../generated/torchvision.models.resnet50.html): num_params and GFLOPS
# [external]. Inception V3's GFLOPS is for evaluation (no auxiliary classifier).
TORCHVISION = {
    "alexnet": (61_100_840, 0.714),
    "vgg16": (138_357_544, 15.47),
    "resnet50": (25_557_032, 4.089),
    "resnet101": (44_549_160, 7.801),
    "inception_v3": (27_161_264, 5.713),
}
BUILDERS = {"alexnet": cnn.alexnet, "vgg16": cnn.vgg16, "resnet50": cnn.resnet50,
            "resnet101": cnn.resnet101,
            "inception_v3": lambda: cnn.inception_v3(aux_logits=False)}


@pytest.mark.parametrize("name", TORCHVISION)
def test_totals_match_torchvision(name):
    params, gflops = TORCHVISION[name]
    layers = cnn.inception_v3() if name == "inception_v3" else BUILDERS[name]()
    assert sum(layer.parameters for layer in layers) == params
    # torchvision's "GFLOPS" counts multiply-adds: half of our FLOPs
    macs = sum(layer.flops for layer in BUILDERS[name]()) / 2e9
    assert macs == pytest.approx(gflops, rel=0.02)


def test_inception_without_the_auxiliary_classifier():
    """23.83M parameters: the 27.16M above less the auxiliary classifier's 1x1 and 5x5
    convolutions (with BatchNorm) and its FC layer."""
    aux = (768 * 128 + 2 * 128) + (128 * 768 * 25 + 2 * 768) + (768 * 1000 + 1000)
    assert sum(x.parameters for x in cnn.inception_v3(aux_logits=False)) == 27_161_264 - aux
    names = [x.name for x in cnn.inception_v3()]
    assert names.index("AuxLogits.conv0") == names.index("Mixed_6e.branch_pool") + 1


def check_against_torch(layers, model: nn.Module, size: int) -> None:
    """Each layer's parameters and FLOPs equal its torch module's; the forward pass
    calls the modules in the order of ``layers``; the totals are the whole model's."""
    names = [layer.name for layer in layers]
    model.eval()  # BatchNorm's running statistics: 1x1 maps at batch 1 are allowed
    modules = dict(model.named_modules())
    called = []
    hooks = [modules[name].register_forward_pre_hook(
        lambda m, a, name=name: called.append(name)) for name in names]
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, size, size, device="meta"))
    for hook in hooks:
        hook.remove()
    counts = counter.get_flop_counts()
    root = type(model).__name__
    for layer in layers:
        module = modules[layer.name]
        assert layer.parameters == sum(p.numel() for p in module.parameters()), layer.name
        assert layer.flops == sum(counts[f"{root}.{layer.name}"].values()), layer.name
    assert called == names
    assert sum(x.parameters for x in layers) == sum(p.numel() for p in model.parameters())
    assert sum(x.flops for x in layers) == counter.get_total_flops()


class ConvBN(nn.Sequential):
    """torchvision's BasicConv2d / conv + BatchNorm pair (ReLU has no parameters)."""

    def __init__(self, c_in, c_out, kernel, stride=1, padding=0):
        super().__init__(nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


class Plain(nn.Module):
    """AlexNet / VGG: named convolutions with bias, ReLU, max-pooling, then FC layers."""

    def __init__(self, convs, pools_after, fcs, pool, adaptive):
        super().__init__()
        self.convs = list(convs)
        for name, (c_in, c_out, k, stride, padding) in convs.items():
            self.add_module(name, nn.Conv2d(c_in, c_out, k, stride, padding))
        self.pools_after, self.pool, self.adaptive = pools_after, pool, adaptive
        self.fcs = list(fcs)
        for name, (n_in, n_out) in fcs.items():
            self.add_module(name, nn.Linear(n_in, n_out))

    def forward(self, x):
        for name in self.convs:
            x = F.relu(getattr(self, name)(x))
            if name in self.pools_after:
                x = F.max_pool2d(x, *self.pool)
        x = torch.flatten(F.adaptive_avg_pool2d(x, self.adaptive), 1)
        for name in self.fcs:
            x = getattr(self, name)(x)
        return x


def test_alexnet_layer_by_layer():
    convs = {"conv1": (3, 64, 11, 4, 2), "conv2": (64, 192, 5, 1, 2),
             "conv3": (192, 384, 3, 1, 1), "conv4": (384, 256, 3, 1, 1),
             "conv5": (256, 256, 3, 1, 1)}
    fcs = {"fc6": (9216, 4096), "fc7": (4096, 4096), "fc8": (4096, 1000)}
    with torch.device("meta"):
        model = Plain(convs, {"conv1", "conv2", "conv5"}, fcs, (3, 2), 6)
    for size in (224, 63):
        check_against_torch(cnn.alexnet(size), model, size)


def test_vgg16_layer_by_layer():
    widths = [[64, 64], [128, 128], [256] * 3, [512] * 3, [512] * 3]
    convs, c_in, last = {}, 3, set()
    for stage, stage_widths in enumerate(widths, start=1):
        for i, c_out in enumerate(stage_widths, start=1):
            convs[f"conv{stage}_{i}"] = (c_in, c_out, 3, 1, 1)
            c_in = c_out
        last.add(f"conv{stage}_{len(stage_widths)}")
    fcs = {"fc6": (25088, 4096), "fc7": (4096, 4096), "fc8": (4096, 1000)}
    with torch.device("meta"):
        model = Plain(convs, last, fcs, (2, 2), 7)
    check_against_torch(cnn.vgg16(), model, 224)


class Bottleneck(nn.Module):
    def __init__(self, c_in, width, stride):
        super().__init__()
        self.conv1, self.conv2 = ConvBN(c_in, width, 1), ConvBN(width, width, 3, stride, 1)
        self.conv3 = ConvBN(width, 4 * width, 1)
        self.downsample = (ConvBN(c_in, 4 * width, 1, stride)
                           if stride != 1 or c_in != 4 * width else None)

    def forward(self, x):
        y = self.conv3(self.conv2(self.conv1(x)))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.conv1, c_in = ConvBN(3, 64, 7, 2, 3), 64
        for stage, (n, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True), 1):
            layer = [Bottleneck(c_in, width, 2 if stage > 1 else 1)]
            layer += [Bottleneck(4 * width, width, 1) for _ in range(n - 1)]
            self.add_module(f"layer{stage}", nn.Sequential(*layer))
            c_in = 4 * width
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


@pytest.mark.parametrize("depth", [50, 101])
def test_resnet_layer_by_layer(depth):
    with torch.device("meta"):
        model = ResNet(cnn.RESNET_BLOCKS[depth])
    check_against_torch(cnn.resnet(depth), model, 224)
    check_against_torch(cnn.resnet(depth, image_size=97), model, 97)


def test_one_bottleneck_block():
    """A stage's first block of ResNet-50 stage 3 (stride 2, projection shortcut)."""
    block = Bottleneck(512, 256, 2)
    layers = [x for x in cnn.resnet50() if x.name.startswith("layer3.0.")]
    assert sum(x.parameters for x in layers) == sum(p.numel() for p in block.parameters())
    with FlopCounterMode(display=False) as counter:
        block(torch.randn(1, 512, 28, 28))
    assert sum(x.flops for x in layers) == counter.get_total_flops()


# ---- Inception V3, module by module as torchvision/models/inception.py
class Mixed(nn.Module):
    """An Inception module: ``branches`` are lists of conv names run in sequence on the
    input; ``splits`` fork a branch's last output into two convs; ``pool`` is "avg"
    (3x3 stride 1, then conv ``branch_pool``) or "max" (3x3 stride 2, no conv)."""

    def __init__(self, convs, branches, pool, splits=()):
        super().__init__()
        for name, args in convs.items():
            self.add_module(name, ConvBN(*args))
        self.branches, self.pool, self.splits = branches, pool, dict(splits)

    def forward(self, x):
        outs = []
        for branch in self.branches:
            y = x
            for name in branch:
                y = getattr(self, name)(y)
            if branch[-1] in self.splits:
                y = torch.cat([getattr(self, n)(y) for n in self.splits[branch[-1]]], 1)
            outs.append(y)
        if self.pool == "avg":
            outs.append(self.branch_pool(F.avg_pool2d(x, 3, 1, 1)))
        else:
            outs.append(F.max_pool2d(x, 3, 2))
        return torch.cat(outs, 1)


def inception_a(c, pool_features):
    return Mixed({"branch1x1": (c, 64, 1), "branch5x5_1": (c, 48, 1),
                  "branch5x5_2": (48, 64, 5, 1, 2), "branch3x3dbl_1": (c, 64, 1),
                  "branch3x3dbl_2": (64, 96, 3, 1, 1), "branch3x3dbl_3": (96, 96, 3, 1, 1),
                  "branch_pool": (c, pool_features, 1)},
                 [["branch1x1"], ["branch5x5_1", "branch5x5_2"],
                  ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]], "avg")


def inception_b(c):
    return Mixed({"branch3x3": (c, 384, 3, 2), "branch3x3dbl_1": (c, 64, 1),
                  "branch3x3dbl_2": (64, 96, 3, 1, 1), "branch3x3dbl_3": (96, 96, 3, 2)},
                 [["branch3x3"], ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]],
                 "max")


def inception_c(c, c7):
    row, col = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
    return Mixed({"branch1x1": (c, 192, 1), "branch7x7_1": (c, c7, 1),
                  "branch7x7_2": (c7, c7, *row), "branch7x7_3": (c7, 192, *col),
                  "branch7x7dbl_1": (c, c7, 1), "branch7x7dbl_2": (c7, c7, *col),
                  "branch7x7dbl_3": (c7, c7, *row), "branch7x7dbl_4": (c7, c7, *col),
                  "branch7x7dbl_5": (c7, 192, *row), "branch_pool": (c, 192, 1)},
                 [["branch1x1"], ["branch7x7_1", "branch7x7_2", "branch7x7_3"],
                  [f"branch7x7dbl_{i}" for i in range(1, 6)]], "avg")


def inception_d(c):
    return Mixed({"branch3x3_1": (c, 192, 1), "branch3x3_2": (192, 320, 3, 2),
                  "branch7x7x3_1": (c, 192, 1), "branch7x7x3_2": (192, 192, (1, 7), 1, (0, 3)),
                  "branch7x7x3_3": (192, 192, (7, 1), 1, (3, 0)),
                  "branch7x7x3_4": (192, 192, 3, 2)},
                 [["branch3x3_1", "branch3x3_2"],
                  [f"branch7x7x3_{i}" for i in range(1, 5)]], "max")


def inception_e(c):
    row, col = ((1, 3), 1, (0, 1)), ((3, 1), 1, (1, 0))
    return Mixed({"branch1x1": (c, 320, 1), "branch3x3_1": (c, 384, 1),
                  "branch3x3_2a": (384, 384, *row), "branch3x3_2b": (384, 384, *col),
                  "branch3x3dbl_1": (c, 448, 1), "branch3x3dbl_2": (448, 384, 3, 1, 1),
                  "branch3x3dbl_3a": (384, 384, *row), "branch3x3dbl_3b": (384, 384, *col),
                  "branch_pool": (c, 192, 1)},
                 [["branch1x1"], ["branch3x3_1"], ["branch3x3dbl_1", "branch3x3dbl_2"]],
                 "avg", splits={"branch3x3_1": ("branch3x3_2a", "branch3x3_2b"),
                                "branch3x3dbl_2": ("branch3x3dbl_3a", "branch3x3dbl_3b")})


class Aux(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0, self.conv1 = ConvBN(768, 128, 1), ConvBN(128, 768, 5)
        self.fc = nn.Linear(768, 1000)

    def forward(self, x):
        x = self.conv1(self.conv0(F.avg_pool2d(x, 5, 3)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InceptionV3(nn.Module):
    def __init__(self, aux):
        super().__init__()
        stem = {"Conv2d_1a_3x3": (3, 32, 3, 2), "Conv2d_2a_3x3": (32, 32, 3),
                "Conv2d_2b_3x3": (32, 64, 3, 1, 1), "Conv2d_3b_1x1": (64, 80, 1),
                "Conv2d_4a_3x3": (80, 192, 3)}
        for name, args in stem.items():
            self.add_module(name, ConvBN(*args))
        self.Mixed_5b, self.Mixed_5c = inception_a(192, 32), inception_a(256, 64)
        self.Mixed_5d, self.Mixed_6a = inception_a(288, 64), inception_b(288)
        self.Mixed_6b, self.Mixed_6c = inception_c(768, 128), inception_c(768, 160)
        self.Mixed_6d, self.Mixed_6e = inception_c(768, 160), inception_c(768, 192)
        self.AuxLogits = Aux() if aux else None
        self.Mixed_7a, self.Mixed_7b, self.Mixed_7c = (inception_d(768), inception_e(1280),
                                                       inception_e(2048))
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x):
        x = F.max_pool2d(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))), 3, 2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, 2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e"):
            x = getattr(self, f"Mixed_{name}")(x)
        aux = self.AuxLogits(x) if self.AuxLogits is not None else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)), aux


@pytest.mark.parametrize("aux", [True, False])
def test_inception_v3_layer_by_layer(aux):
    with torch.device("meta"):
        model = InceptionV3(aux)
    check_against_torch(cnn.inception_v3(aux_logits=aux), model, 299)
    if not aux:
        check_against_torch(cnn.inception_v3(75, aux_logits=False), model, 75)


def test_one_inception_module_on_real_numbers():
    """Mixed_6b (InceptionC, factorised 7x7) counted on CPU, not only on meta."""
    module = inception_c(768, 128)
    layers = [x for x in cnn.inception_v3() if x.name.startswith("Mixed_6b.")]
    assert sum(x.parameters for x in layers) == sum(p.numel() for p in module.parameters())
    with FlopCounterMode(display=False) as counter:
        out = module(torch.randn(1, 768, 17, 17))
    assert out.shape == (1, 768, 17, 17)
    assert sum(x.flops for x in layers) == counter.get_total_flops()


def test_flops_scale_with_the_image_area():
    """Conv FLOPs grow with the output area; the FC layers do not change."""
    small, large = cnn.vgg16(112), cnn.vgg16(224)
    for a, b in zip(small, large, strict=True):
        if a.name.startswith("conv"):
            assert b.flops == 4 * a.flops and b.parameters == a.parameters
        else:
            assert b == a


@pytest.mark.parametrize("call, message", [
    (lambda: cnn.alexnet(62), r"image_size must be >= 63 for alexnet, got 62"),
    (lambda: cnn.vgg16(31), r"image_size must be >= 32 for vgg16, got 31"),
    (lambda: cnn.vgg16(0), r"image_size must be >= 1, got 0"),
    (lambda: cnn.resnet50(-224), r"image_size must be >= 1, got -224"),
    (lambda: cnn.resnet(34), r"depth must be one of \(50, 101\), got 34"),
    (lambda: cnn.inception_v3(74, aux_logits=False), r"image_size must be >= 75"),
    (lambda: cnn.inception_v3(75), r"image_size must be >= \d+ for inception_v3 with aux"),
])
def test_bad_sizes_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="image_size must be an integer"):
        cnn.resnet101(224.0)
    with pytest.raises(TypeError, match="aux_logits must be True or False"):
        cnn.inception_v3(aux_logits=1)
