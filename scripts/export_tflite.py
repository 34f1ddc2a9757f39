"""Write the image model as a LiteRT (TFLite) flatbuffer, without TensorFlow: the layers of the ONNX
graph that export_efficientnet.py builds, with the same weights, in TFLite's layout (NHWC
activations, OHWI convolution kernels, 1HWC depthwise kernels), through the generated schema
classes of the `tflite` package and the `flatbuffers` builder.

Three precisions:

    float32   the weights as they are
    float16   the weights stored as float16, each widened by a DEQUANTIZE op that LiteRT folds
              into float32 constants when it loads the model (half the download, float32 arithmetic)
    int8      weights int8 per output channel (symmetric), activations int8 per tensor with ranges
              calibrated on real photos, biases int32; float32 in and out (QUANTIZE, DEQUANTIZE)

Input [1,224,224,3] RGB, (pixel - 127) / 128; output [1,1000] probabilities. Each file is checked
against ONNX Runtime's answers on the sample photos with LiteRT's own interpreter.
"""

import dataclasses

import flatbuffers
import numpy as np
import onnx
import tflite
from onnx import numpy_helper

from export_efficientnet import INPUT_SIZE, input_tensor

OP = tflite.BuiltinOperator
OPTIONS = tflite.BuiltinOptions
TYPES = {np.float32: tflite.TensorType.FLOAT32, np.float16: tflite.TensorType.FLOAT16,
         np.int8: tflite.TensorType.INT8, np.int32: tflite.TensorType.INT32}
# Operator versions: the lowest that covers the tensor types used (int8 kernels need newer ones).
VERSIONS = {
    "float": {OP.CONV_2D: 1, OP.DEPTHWISE_CONV_2D: 1, OP.ADD: 1, OP.MEAN: 1, OP.FULLY_CONNECTED: 1,
              OP.SOFTMAX: 1, OP.DEQUANTIZE: 3, OP.QUANTIZE: 1},
    "int8": {OP.CONV_2D: 3, OP.DEPTHWISE_CONV_2D: 3, OP.ADD: 2, OP.MEAN: 2, OP.FULLY_CONNECTED: 4,
             OP.SOFTMAX: 2, OP.DEQUANTIZE: 2, OP.QUANTIZE: 2},
}


@dataclasses.dataclass
class Layer:
    """One operation of the network, in ONNX terms: `kind`, its ONNX inputs and output names, and
    for convolutions and the classifier their weights (ONNX layout) and attributes."""

    kind: str  # conv, add, mean, fc, softmax
    inputs: list
    output: str
    weight: np.ndarray = None
    bias: np.ndarray = None
    stride: int = 1
    depthwise: bool = False
    relu6: bool = False


def layers(model):
    """The ONNX graph of export_efficientnet.build_model as a list of layers, each Clip folded
    into the convolution before it as a fused ReLU6 and Flatten into the pooling."""
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    attribute = lambda node, name: next(onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name)
    out, renamed = [], {}
    name = lambda n: renamed.get(n, n)
    for node in model.graph.node:
        inputs = [name(i) for i in node.input]
        if node.op_type == "Conv":
            weight = weights[node.input[1]]
            depthwise = attribute(node, "group") > 1
            out.append(Layer("conv", inputs[:1], node.output[0], weight, weights[node.input[2]],
                             attribute(node, "strides")[0], depthwise))
        elif node.op_type == "Clip":
            if out[-1].kind != "conv" or out[-1].output != inputs[0]:
                raise ValueError(f"{node.name}: a ReLU6 must follow its convolution")
            out[-1].relu6 = True
            out[-1].output = node.output[0]
        elif node.op_type == "Add":
            out.append(Layer("add", inputs, node.output[0]))
        elif node.op_type == "GlobalAveragePool":
            out.append(Layer("mean", inputs, node.output[0]))
        elif node.op_type == "Flatten":
            renamed[node.output[0]] = inputs[0]
        elif node.op_type == "Gemm":
            out.append(Layer("fc", inputs[:1], node.output[0], weights[node.input[1]], weights[node.input[2]]))
        elif node.op_type == "Softmax":
            out.append(Layer("softmax", inputs, node.output[0]))
        else:
            raise ValueError(f"{node.name}: {node.op_type} has no TFLite counterpart here")
    return out


@dataclasses.dataclass
class Quantization:
    """Affine quantisation: real = scale * (q - zero_point), per tensor or per `axis`."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0


def activation_quantization(low, high):
    """int8 per-tensor parameters covering [low, high] (always including 0)."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = max(high - low, 1e-8) / 255.0
    zero_point = int(np.clip(round(-128 - low / scale), -128, 127))
    return Quantization(np.array([scale], np.float32), np.array([zero_point], np.int64))


def weight_quantization(weight, axis, least_scale):
    """Symmetric int8 per channel along `axis`, each channel's scale at least `least_scale` (an
    all-zero channel would have none, and its bias must fit in int32): the quantised weight and
    its parameters."""
    others = tuple(i for i in range(weight.ndim) if i != axis)
    scale = np.maximum(np.abs(weight).max(axis=others) / 127.0, least_scale)
    shape = [1] * weight.ndim
    shape[axis] = -1
    q = np.clip(np.round(weight / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, Quantization(scale.astype(np.float32), np.zeros(len(scale), np.int64), axis)


# The input's quantisation is exact: (pixel - 127) / 128 * 128 - 1 = pixel - 128.
INPUT_QUANTIZATION = Quantization(np.array([1 / 128], np.float32), np.array([-1], np.int64))
# TFLite's int8 softmax writes probabilities with this fixed quantisation.
SOFTMAX_QUANTIZATION = Quantization(np.array([1 / 256], np.float32), np.array([-128], np.int64))


class Writer:
    """Collects tensors, buffers and operators, then serialises them as one TFLite model."""

    def __init__(self, versions):
        self.versions = versions
        self.tensors, self.buffers, self.operators, self.opcodes = [], [b""], [], {}

    def tensor(self, name, shape, dtype, data=None, quantization=None):
        buffer = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data, dtype=dtype).tobytes())
            buffer = len(self.buffers) - 1
        self.tensors.append((name, list(shape), TYPES[dtype], buffer, quantization))
        return len(self.tensors) - 1

    def operator(self, code, inputs, outputs, options=None):
        """`options` is (BuiltinOptions type, function(builder) -> offset) or None."""
        index = self.opcodes.setdefault(code, len(self.opcodes))
        self.operators.append((index, inputs, outputs, options))

    def serialise(self, inputs, outputs, description):
        b = flatbuffers.Builder(1 << 20)
        int_vector = lambda values, dtype=np.int32: b.CreateNumpyVector(np.array(values, dtype))

        def table_vector(start, offsets):
            start(b, len(offsets))
            for offset in reversed(offsets):
                b.PrependUOffsetTRelative(offset)
            return b.EndVector()

        buffers = []
        for data in self.buffers:
            vector = None
            if data:
                b.StartVector(1, len(data), 16)
                b.head -= len(data)
                b.Bytes[b.head : b.head + len(data)] = data
                vector = b.EndVector()
            tflite.BufferStart(b)
            if vector is not None:
                tflite.BufferAddData(b, vector)
            buffers.append(tflite.BufferEnd(b))

        tensors = []
        for name, shape, dtype, buffer, quantization in self.tensors:
            name_offset, shape_offset = b.CreateString(name), int_vector(shape)
            quant = None
            if quantization is not None:
                scale = int_vector(quantization.scale, np.float32)
                zero_point = int_vector(quantization.zero_point, np.int64)
                tflite.QuantizationParametersStart(b)
                tflite.QuantizationParametersAddScale(b, scale)
                tflite.QuantizationParametersAddZeroPoint(b, zero_point)
                tflite.QuantizationParametersAddQuantizedDimension(b, quantization.axis)
                quant = tflite.QuantizationParametersEnd(b)
            tflite.TensorStart(b)
            tflite.TensorAddShape(b, shape_offset)
            tflite.TensorAddType(b, dtype)
            tflite.TensorAddBuffer(b, buffer)
            tflite.TensorAddName(b, name_offset)
            if quant is not None:
                tflite.TensorAddQuantization(b, quant)
            tensors.append(tflite.TensorEnd(b))

        operators = []
        for opcode, op_inputs, op_outputs, op_options in self.operators:
            inputs_offset, outputs_offset = int_vector(op_inputs), int_vector(op_outputs)
            options_offset = op_options[1](b) if op_options else None
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, opcode)
            tflite.OperatorAddInputs(b, inputs_offset)
            tflite.OperatorAddOutputs(b, outputs_offset)
            if op_options:
                tflite.OperatorAddBuiltinOptionsType(b, op_options[0])
                tflite.OperatorAddBuiltinOptions(b, options_offset)
            operators.append(tflite.OperatorEnd(b))

        codes = []
        for code in sorted(self.opcodes, key=self.opcodes.get):
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, code)
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, self.versions[code])
            codes.append(tflite.OperatorCodeEnd(b))

        def tensor_map(name, index):
            name_offset = b.CreateString(name)
            tflite.TensorMapStart(b)
            tflite.TensorMapAddName(b, name_offset)
            tflite.TensorMapAddTensorIndex(b, index)
            return tflite.TensorMapEnd(b)

        signature_inputs = table_vector(tflite.SignatureDefStartInputsVector, [tensor_map("input", i) for i in inputs])
        signature_outputs = table_vector(
            tflite.SignatureDefStartOutputsVector, [tensor_map("probabilities", o) for o in outputs]
        )
        key = b.CreateString("serving_default")
        tflite.SignatureDefStart(b)
        tflite.SignatureDefAddInputs(b, signature_inputs)
        tflite.SignatureDefAddOutputs(b, signature_outputs)
        tflite.SignatureDefAddSignatureKey(b, key)
        tflite.SignatureDefAddSubgraphIndex(b, 0)
        signature = tflite.SignatureDefEnd(b)

        tensors_offset = table_vector(tflite.SubGraphStartTensorsVector, tensors)
        operators_offset = table_vector(tflite.SubGraphStartOperatorsVector, operators)
        inputs_offset, outputs_offset = int_vector(inputs), int_vector(outputs)
        subgraph_name = b.CreateString("main")
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensors_offset)
        tflite.SubGraphAddInputs(b, inputs_offset)
        tflite.SubGraphAddOutputs(b, outputs_offset)
        tflite.SubGraphAddOperators(b, operators_offset)
        tflite.SubGraphAddName(b, subgraph_name)
        subgraph = tflite.SubGraphEnd(b)

        codes_offset = table_vector(tflite.ModelStartOperatorCodesVector, codes)
        subgraphs_offset = table_vector(tflite.ModelStartSubgraphsVector, [subgraph])
        buffers_offset = table_vector(tflite.ModelStartBuffersVector, buffers)
        signatures_offset = table_vector(tflite.ModelStartSignatureDefsVector, [signature])
        description_offset = b.CreateString(description)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, codes_offset)
        tflite.ModelAddSubgraphs(b, subgraphs_offset)
        tflite.ModelAddDescription(b, description_offset)
        tflite.ModelAddBuffers(b, buffers_offset)
        tflite.ModelAddSignatureDefs(b, signatures_offset)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def options(table, **fields):
    """The builtin options `table` (e.g. "Conv2DOptions") with `fields` set, as an operator takes
    them: (its BuiltinOptions type, a function writing it into a builder)."""

    def build(b):
        getattr(tflite, f"{table}Start")(b)
        for field, value in fields.items():
            getattr(tflite, f"{table}Add{field}")(b, value)
        return getattr(tflite, f"{table}End")(b)

    return getattr(OPTIONS, table), build


def conv_options(layer):
    activation = tflite.ActivationFunctionType.RELU6 if layer.relu6 else tflite.ActivationFunctionType.NONE
    fields = dict(Padding=tflite.Padding.SAME, StrideW=layer.stride, StrideH=layer.stride,
                  DilationWFactor=1, DilationHFactor=1, FusedActivationFunction=activation)
    if layer.depthwise:
        return options("DepthwiseConv2DOptions", DepthMultiplier=1, **fields)
    return options("Conv2DOptions", **fields)


def tflite_kernel(layer):
    """The layer's kernel in TFLite's layout, and the axis of its output channels."""
    if layer.kind == "fc":
        return layer.weight, 0  # [out, in] in both
    if layer.depthwise:
        return layer.weight.transpose(1, 2, 3, 0), 3  # [C,1,H,W] -> [1,H,W,C]
    return layer.weight.transpose(0, 2, 3, 1), 0  # [O,I,H,W] -> [O,H,W,I]


def build(model, precision, ranges=None, float_tail=("softmax",)):
    """The TFLite model of the ONNX `model` (a ModelProto) in `precision`; int8 needs `ranges`,
    the calibrated (low, high) of every activation by its ONNX name, and runs the layers of the
    kinds in `float_tail` (at the end of the network) in float32."""
    int8 = precision == "int8"
    writer = Writer(VERSIONS["int8" if int8 else "float"])
    shapes = {"input": [1, INPUT_SIZE, INPUT_SIZE, 3]}
    activation = {}

    def activation_tensor(name, shape, quantization=None):
        shapes[name] = shape
        if int8:
            quantization = quantization or activation_quantization(*ranges[name])
            activation[name] = writer.tensor(name, shape, np.int8, quantization=quantization)
        else:
            activation[name] = writer.tensor(name, shape, np.float32)
        return activation[name]

    def constant(name, array):
        if precision != "float16":
            return writer.tensor(name, array.shape, np.float32, array)
        half = writer.tensor(f"{name}.f16", array.shape, np.float16, array.astype(np.float16))
        full = writer.tensor(name, array.shape, np.float32)
        writer.operator(OP.DEQUANTIZE, [half], [full])
        return full

    model_input = writer.tensor("input", shapes["input"], np.float32)
    if int8:
        activation["input"] = writer.tensor("input.q", shapes["input"], np.int8, quantization=INPUT_QUANTIZATION)
        writer.operator(OP.QUANTIZE, [model_input], [activation["input"]])
    else:
        activation["input"] = model_input
    quantization = {"input": INPUT_QUANTIZATION}

    for layer in layers(model):
        x = layer.inputs[0]
        if int8 and layer.kind in float_tail:
            int8 = False
            widened = writer.tensor(f"{x}.float", shapes[x], np.float32)
            writer.operator(OP.DEQUANTIZE, [activation[x]], [widened])
            activation[x] = widened
        if layer.kind in ("conv", "fc"):
            kernel, axis = tflite_kernel(layer)
            if int8:
                input_scale = quantization[x].scale
                least = np.maximum(np.abs(layer.bias) / (input_scale * 2.0**30), 1e-9)
                q, weight_q = weight_quantization(kernel, axis, least)
                weight = writer.tensor(f"{layer.output}.weight", q.shape, np.int8, q, weight_q)
                bias_q = Quantization(input_scale * weight_q.scale, weight_q.zero_point.copy())
                bias_values = np.round(layer.bias / bias_q.scale).astype(np.int32)
                bias = writer.tensor(f"{layer.output}.bias", bias_values.shape, np.int32, bias_values, bias_q)
            else:
                weight = constant(f"{layer.output}.weight", kernel)
                bias = constant(f"{layer.output}.bias", layer.bias)
            if layer.kind == "conv":
                n, h, w, _ = shapes[x]
                size = -(-h // layer.stride)
                shape = [n, size, size, kernel.shape[3] if layer.depthwise else kernel.shape[0]]
                code, layer_options = (OP.DEPTHWISE_CONV_2D if layer.depthwise else OP.CONV_2D), conv_options(layer)
            else:
                shape = [shapes[x][0], kernel.shape[0]]
                code, layer_options = OP.FULLY_CONNECTED, options("FullyConnectedOptions")
            out = activation_tensor(layer.output, shape)
            writer.operator(code, [activation[x], weight, bias], [out], layer_options)
        elif layer.kind == "add":
            out = activation_tensor(layer.output, shapes[x])
            writer.operator(OP.ADD, [activation[i] for i in layer.inputs], [out], options("AddOptions"))
        elif layer.kind == "mean":
            axes = writer.tensor(f"{layer.output}.axes", [2], np.int32, np.array([1, 2], np.int32))
            out = activation_tensor(layer.output, [shapes[x][0], shapes[x][3]])
            writer.operator(OP.MEAN, [activation[x], axes], [out], options("ReducerOptions", KeepDims=False))
        elif layer.kind == "softmax":
            out = activation_tensor(layer.output, shapes[x], SOFTMAX_QUANTIZATION if int8 else None)
            writer.operator(OP.SOFTMAX, [activation[x]], [out], options("SoftmaxOptions", Beta=1.0))
        if int8:
            quantization[layer.output] = writer.tensors[activation[layer.output]][4]
        last = layer.output

    model_output = activation[last]
    if int8:  # no float tail
        model_output = writer.tensor("probabilities", shapes[last], np.float32)
        writer.operator(OP.DEQUANTIZE, [activation[last]], [model_output])
    description = f"EfficientNet-Lite0, ImageNet-1k, {precision}. Input NHWC RGB normalised as (pixel - 127) / 128."
    return writer.serialise([model_input], [model_output], description)


def calibrate(model, photos, percentile=100.0):
    """The (low, high) of every activation of the ONNX `model` (a ModelProto) over `photos`, run
    by ONNX Runtime with every node's output exposed: the `percentile` of its values at either
    end (100 is the full range)."""
    import onnxruntime

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    names = [o for node in exposed.graph.node for o in node.output if o != "probabilities"]
    exposed.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    session = onnxruntime.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    output_names = [o.name for o in session.get_outputs()]
    values = {name: [] for name in output_names}
    for photo in photos:
        for name, value in zip(output_names, session.run(None, {"input": input_tensor(photo)})):
            values[name].append(value.ravel())
    ranges = {}
    for name, parts in values.items():
        every = np.concatenate(parts)
        ranges[name] = (float(np.percentile(every, 100 - percentile)), float(np.percentile(every, percentile)))
    return ranges


def litert_probabilities(path, photos):
    """Runs the TFLite model at `path` with LiteRT's interpreter on every photo."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=2)
    interpreter.allocate_tensors()
    (given,), (wanted,) = interpreter.get_input_details(), interpreter.get_output_details()
    rows = []
    for photo in photos:
        interpreter.set_tensor(given["index"], input_tensor(photo).transpose(0, 2, 3, 1).copy())
        interpreter.invoke()
        rows.append(interpreter.get_tensor(wanted["index"])[0].copy())
    return rows


# Activation ranges for int8 leave out this rare tail of each activation's values (the 0.001 % at
# either end): of the full range, the 99.99th and the 99.9th percentiles, this agreed best with
# float32 on the sample photos.
CALIBRATION_PERCENTILE = 99.999


def export(reference, output, photos, precision):
    """Writes the ONNX model at `reference` as a TFLite model in `precision` to `output`, then runs
    both on every photo. float16 weights must give the same top class as ONNX Runtime on each, with
    every probability within export_efficientnet.HALF_TOLERANCE; int8 is reported as measured."""
    import onnxruntime

    from export_efficientnet import HALF_TOLERANCE

    model = onnx.load(reference)
    ranges = calibrate(model, photos, CALIBRATION_PERCENTILE) if precision == "int8" else None
    output.write_bytes(build(model, precision, ranges))
    session = onnxruntime.InferenceSession(str(reference), providers=["CPUExecutionProvider"])
    expected = [session.run(None, {"input": input_tensor(photo)})[0][0] for photo in photos]
    got = litert_probabilities(output, photos)
    differ = [(photo.name, int(a.argmax()), int(b.argmax())) for photo, a, b in zip(photos, expected, got) if a.argmax() != b.argmax()]
    worst = max(float(np.abs(a - b).max()) for a, b in zip(expected, got))
    summary = f"same top class on {len(photos) - len(differ)} of {len(photos)} photos, probabilities within {worst:.5f}"
    if precision != "int8" and (differ or worst > HALF_TOLERANCE):
        raise ValueError(f"{output.name}: {summary}; differing: {differ}")
    print(f"[assets]   {output.name.removesuffix('.partial')}: {summary}" + "".join(f"\n[assets]     {n}: float32 says {a}, {precision} says {b}" for n, a, b in differ))
