"""`archc build --deploy`: the inference modules (archc/passes/), proven equal to the trained
modules they are converted from.

Each trained model gets variance-preserving conv weights (He's normal init) and random BatchNorm
statistics and affine weights, so that every layer's weights reach the output: with PyTorch's
default init the signal fades within a few layers and outputs hardly depend on the input. The
comparison is relative to the output's size, as float32 rounding grows with it; each test
checks first that the output depends on the input by far more than the tolerance.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.cli import main  # noqa: E402

from .conftest import ROOT, SPECS, randomise_batchnorm  # noqa: E402

ALL_SPECS = [*sorted(SPECS.glob("*.yaml")), *sorted((SPECS / "variants").glob("*.yaml")),
             *sorted((SPECS / "zoo").glob("*.yaml"))]
TOLERANCE = 1e-4  # of the largest output value


def trained_model(spec):
    torch.manual_seed(0)
    model = archc.build_model(spec)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    randomise_batchnorm(model)
    return model.eval()


def assert_equal_outputs(trained, deploy, shape, dtype=torch.float32):
    torch.manual_seed(1)
    x = torch.randn(2, *shape, dtype=dtype)
    with torch.no_grad():
        want = trained.forward_features(x)
        got = deploy.forward_features(x)
        logits_want, logits_got = trained.forward_head(want), deploy.forward_head(got)
    scale = want.abs().max()
    assert (want[0] - want[1]).abs().max() > 100 * TOLERANCE * scale  # it sees the input
    assert (got - want).abs().max() <= TOLERANCE * scale
    assert (logits_got - logits_want).abs().max() <= TOLERANCE * logits_want.abs().max()


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda p: p.stem)
def test_the_deploy_module_computes_what_the_trained_one_does(spec):
    network = archc.compile_spec(str(spec))
    trained = trained_model(network)
    deploy = archc.build_model(network, deploy=True)
    dtype = torch.float32
    if spec.parent.name == "zoo":
        # A deep ResNet with He's init and random BatchNorm multiplies a difference by 3 or more
        # per block: float32's rounding alone would differ by 30% after 16 blocks. In float64,
        # the weights folded in float64 too, what is compared is the passes' arithmetic.
        trained.double(), deploy.double()
        dtype = torch.float64
    deploy.load_trained(trained.state_dict())
    assert_equal_outputs(trained, deploy, network.input_shape, dtype)


def test_the_comparison_sees_a_wrong_weight():
    """The same comparison fails when one BatchNorm of the trained model changes after the
    conversion: the deploy module's equality is not that of two constant outputs."""
    spec = str(SPECS / "inception_resnet_v2.yaml")
    trained = trained_model(spec)
    deploy = archc.build_model(spec, deploy=True)
    deploy.load_trained(trained.state_dict())
    with torch.no_grad():
        trained.repeat_1[7].branch1[1].bn.running_var.mul_(1.5)
    with pytest.raises(AssertionError):
        assert_equal_outputs(trained, deploy, (3, 299, 299))


def test_packed_weights_follow_the_weights_they_were_made_from():
    """The oneDNN copies of the weights (packed on the first call) are made again when the
    weights change in place or are replaced, and are not part of state_dict or copies."""
    import copy

    spec = str(SPECS / "inception_v4.yaml")
    first, second = trained_model(spec), trained_model(spec)
    with torch.no_grad():
        for module in second.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(-1)
    deploy = archc.build_model(spec, deploy=True).eval()
    deploy.load_trained(first.state_dict())
    assert_equal_outputs(first, deploy, (3, 75, 75))
    keys = set(deploy.state_dict())
    deploy.load_trained(second.state_dict())  # copies into the same weights, in place
    assert_equal_outputs(second, deploy, (3, 75, 75))
    twin = copy.deepcopy(deploy)
    twin.load_state_dict({k: v.clone() for k, v in deploy.state_dict().items()})
    assert set(deploy.state_dict()) == keys
    with torch.no_grad():
        conv = deploy.features[0].conv
        conv.weight = torch.nn.Parameter(conv.weight * 2)  # replaced
    with pytest.raises(AssertionError):
        assert_equal_outputs(second, deploy, (3, 75, 75))
    assert_equal_outputs(second, twin, (3, 75, 75))
    x = torch.randn(2, 3, 75, 75)
    with torch.no_grad():  # channels_last inputs after NCHW ones of the same shape
        assert torch.allclose(twin(x.contiguous(memory_format=torch.channels_last)), twin(x),
                              rtol=1e-4, atol=1e-4)


def test_the_generated_file_converts_a_trained_state_dict(tmp_path):
    """generated/<name>_deploy.py on its own: from_trained, channels_last, and no training."""
    import importlib.util

    path = ROOT / "generated" / "inception_v4_deploy.py"
    spec = importlib.util.spec_from_file_location("inception_v4_deploy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    trained = trained_model(str(SPECS / "inception_v4.yaml"))
    deploy = module.InceptionV4Deploy.from_trained(trained.state_dict())
    assert not deploy.training and not any(m.training for m in deploy.modules())
    assert deploy.features[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert_equal_outputs(trained, deploy, (3, 299, 299))
    with pytest.raises(RuntimeError, match="InceptionV4Deploy is for inference .* train "
                                           "InceptionV4, then convert its weights"):
        deploy.train()
    assert deploy.eval() is deploy


def test_residual_scales_are_folded_away():
    """Inception-ResNet-v2's deploy forward multiplies by no residual scale: the scale is in the
    projection's weights."""
    source = (ROOT / "generated" / "inception_resnet_v2_deploy.py").read_text()
    assert "self.scale *" not in source and "* out" not in source
    assert "nn.BatchNorm2d" not in source
    assert 'trained, self.conv2d, prefix + "conv2d.", conv="", bias=True, scale=self.scale\n' \
        in source


def test_build_deploy_writes_the_inference_module(tmp_path, capsys, chdir_root):
    spec = "specs/inception_v4.yaml"
    assert main(["build", "--deploy", "-o", str(tmp_path), spec]) == 0
    assert (tmp_path / "inception_v4_deploy.py").read_text() == \
        (ROOT / "generated" / "inception_v4_deploy.py").read_text()
    (tmp_path / "inception_v4_deploy.py").write_text("# old\n")
    assert main(["build", "--check", "--deploy", "-o", str(tmp_path), spec]) == 1
    assert f"run `archc build -o {tmp_path} --deploy {spec}`" in capsys.readouterr().err


def test_build_model_deploy_checks_its_argument():
    with pytest.raises(TypeError, match="deploy must be True or False"):
        archc.build_model(str(SPECS / "inception_v4.yaml"), deploy="yes")


class OnCUDA(torch.Tensor):
    """A CPU tensor that says it is on CUDA, so that a deploy module takes its CUDA path, and
    runs cuDNN's fused convolutions by their definition: relu(conv(x) + bias + alpha * z)."""

    calls: list[str] = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func == torch.Tensor.device.__get__:
            return torch.device("cuda")
        if func is torch.cudnn_convolution_relu:
            x, weight, bias, stride, padding, dilation, groups = args
            shortcut, alpha = None, 0
        elif func is torch.cudnn_convolution_add_relu:
            x, weight, shortcut, alpha, bias, stride, padding, dilation, groups = args
        else:
            return super().__torch_function__(func, types, args, kwargs or {})
        cls.calls.append(func.__name__)
        with torch._C.DisableTorchFunctionSubclass():
            out = torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups)
            if shortcut is not None:
                out = out + alpha * shortcut
            return torch.relu(out).as_subclass(cls)


@pytest.mark.parametrize("spec, residuals", [("inception_v4", 0), ("inception_resnet_v2", 39)])
def test_on_cuda_convs_run_as_cudnn_fused_calls(spec, residuals, monkeypatch):
    """On CUDA every conv + ReLU is one cudnn_convolution_relu, and every residual tail with a
    ReLU one cudnn_convolution_add_relu (Inception-ResNet-v2: 10 A, 20 B and 9 of its 10 C
    blocks), with the arguments in cuDNN's order: the outputs are the trained module's."""
    path = str(SPECS / f"{spec}.yaml")
    network = archc.compile_spec(path)
    trained = trained_model(network)
    deploy = archc.build_model(network, deploy=True)
    deploy.load_trained(trained.state_dict())
    conv_relus = sum(type(m).__name__ == "ConvReLU" for m in deploy.modules())
    monkeypatch.setattr(OnCUDA, "calls", [])
    torch.manual_seed(1)
    x = torch.randn(2, *network.input_shape)
    with torch.no_grad():
        want = trained.forward_features(x)
        got = deploy.forward_features(x.as_subclass(OnCUDA)).as_subclass(torch.Tensor)
    assert OnCUDA.calls.count("cudnn_convolution_relu") == conv_relus > 0
    assert OnCUDA.calls.count("cudnn_convolution_add_relu") == residuals
    assert (want[0] - want[1]).abs().max() > 100 * TOLERANCE * want.abs().max()
    assert (got - want).abs().max() <= TOLERANCE * want.abs().max()
    OnCUDA.calls.clear()
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=False):
        deploy.forward_features(x.as_subclass(OnCUDA))
    assert OnCUDA.calls == []


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_gradients_reach_the_input(device, monkeypatch):
    """Gradients with respect to the input (saliency maps, adversarial examples) are the trained
    module's: where autograd records, the convs run as plain ops, not the fused calls (which
    have no gradients), and merged convs' slices are not written in place. Gradients pass ReLU
    and max pool kinks, which rounding moves: the trained module's own float32 gradients differ
    from its float64 ones by about 0.3% (in norm) here, hence the tolerance of 2%. Outside
    autograd the deploy module records nothing: its weights need no gradients."""
    spec = str(SPECS / "inception_v4.yaml")
    trained = trained_model(spec)
    deploy = archc.build_model(spec, deploy=True)
    deploy.load_trained(trained.state_dict())
    assert not any(p.requires_grad for p in deploy.parameters())
    torch.manual_seed(2)
    x = torch.randn(2, 3, 75, 75)
    monkeypatch.setattr(OnCUDA, "calls", [])
    grads = []
    for model, given in ((trained, x.clone()), (deploy, x.as_subclass(OnCUDA) if device == "cuda"
                                                  else x.clone())):
        given.requires_grad_(True)
        model(given).square().sum().backward()
        grads.append(given.grad.as_subclass(torch.Tensor))
    want, got = grads
    assert OnCUDA.calls == []
    assert (want[0] - want[1]).norm() > 0.5 * want[0].norm()  # it sees the input
    assert (got - want).norm() <= 2e-2 * want.norm()
    assert deploy(x).grad_fn is None


def test_the_deploy_module_runs_on_the_meta_device():
    """Shapes without data (as timm's and torch's tools trace models on the meta device): the
    fused calls are for the CPU and CUDA only. Inception-ResNet-v2 at 299 ends in 1536 x 8 x 8
    features (docs/reference.md)."""
    deploy = archc.build_model(str(SPECS / "inception_resnet_v2.yaml"), deploy=True).to("meta")
    x = torch.empty(2, 3, 299, 299, device="meta")
    with torch.no_grad():
        assert deploy.forward_features(x).shape == (2, 1536, 8, 8)
    assert deploy(x).shape == (2, 1000)


def test_autocast_is_honoured():
    """Under autocast the deploy module's convs run in autocast's dtype, as the trained
    module's do, rather than in float32 through a fused call."""
    spec = str(SPECS / "inception_resnet_v2.yaml")
    trained = trained_model(spec)
    deploy = archc.build_model(spec, deploy=True)
    deploy.load_trained(trained.state_dict())
    x = torch.randn(2, 3, 75, 75)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        want, got = trained.forward_features(x), deploy.forward_features(x)
    assert want.dtype == got.dtype == torch.bfloat16
    assert (got - want).float().abs().max() <= 5e-2 * want.float().abs().max()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("spec", ["inception_v4", "inception_resnet_v2"])
def test_the_deploy_module_computes_what_the_trained_one_does_on_a_gpu(spec, monkeypatch):
    path = str(SPECS / f"{spec}.yaml")
    network = archc.compile_spec(path)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # float32 as on the CPU
    trained = trained_model(path).cuda()
    deploy = archc.build_model(network, deploy=True)
    deploy.load_trained(trained.state_dict())
    deploy.cuda()
    x = torch.randn(2, *network.input_shape, device="cuda")
    with torch.no_grad():
        want, got = trained.forward_features(x), deploy.forward_features(x)
        assert (got - want).abs().max() <= TOLERANCE * want.abs().max()
        # bfloat16 (cuDNN's fused calls), and autocast (separate ops), within bfloat16's error
        got = deploy.to(torch.bfloat16).forward_features(x.to(torch.bfloat16)).float()
        assert (got - want).abs().max() <= 5e-2 * want.abs().max()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            got = deploy.float().forward_features(x)
        assert got.dtype == torch.bfloat16
        assert (got.float() - want).abs().max() <= 5e-2 * want.abs().max()


def test_attributes_the_deploy_module_adds_take_no_module_name(tmp_path):
    """A deploy block keeps a merged conv's part bounds (block parameters) and whether its
    fused residual applies a ReLU as attributes; a module with the same name keeps its own."""
    spec = tmp_path / "net.yaml"
    spec.write_text("""\
name: clash
input: {size: 16}
blocks:
  Res:
    params: [activation, c1]
    residual: {scale: 1.0, activation: activation}
    layers:
      - concat:
          b1: conv 1x1 c1
          b2: conv 1x1 8
      - c1: conv 3x3 16
      - relu: conv 3x3 16
      - conv2d: conv 1x1 in linear
layers:
  - stem: conv 3x3 16
  - a: Res(activation=relu, c1=8)
  - b: Res(activation=none, c1=8)
""")
    network = archc.compile_spec(str(spec))
    trained = trained_model(network)
    deploy = archc.build_model(network, deploy=True)
    deploy.load_trained(trained.state_dict())
    assert isinstance(deploy.a.c1, torch.nn.Module) and isinstance(deploy.a.relu, torch.nn.Module)
    assert_equal_outputs(trained, deploy, network.input_shape)


# Steps whose deploy modules were once wrong or failed to build: layers after a swapped pool's
# 1x1 conv in the same list (its ReLU came after the whole list), a residual branch that is or
# ends in an unnamed list (its last conv's fused add was lost, or called the list), a residual
# of one conv, which reads what the shortcut is (the add lost an input), and merged convs whose
# filters are written with `in` (their bounds named an argument the block does not take).
# Each: a residual block's settings and layers, or None and a step of the body.
SHAPES = {
    "pool, 1x1, 3x3 in a concat branch":
        (None, "concat: {a: [avgpool 3x3, conv 1x1 4, conv 3x3 4], b: conv 1x1 4}"),
    "pool, 1x1, 1x1 in a list": (None, "m: [avgpool 3x3, conv 1x1 4, conv 1x1 4]"),
    "pool, linear 1x1, 3x3 in a list": (None, "m: [avgpool 3x3, conv 1x1 4 linear, conv 3x3 4]"),
    "residual list": ("{scale: 0.5}", "body: [conv 1x1 8, conv 1x1 8 linear]"),
    "residual list, scale 1, no activation":
        ("{scale: 1.0, activation: none}", "body: [conv 1x1 8, conv 1x1 8 noact]"),
    "residual list, downsampling shortcut":
        ("{scale: 0.5, shortcut: [{downsample: [conv 1x1 8 noact]}]}",
         "body: [conv 1x1 8, conv 1x1 8 linear]"),
    "residual of one conv": ("{scale: 0.5}", "proj: conv 3x3 in linear"),
    "residual of one depthwise conv": ("{scale: 1.0}", "proj: dwconv 3x3 linear"),
    "residual of a list of one conv": ("{scale: 0.5}", "proj: [conv 1x1 8 linear]"),
    "residual ending in a list of one conv":
        ("{scale: 1.0}", "a: conv 1x1 4\n      - proj: [conv 1x1 8 linear]"),
    # found by test_deploy_properties.py: merged convs' bounds written with `in`
    "merged convs of `in` filters":
        ("{scale: 1.0}", "concat: {a: conv 1x1 (in - 2), b: conv 1x1 in//2, c: conv 1x1 4}\n"
                         "      - proj: conv 1x1 in linear"),
}


@pytest.mark.parametrize("residual, step", SHAPES.values(), ids=SHAPES.keys())
def test_deploy_modules_of_steps_in_lists_and_residuals(residual, step, tmp_path):
    spec = tmp_path / "net.yaml"
    if residual is None:
        spec.write_text(f"name: net\ninput: {{size: 9}}\nlayers:\n  - stem: conv 3x3 8\n"
                        f"  - {step}\n")
    else:
        spec.write_text(f"name: net\ninput: {{size: 8}}\nblocks:\n  Res:\n"
                        f"    residual: {residual}\n    layers:\n      - {step}\n"
                        "layers:\n  - stem: conv 3x3 8\n  - blocks: 2 x Res\n")
    network = archc.compile_spec(str(spec))
    trained = trained_model(network)
    deploy = archc.build_model(network, deploy=True)
    deploy.load_trained(trained.state_dict())
    assert_equal_outputs(trained, deploy, network.input_shape)


def test_a_batchnorm_and_a_relu_of_their_own_after_a_bare_conv_join_it():
    """torchvision's ResNets write conv1, bn1, relu1 as modules of their own: the deploy module
    folds each BatchNorm into its conv and runs the ReLU with it (and the last conv with the
    residual sum), the projection's BatchNorm too, a member of the nn.Sequential `downsample`
    (which loads it from `downsample.1` where the block has one)."""
    from archc.backends.torch import generate

    source = generate(archc.compile_spec(str(SPECS / "zoo" / "resnet.yaml")), deploy=True)
    assert source.count("nn.BatchNorm2d(") == 0
    assert 'if self.downsample is not None:\n                load_conv(\n' \
        '                    trained,\n                    self.downsample[0],\n' \
        '                    prefix,\n                    conv="downsample.0.",\n' \
        '                    bn="downsample.1.",' in source  # where the block projects
    assert source.count("nn.ReLU(") == 1  # the ConvReLU unit class's own, no module of its own
    assert "self.conv1 = ConvReLU(in_channels, width, 1)" in source
    assert "fused(self.conv3, out, downsample)" in source
    assert 'load_conv(trained, self.conv1.conv, prefix, conv="conv1.", bn="bn1.", eps=1e-05)' \
        in source


@pytest.mark.parametrize("act", ["gelu", "relu", "none"])
def test_a_linear_layer_with_its_activation_is_one_call_of_the_same_numbers(act, monkeypatch):
    """runtime.Linear (ConvNeXt's pointwise layers in a deploy module): oneDNN's linear with the
    activation as its post-op where there is one, nn.Linear then the activation where autograd
    records it; both give the plain layers' outputs, channels-last or flat."""
    from torch.nn import functional

    from archc.backends.torch import runtime

    torch.manual_seed(0)
    layer = runtime.Linear(96, 384, act).eval()
    calls = []
    real = torch.ops.mkldnn._linear_pointwise
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise",
                        lambda *args: calls.append(args[3]) or real(*args), raising=False)
    plain = {"gelu": functional.gelu, "relu": torch.relu, "none": lambda x: x}[act]
    for x in (torch.randn(2, 7, 7, 96), torch.randn(5, 96)):
        want = plain(functional.linear(x, layer.weight, layer.bias))
        with torch.no_grad():
            got = layer(x)
        assert (got - want).abs().max() <= 1e-4 * want.abs().max()
        assert (layer(x) - want).abs().max() <= 1e-4 * want.abs().max()  # with autograd
    assert calls == ([act, act] if runtime.ONEDNN_LINEAR else [])


def test_convnexts_deploy_module_fuses_its_gelus_and_gives_the_same_outputs():
    """ConvNeXt's block in the deploy module: its GELU joins the linear layer before it, the
    layer scale stays; with random layer norms and layer scales (1e-6 would hide every block)
    the outputs are the trained module's."""
    from archc.backends.torch import generate

    spec = SPECS / "zoo" / "convnext.yaml"
    source = generate(archc.compile_spec(str(spec)), deploy=True)
    assert 'Linear(in_channels, 4 * in_channels, act="gelu")' in source
    assert "nn.GELU" not in source
    trained = trained_model(spec)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, tensor in trained.named_parameters():
            if name.endswith("layer_scale") or ".block.2." in name:
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
    deploy = archc.build_model(spec, deploy=True)
    deploy.load_trained(trained.state_dict())
    assert_equal_outputs(trained, deploy.eval(), (3, 64, 64))
