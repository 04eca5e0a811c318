"""The generated models run: their shapes and parameter counts are archc's, timm's weights load
into them and give timm's outputs, and they work with the tools PyTorch users rely on."""

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.ir.cost import CostModel  # noqa: E402
from archc.ir.graph import BODY, HEAD  # noqa: E402
from archc.ir.graph import node as node_of  # noqa: E402

from .conftest import NETWORK_SPECS, SPECS, randomise_batchnorm  # noqa: E402

IDS = [p.stem for p in NETWORK_SPECS]
SMALL = (2, 3, 75, 75)  # the smallest input all three accept: fast


@pytest.fixture(scope="module", params=NETWORK_SPECS, ids=IDS)
def network(request):
    return archc.compile_spec(str(request.param))


def model_of(network, **kwargs):
    torch.manual_seed(0)
    return archc.build_model(network, **kwargs).eval()


def test_parameter_count_is_archc_checks(network):
    model = model_of(network)
    assert sum(p.numel() for p in model.parameters()) == \
        CostModel(network, network.shapes).total().params


def test_output_is_batch_by_num_classes(network):
    model = model_of(network, num_classes=17)
    with torch.no_grad():
        assert model(torch.randn(SMALL)).shape == (2, 17)


def test_every_module_output_has_the_shape_the_ir_says(network):
    """At the declared input size, for every layer of the network and of one instance of every
    block it uses."""
    model = model_of(network)
    expected: dict[str, tuple] = {}

    def expect(graph, shapes, calls, prefix):
        for node in graph:
            data = node_of(graph, node)
            for i, path in enumerate(data.paths):
                name = prefix + ".".join(str(p) for p in path)
                if node in calls:  # a block instance: its own shape and its layers' shapes
                    key = calls[node][i]
                    instance = network.shapes.instances[key]
                    expected[name] = instance.output
                    block = network.blocks[key[0]].graph
                    expect(block, instance.shapes, instance.calls, name + ".")
                elif i == len(data.paths) - 1 or not isinstance(path[-1], int):
                    expected[name] = shapes[node]

    s = network.shapes
    expect(network.body, s.body, s.of(BODY).calls, "")
    expect(network.head, s.head, s.of(HEAD).calls, "")
    seen: dict[str, tuple] = {}
    modules = dict(model.named_modules())
    handles = [modules[name].register_forward_hook(
        lambda module, args, out, name=name: seen.__setitem__(name, tuple(out.shape[1:])))
        for name in expected]
    with torch.no_grad():
        model(torch.randn(1, *network.input_shape))
    for handle in handles:
        handle.remove()
    assert seen == expected


# ---------------------------------------------------------------------------------- timm


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_timm_weights_load_strictly_and_give_timms_outputs(name, mode):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False, drop_rate=0.2)
    with torch.no_grad():
        randomise_batchnorm(reference)
    model = archc.build_model(SPECS / f"{name}.yaml")
    model.load_state_dict(reference.state_dict(), strict=True)
    reference.train(mode == "train")
    model.train(mode == "train")
    x = torch.randn(2, 3, 299, 299)
    with torch.no_grad():
        assert (model.forward_features(x) - reference.forward_features(x)).abs().max() <= 1e-4
        torch.manual_seed(2)  # the same dropout mask in train mode
        expected = reference(x)
        torch.manual_seed(2)
        got = model(x)
    assert got.shape == expected.shape == (2, 1000)
    assert (got - expected).abs().max() <= 1e-4


# -------------------------------------------------------------------------------- tooling


def test_fx_symbolic_trace(network):
    model = model_of(network)
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(SMALL)
    with torch.no_grad():
        assert torch.equal(traced(x), model(x))


@pytest.mark.slow
def test_torch_compile_inductor():
    model = model_of(archc.compile_spec(str(SPECS / "inception_resnet_v1.yaml")))
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(SMALL)
    with torch.no_grad():
        assert (compiled(x) - model(x)).abs().max() <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_dynamo_traces_without_graph_breaks(name):
    model = archc.build_model(SPECS / f"{name}.yaml").eval()
    with torch.no_grad():
        explanation = torch._dynamo.explain(model)(torch.randn(SMALL))
    assert explanation.graph_count == 1
    assert explanation.graph_break_count == 0


def test_channels_last(network):
    model = model_of(network)
    x = torch.randn(SMALL)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        got = model(x.to(memory_format=torch.channels_last))
    assert (got - expected).abs().max() <= 1e-4


def test_autocast_bfloat16(network):
    model = model_of(network)
    x = torch.randn(SMALL)
    with torch.no_grad():
        expected = model.forward_features(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = model.forward_features(x)
    assert got.dtype == torch.bfloat16
    similarity = torch.nn.functional.cosine_similarity(got.float().flatten(),
                                                       expected.flatten(), dim=0)
    assert similarity > 0.99


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_onnx_export_runs_in_onnxruntime(name, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = model_of(archc.compile_spec(str(SPECS / f"{name}.yaml")))
    x = torch.randn(SMALL)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True, verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == expected.shape
    assert abs(got - expected).max() <= 1e-4


# ------------------------------------------------------------------------------------ GPU


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_forward_backward_bf16_channels_last(network):
    model = model_of(network).cuda().train().to(memory_format=torch.channels_last)
    x = torch.randn(8, *network.input_shape, device="cuda").to(memory_format=torch.channels_last)
    target = torch.randint(0, 1000, (8,), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, target)
    loss.backward()
    assert logits.shape == (8, 1000) and logits.dtype == torch.bfloat16
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    print(f"{network.name}: loss {loss.item():.4f}, "
          f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


@pytest.mark.parametrize("count_pad", [False, True])
def test_avgpool_count_pad_setting_is_the_generated_pools(tmp_path, count_pad):
    spec = tmp_path / "pool.yaml"
    spec.write_text(f"name: pool\ninput: {{channels: 2, size: 5}}\n"
                    f"settings: {{avgpool: {{count_pad: {str(count_pad).lower()}}}}}\n"
                    "layers:\n  - pool: avgpool 3x3\n")
    model = archc.build_model(spec)
    x = torch.rand(1, 2, 5, 5) + 1
    expected = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1,
                                              count_include_pad=count_pad)
    assert torch.equal(model(x), expected)
    corner = x[0, :, :2, :2].sum((1, 2)) / (9 if count_pad else 4)  # 4 real values of 9
    assert torch.allclose(model(x)[0, :, 0, 0], corner)


GOOD_FOLDER = SPECS.parent / "tests" / "fixtures" / "good"
GOOD = sorted(GOOD_FOLDER.glob("*.yaml"))


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_unusual_valid_specs_build_and_agree_with_archc(path):
    network = archc.compile_spec(str(path))
    model = model_of(network)
    assert sum(p.numel() for p in model.parameters()) == \
        CostModel(network, network.shapes).total().params
    with torch.no_grad():
        out = model(torch.randn(2, *network.input_shape))
    s = network.shapes
    expected = s.head[network.head.graph["output"]] if len(network.head) > 1 else \
        s.body[network.body.graph["output"]]
    assert tuple(out.shape) == (2, *expected)


def test_num_classes_can_differ_from_the_spec():
    network = archc.compile_spec(str(GOOD_FOLDER / "headless_with_class_channels.yaml"))
    model = model_of(network, num_classes=5)  # the block's input channels follow
    with torch.no_grad():
        assert model(torch.randn(1, 3, 16, 16)).shape == (1, 8, 16, 16)
    spec = archc.compile_spec(str(GOOD_FOLDER / "nested_and_growing.yaml"))
    assert model_of(spec).fc.out_features == 7  # the spec's num_classes


def test_reserved_module_attributes_are_all_of_nn_modules():
    from archc.backends.torch.names import MODULE_ATTRIBUTES

    public = {name for name in dir(torch.nn.Module) if not name.startswith("_")}
    assert public <= MODULE_ATTRIBUTES
