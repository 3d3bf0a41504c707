"""PyTorch -> hls4ml -> kiln IR: Brevitas (via QONNX) and plain torch.nn, bit for bit, and
clear errors on models kiln cannot build exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from kiln import frontend, hls
from kiln.compiler import BuildOptions
from kiln.errors import InputShapeError, ModelLoadError, PrecisionError, UnsupportedLayerError
from kiln.fixed import execute, from_float, to_float
from kiln.frontend._onnx import run_onnx
from kiln.frontend._torch import (
    convert_torch,
    is_torch_model,
    load_torch,
    save_torch_source,
    torch_reference_is_bit_exact,
)
from kiln.ir import Dense, Graph, Input, Relu

REPO = Path(__file__).resolve().parents[2]
QONNX_FILE = REPO / "models" / "digits_mlp_brevitas.onnx"
qnn = pytest.importorskip("brevitas.nn")


def _build(source: Any, out: Path, name: str, **options: Any) -> tuple[Graph, hls.CSim]:
    build = BuildOptions(**options)
    model_graph = convert_torch(source, out, build)
    graph = frontend.lower(model_graph, name, build)
    library = hls.write_and_compile(model_graph)
    return graph, hls.CSim(library, graph.input.out_type, graph.output.out_type,
                           graph.input.size, graph.output.size)


def _same_graph(a: Graph, b: Graph) -> bool:
    arrays = ("weight", "bias")
    return len(a.nodes) == len(b.nodes) and all(
        type(x) is type(y) and x.out_type == y.out_type and x.shape == y.shape
        and all(np.array_equal(getattr(x, k), getattr(y, k)) for k in arrays if hasattr(x, k))
        for x, y in zip(a.nodes, b.nodes, strict=True)
    )


def _codes(x: np.ndarray, graph: Graph) -> np.ndarray:
    return from_float(torch.from_numpy(x.astype(np.float64)), graph.input.out_type).numpy()


@pytest.fixture(scope="module")
def brevitas_model() -> nn.Module:
    from models.digits_mlp_brevitas import load_model

    return load_model()


@pytest.fixture(scope="module")
def brevitas_artifact(brevitas_model, tmp_path_factory):  # type: ignore[no-untyped-def]
    import kiln

    return kiln.compile(brevitas_model, tmp_path_factory.mktemp("art") / "digits_brevitas",
                        input_shape=(64,))


@pytest.fixture(scope="module")
def brevitas_hls(brevitas_model, brevitas_artifact):  # type: ignore[no-untyped-def]
    """The source, the compiled artifact's IR and its HLS C simulation (built once)."""
    graph = brevitas_artifact.graph
    csim = hls.CSim(hls.find_library(brevitas_artifact.path / "hls"), graph.input.out_type,
                    graph.output.out_type, graph.input.size, graph.output.size)
    return load_torch(brevitas_model, (64,)), graph, csim


def test_brevitas_lowering_shape_and_types(brevitas_hls) -> None:  # type: ignore[no-untyped-def]
    source, graph, _ = brevitas_hls
    assert source.kind == "brevitas" and is_torch_model(source.model)
    assert [type(n) for n in graph.nodes] == [Input, Dense, Relu, Dense, Relu, Dense]
    assert [n.size for n in graph.nodes] == [64, 32, 32, 32, 32, 10]
    # The input quantizer (scale 1/32, 6 bits, unsigned) is the input type; no cast remains.
    assert str(graph.input.out_type) == "ufixed<6,1,RND_CONV,SAT>"
    assert str(graph.nodes[1].weight_type) == "fixed<6,1,RND_CONV,SAT_SYM>"  # narrow range
    assert torch_reference_is_bit_exact(source, BuildOptions())
    assert not torch_reference_is_bit_exact(source, BuildOptions(input_precision="fixed<8,2>"))


def test_brevitas_hls_and_executor_agree_on_every_test_sample(  # type: ignore[no-untyped-def]
        brevitas_hls, brevitas_model, digits_data) -> None:
    from models.digits_mlp_brevitas import predict

    _, graph, csim = brevitas_hls
    _, x_test, _, y_test = digits_data
    codes = _codes(x_test, graph)
    kiln_codes = execute(graph, torch.from_numpy(codes))["output"].numpy()
    hls_codes = csim.run(codes)
    brevitas_values = predict(brevitas_model, x_test).astype(np.float64)
    brevitas_codes = from_float(torch.from_numpy(brevitas_values), graph.output.out_type).numpy()
    # Brevitas' logits are exact codes of the output type: its quantizers define every type.
    assert np.array_equal(
        to_float(torch.from_numpy(brevitas_codes), graph.output.out_type).numpy(),
        brevitas_values)
    assert len(codes) == 450
    assert np.array_equal(kiln_codes, hls_codes)
    assert np.array_equal(kiln_codes, brevitas_codes)
    assert (kiln_codes.argmax(axis=1) == y_test).mean() > 0.9


def test_qonnx_file_gives_the_same_graph_and_reference(  # type: ignore[no-untyped-def]
        brevitas_hls, brevitas_model, digits_data, tmp_path: Path) -> None:
    from models.digits_mlp_brevitas import predict

    module_source, graph, _ = brevitas_hls
    source = load_torch(QONNX_FILE)
    assert source.kind == "qonnx" and source.files == (QONNX_FILE,)
    from_file = frontend.lower(convert_torch(source, tmp_path / "hls", BuildOptions()),
                               "digits_brevitas", BuildOptions())
    assert _same_graph(from_file, graph)
    assert torch_reference_is_bit_exact(source, BuildOptions())
    saved = save_torch_source(module_source, tmp_path / "model" / "source.onnx")
    x_test = digits_data[1]
    assert np.array_equal(run_onnx(saved, x_test), predict(brevitas_model, x_test))


@pytest.fixture(scope="module")
def plain_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).eval()


def test_plain_torch_executor_equals_hls(  # type: ignore[no-untyped-def]
        plain_model, digits_data, tmp_path: Path) -> None:
    source = load_torch(plain_model, (64,))
    assert source.kind == "torch" and not torch_reference_is_bit_exact(source, BuildOptions())
    graph, csim = _build(source, tmp_path / "hls", "plain", precision="fixed<8,3>")
    assert str(graph.input.out_type) == "fixed<8,3,TRN,WRAP>"
    assert str(graph.nodes[1].weight_type) == "fixed<8,3,TRN,WRAP>"
    t = graph.input.out_type
    rng = np.random.default_rng(0)
    codes = np.concatenate([_codes(digits_data[1], graph),
                            rng.integers(t.min_code, t.max_code + 1, size=(300, 64))])
    kiln_codes = execute(graph, torch.from_numpy(codes))["output"].numpy()
    assert np.array_equal(kiln_codes, csim.run(codes))
    # A TorchScript file of the same model takes the ONNX route to the same IR.
    script = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(plain_model), script)
    scripted = load_torch(script, (64,))
    assert scripted.kind == "torchscript"
    options = BuildOptions(precision="fixed<8,3>")
    from_script = frontend.lower(convert_torch(scripted, tmp_path / "hls_ts", options), "plain",
                                 options)
    assert _same_graph(from_script, graph)


def test_float_model_needs_a_precision(plain_model, tmp_path: Path) -> None:
    source = load_torch(plain_model, (64,))
    with pytest.raises(PrecisionError, match="float.*precision="):
        convert_torch(source, tmp_path, BuildOptions())
    with pytest.raises(PrecisionError, match="'fixed<a,3>'"):
        convert_torch(source, tmp_path, BuildOptions(precision="fixed<a,3>"))


def test_unsupported_layers_are_named(tmp_path: Path) -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(1, 2, 3)
            self.fc = nn.Linear(12, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(x).flatten(1))

    # A convolution builds in io_parallel too (kiln.rtl._parallel_conv).
    convert_torch(load_torch(Net(), (1, 8)), tmp_path / "net", BuildOptions(precision="fixed<8,3>"))
    quant = nn.Sequential(qnn.QuantConv1d(1, 2, 3), nn.Flatten())
    # Float (not power-of-two) Brevitas scales: refused for the type, naming the layer.
    with pytest.raises(PrecisionError, match=r"layer '0' \(QuantConv1d\).*not a power of two"):
        convert_torch(load_torch(quant, (1, 8)), tmp_path, BuildOptions())
    gelu = nn.Sequential(nn.Linear(4, 4), nn.GELU())
    for io_type in ("io_parallel", "io_stream"):
        with pytest.raises(UnsupportedLayerError, match=r"module '1' \(GELU\): not built by "
                           r"kiln. Fix: replace it with nn.ReLU(?s:.*)builds Linear, ReLU.*"
                           r"Conv1d"):
            convert_torch(load_torch(gelu, (4,)), tmp_path,
                          BuildOptions(io_type=io_type, precision="fixed<8,3>"))
    # Operators are checked too, in files kiln only sees as ONNX.
    script = tmp_path / "leaky.pt"
    torch.jit.save(torch.jit.script(nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU())), script)
    with pytest.raises(UnsupportedLayerError, match=r"'1'.*LeakyRelu.*Supported ONNX"):
        convert_torch(load_torch(script, (4,)), tmp_path, BuildOptions(precision="fixed<8,3>"))


def test_channels_first_cnn_is_converted_channels_last_for_io_stream(tmp_path: Path) -> None:
    from kiln.frontend._torch import prepare_torch
    from models.digits_cnn_brevitas import INPUT_SHAPE, QONNX_FILE, DigitsCNN

    torch.manual_seed(0)
    source = load_torch(DigitsCNN().eval(), INPUT_SHAPE)  # PyTorch's (channels, height, width)
    prepared = prepare_torch(source)
    shape = [d.dim_value for d in prepared.model.graph.input[0].type.tensor_type.shape.dim]
    assert shape == [1, 8, 8, 1]  # hls4ml's channels-last layout
    assert prepared.stream_layers == ("layer 'conv1' (ONNX node '/conv1/Conv') (Conv)",
                                      "layer 'pool1' (ONNX node '/pool1/MaxPool') (MaxPool)",
                                      "layer 'conv2' (ONNX node '/conv2/Conv') (Conv)",
                                      "ONNX node '/Flatten' (Flatten)")
    # io_parallel builds it too (kiln.rtl._parallel_conv): the exported QONNX converts.
    convert_torch(load_torch(QONNX_FILE), tmp_path, BuildOptions())


def test_dynamic_shapes_are_refused(tmp_path: Path) -> None:
    class Flat(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.view(x.size(0), -1))

    with pytest.raises(InputShapeError, match=r"dynamic or invalid dimension 0 \(None\)"):
        load_torch(Flat(), (None,))
    with pytest.raises(InputShapeError, match="input_shape=.*--input-shape"):
        load_torch(Flat())
    with pytest.raises(InputShapeError, match=r"node 'size' .*dynamic shape"):
        convert_torch(load_torch(Flat(), (8, 8)), tmp_path, BuildOptions(precision="fixed<8,3>"))
    exported = tmp_path / "dynamic.onnx"
    torch.onnx.export(nn.Sequential(nn.Linear(64, 10)), (torch.zeros(1, 64),), str(exported),
                      dynamo=False, input_names=["pixels"],
                      dynamic_axes={"pixels": {0: "batch", 1: "features"}})
    with pytest.raises(InputShapeError, match=r"'pixels' has shape \['batch', 'features'\]"):
        convert_torch(load_torch(exported), tmp_path, BuildOptions(precision="fixed<8,3>"))
    assert load_torch(exported, (64,)).input_shape == (64,)


def test_non_power_of_two_scales_are_refused(tmp_path: Path) -> None:
    from brevitas.quant import Uint8ActPerTensorFixedPoint
    from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint

    # Brevitas' default QuantLinear weight quantizer has a float scale.
    model = nn.Sequential(qnn.QuantIdentity(act_quant=Uint8ActPerTensorFixedPoint),
                          qnn.QuantLinear(8, 4, bias=False))
    with pytest.raises(PrecisionError, match=r"layer '1' \(QuantLinear\) weight_quant "
                       r"Int8WeightPerTensorFloat: scale .* not a power of two.*"
                       r"Int8WeightPerTensorFixedPoint"):
        convert_torch(load_torch(model, (8,)), tmp_path, BuildOptions())
    per_channel = nn.Sequential(qnn.QuantLinear(8, 4, bias=False,
                                                weight_quant=Int8WeightPerChannelFixedPoint))
    with torch.no_grad():
        per_channel[0].weight.mul_(torch.tensor([[1.0], [4.0], [16.0], [64.0]]))
    with pytest.raises(PrecisionError, match="per-channel scales"):
        convert_torch(load_torch(per_channel, (8,)), tmp_path, BuildOptions())


def test_float_parameters_of_a_brevitas_model_need_a_precision(tmp_path: Path) -> None:
    from brevitas.quant import Int8WeightPerTensorFixedPoint

    model = nn.Sequential(qnn.QuantLinear(8, 4, bias=True,
                                          weight_quant=Int8WeightPerTensorFixedPoint))
    source = load_torch(model, (8,))
    with pytest.raises(PrecisionError, match="float parameters.*bias of layer '0'"):
        convert_torch(source, tmp_path, BuildOptions())
    assert not torch_reference_is_bit_exact(source, BuildOptions())


def test_missing_and_bad_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_torch(tmp_path / "nope.pt", (4,))
    weights = tmp_path / "weights.pt"
    torch.save(nn.Linear(4, 2).state_dict(), weights)
    with pytest.raises(ModelLoadError, match="state_dict.*export_qonnx"):
        load_torch(weights, (4,))
    corrupt = tmp_path / "broken.onnx"
    corrupt.write_bytes(b"not an onnx file")
    with pytest.raises(ModelLoadError, match="Cannot read ONNX model"):
        load_torch(corrupt)
    with pytest.raises(ModelLoadError, match="not a torch.nn.Module"):
        load_torch(object(), (4,))
    assert is_torch_model("m.onnx") and is_torch_model(Path("m.pt"))
    assert not is_torch_model("m.h5")


def test_compile_brevitas_artifact_and_reference(  # type: ignore[no-untyped-def]
        brevitas_artifact, digits_data) -> None:
    import kiln

    art = brevitas_artifact
    assert art.manifest.framework == "brevitas" and art.manifest.reference_bit_exact
    assert art.manifest.input_type == "ufixed<6,1,RND_CONV,SAT>"
    _, x_test, _, y_test = digits_data
    report = kiln.load(art.path).compare(x_test, devices=["reference", "hls", "cpu"],
                                         y_true=y_test)
    assert report.all_bit_exact and report.row("cpu").mismatches == 0
    assert report.row("cpu").max_lsb_vs_reference == 0  # the Brevitas (QONNX) reference
