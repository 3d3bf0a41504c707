"""End to end: hls4ml converts and compiles Keras models ending in table activations; kiln's
softmax/sigmoid/tanh codes equal its C simulation's, layer by layer (hls4ml's trace)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kiln.fixed import (
    from_float,
    lut_codes,
    lut_table,
    softmax_codes,
    softmax_stable_defaults,
    softmax_tables,
)
from kiln.ir import LUT_IN_RANGE, FixedType, Lut, Softmax


def _type(layer: Any, attr: str) -> FixedType:
    from kiln.frontend._lower import fixed_type

    return fixed_type(layer.get_attr(attr).precision, f"{layer.name}.{attr}")


def _result(layer: Any) -> FixedType:
    from kiln.frontend._lower import fixed_type

    return fixed_type(layer.get_output_variable().type.precision, layer.name)


def _written_softmax_config(output_dir: Path) -> tuple[str, int]:
    text = (output_dir / "firmware" / "parameters.h").read_text()
    inp_norm = re.search(r"typedef (.*) inp_norm_t;", text)
    exp_size = re.search(r"exp_table_size = (\d+);", text)
    assert inp_norm and exp_size
    return inp_norm[1].replace(" ", ""), int(exp_size[1])


def _softmax_node(layer: Any, in_type: FixedType) -> Softmax:
    """The node as kiln's frontend must build it from the ModelGraph's attributes."""
    implementation = layer.get_attr("implementation")
    table_size = int(layer.get_attr("table_size"))
    exp_t, inv_t = _type(layer, "exp_table_t"), _type(layer, "inv_table_t")
    inv_inp_t = _type(layer, "inv_inp_t")
    inp_norm_t, exp_size = softmax_stable_defaults(in_type, table_size)
    if implementation != "stable":
        inp_norm_t, exp_size = FixedType(1, 0), table_size
    exp, inv = softmax_tables(implementation, in_type, exp_table_type=exp_t,
                              inv_table_type=inv_t, inv_inp_type=inv_inp_t,
                              exp_table_size=exp_size, inv_table_size=table_size)
    return Softmax(name=layer.name, source="", shape=(int(layer.get_attr("n_in")),),
                   out_type=_result(layer), implementation=implementation, exp_table=exp,
                   inv_table=inv, exp_table_type=exp_t, inv_table_type=inv_t,
                   accum_type=_type(layer, "accum_t"), inv_inp_type=inv_inp_t,
                   inp_norm_type=inp_norm_t)


def _lut_node(layer: Any) -> Lut:
    function = str(layer.get_attr("activation"))
    table_t = _type(layer, "table_t")
    table = lut_table(function, int(layer.get_attr("table_size")), table_t)
    return Lut(name=layer.name, source="", shape=(int(layer.get_attr("n_in")),),
               out_type=_result(layer), function=function, in_range=LUT_IN_RANGE[function],
               table=table, table_type=table_t)


def _codes(values: np.ndarray, t: FixedType) -> torch.Tensor:
    codes = from_float(torch.from_numpy(np.asarray(values, dtype=np.float64)), t)
    # The C simulation's values are exact codes of their type: nothing may be rounded here.
    assert np.array_equal(codes.numpy() * 2.0 ** -t.frac, values)
    return codes


def _imported_math(output_dir: Path) -> set[str]:
    library = next((output_dir / "firmware").glob("*.so"))
    symbols = subprocess.run(["nm", "-D", "--undefined-only", str(library)],
                             capture_output=True, text=True, check=True).stdout
    names = {line.split()[-1].split("@")[0] for line in symbols.splitlines() if line.strip()}
    return names & {"exp", "expf", "tanh", "tanhf"}


def _convert(model: Any, config: dict[str, Any], output_dir: Path) -> Any:
    import hls4ml

    return hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, io_type="io_parallel", backend="Vivado",
        output_dir=str(output_dir))


def test_jet_tagger_softmax(jet_model_path: Path, tmp_path: Path) -> None:
    """The hls4ml jet tagger's stable softmax (fixed<18,7> in, fixed<16,6> out, 1024-entry
    fixed<18,8,RND,SAT> tables) on its own dense outputs."""
    import hls4ml
    from tensorflow import keras

    from kiln.frontend._keras import _custom_objects

    model = keras.models.model_from_json(jet_model_path.read_text(),
                                         custom_objects=_custom_objects())
    model.load_weights(jet_model_path.with_name("qkeras_3layer_weights.h5"))
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    for name in ("output", "softmax"):
        config["LayerName"][name]["Trace"] = True
    hls_model = _convert(model, config, tmp_path)
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1.0, (6000, 16)), rng.normal(0, 4.0, (3000, 16)),
                        rng.uniform(-32, 32, (1000, 16))])
    _, trace = hls_model.trace(np.ascontiguousarray(x))

    layer = hls_model.graph["softmax"]
    in_type = _result(hls_model.graph["output"])
    node = _softmax_node(layer, in_type)
    assert (str(in_type), str(node.out_type)) == ("fixed<18,7,TRN,WRAP>", "fixed<16,6,TRN,WRAP>")
    rs = FixedType(18, 8, True, "RND", "SAT")
    assert (node.exp_table_type, node.inv_table_type, node.accum_type, node.inv_inp_type) == \
        (rs, rs, rs, rs)
    assert node.implementation == "stable" and len(node.exp_table) == len(node.inv_table) == 1024
    assert _written_softmax_config(tmp_path) == ("ap_ufixed<17,6>", 1024)
    assert node.inp_norm_type == FixedType(17, 6, signed=False)
    assert _imported_math(tmp_path) == {"expf"}

    logits = _codes(trace["output"], in_type)
    expected = _codes(trace["softmax"], node.out_type).numpy()
    assert np.array_equal(softmax_codes(logits, in_type, node).numpy(), expected)


def test_activation_branches(tmp_path: Path) -> None:
    """sigmoid, tanh and a 'latency' softmax with its own types, each fed every input code."""
    import hls4ml
    from tensorflow import keras

    n = 6
    inp = keras.Input((n,), name="x")
    branches = [keras.layers.Activation(f, name=f)(inp) for f in ("sigmoid", "tanh", "softmax")]
    pair = keras.layers.Concatenate(name="pair")(branches[:2])  # hls4ml merges two at a time
    model = keras.Model(inp, keras.layers.Concatenate(name="joined")([pair, branches[2]]))
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    layers = config["LayerName"]
    layers["x"]["Precision"]["result"] = "fixed<12,4>"
    # hls4ml 1.3.0 ignores Precision {"table", "exp_table", "inv_table", "inv_inp"}: table
    # types are set as layer keys ending in _t ("result" and "accum" do go in Precision).
    layers["sigmoid"].update(Precision={"result": "ufixed<10,0,RND,SAT>"}, TableSize=2048,
                             table_t="ufixed<20,0,RND,SAT>")
    layers["tanh"].update(Precision={"result": "fixed<10,1,RND_CONV,SAT>"},
                          table_t="fixed<20,2,RND,SAT>")
    layers["softmax"].update(
        Implementation="latency", TableSize=512,
        Precision={"result": "ufixed<12,0,RND,SAT>", "accum": "ufixed<20,12,RND,SAT>"},
        exp_table_t="ufixed<20,10,RND,SAT>", inv_table_t="ufixed<18,4,RND,SAT>",
        inv_inp_t="ufixed<16,10,RND,SAT>")
    for name in ("pair", "joined"):
        layers[name]["Precision"] = {"result": "fixed<32,12>"}
    for name in ("sigmoid", "tanh", "softmax"):
        layers[name]["Trace"] = True
    hls_model = _convert(model, config, tmp_path)

    in_type = FixedType(12, 4)
    rng = np.random.default_rng(5)
    every = np.arange(in_type.min_code, in_type.max_code + 1)
    columns = [rng.permutation(every) for _ in range(n)]
    codes = np.concatenate([np.stack(columns, axis=1), rng.integers(-64, 64, (2000, n)),
                            rng.choice([in_type.min_code, in_type.max_code, 0], (500, n))])
    _, trace = hls_model.trace(np.ascontiguousarray(codes * 2.0 ** -in_type.frac))
    x = torch.from_numpy(codes.astype(np.int64))
    assert _imported_math(tmp_path) == {"expf", "tanhf"}

    sigmoid = _lut_node(hls_model.graph["sigmoid"])
    assert (len(sigmoid.table), sigmoid.table_type) == (2048, FixedType(20, 0, False, "RND", "SAT"))
    for function in ("sigmoid", "tanh"):
        node = _lut_node(hls_model.graph[function])
        expected = _codes(trace[function], node.out_type).numpy()
        assert np.array_equal(lut_codes(x, in_type, node).numpy(), expected), function
    node = _softmax_node(hls_model.graph["softmax"], in_type)
    assert node.implementation == "latency" and len(node.exp_table) == 512
    assert (node.accum_type, node.inv_inp_type, node.exp_table_type) == (
        FixedType(20, 12, False, "RND", "SAT"), FixedType(16, 10, False, "RND", "SAT"),
        FixedType(20, 10, False, "RND", "SAT"))
    expected = _codes(trace["softmax"], node.out_type).numpy()
    assert np.array_equal(softmax_codes(x, in_type, node).numpy(), expected)
