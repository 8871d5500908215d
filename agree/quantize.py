"""int8 inference on a CPU: the encoder's linear layers with int8 weights, their inputs quantized on the fly
(SentenceBERT.load(..., int8=True), evaluate.py --int8).

Dynamic quantization: every nn.Linear of the encoder becomes torch's DynamicQuantizedLinear. It holds its
weight in int8 with one scale per output row (per channel: a row with large weights does not coarsen the
others). At each call it quantizes its input to 8 bits with a scale read from that input's range, multiplies in
int8 with int32 sums (the int8 dot-product instructions of recent x86 and Arm CPUs) and scales the result back
to fp32. Nothing is calibrated beforehand, so any fine-tuned checkpoint can be loaded this way.

The linear layers do nearly all of an encoder's multiply-adds (99% for the `small` preset at 20 tokens a
sentence). Everything else stays fp32: the embeddings, the LayerNorms, attention's softmax and its two
batched products, pooling, and the classifier head. The head is one (3d × 3) product per pair, not a
ten-thousandth of the encoder's work: quantizing it would save nothing and move every logit.

The quantized model exists only in memory; its checkpoint stays fp32 and `save` is not meant for it. torch
2.13 marks `torch.ao.quantization` deprecated in favour of torchao, a separate package the product does not
depend on; its eager-mode dynamic quantization still works and is the tool torch itself ships. Its
deprecation warnings are silenced here, the one place to change when torch removes it.
"""
import contextlib
import warnings

import torch
from torch import nn

from agree.errors import UserError


def check_cpu(device):
    """torch's quantized kernels are CPU kernels: refuse any other device in words, before loading anything."""
    if torch.device(device).type != "cpu":
        raise UserError(f"int8 inference runs on the CPU only (torch's quantized kernels are CPU kernels), "
                        f"not on {device}; leave out int8 or use the CPU")


def quantize_encoder(model):
    """`model` (a SentenceBERT on the CPU, in eval mode) with its encoder's linear layers replaced by int8
    dynamically quantized ones; the classifier head is left as it is. Changes the model in place, returns it."""
    check_cpu(model.device)
    with quantization_warnings_silenced():
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        quantize_dynamic(model.bert.eval(), {nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
    return model


@contextlib.contextmanager
def quantization_warnings_silenced():
    """torch's deprecation warnings about its own quantized tensors and modules, which it gives while creating,
    pickling and unpickling them (an encoder process receives an int8 model pickled), silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*deprecated")
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
        yield


def is_quantized(module):
    """True when `module` is one of the int8 layers quantize_encoder puts in."""
    return isinstance(module, torch.ao.nn.quantized.dynamic.Linear)


def int8_layers(model):
    """How many of `model`'s layers are int8 ones."""
    return sum(map(is_quantized, model.modules()))


def count_parameters(model):
    """The model's parameters, an int8 layer's weights and biases included: torch keeps those packed, outside
    `model.parameters()`."""
    packed = [module.weight().numel() + (0 if module.bias() is None else module.bias().numel())
              for module in model.modules() if is_quantized(module)]
    return sum(p.numel() for p in model.parameters()) + sum(packed)
