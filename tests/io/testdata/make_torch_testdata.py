#!/usr/bin/python3
"""Writes the small torch.save files the torch_* tests read. Run from this folder with a Python
that has torch (Debian: /usr/bin/python3 with python3-torch). Values are deterministic so the
C++ tests can state them exactly."""
import collections

import torch


def small():
    sd = collections.OrderedDict()
    sd["f32"] = torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5  # [[0,.5,1],[1.5,2,2.5]]
    sd["f16"] = torch.tensor([1.0, -2.0, 0.25], dtype=torch.float16)
    sd["bf16"] = torch.tensor([3.0, -0.5, 1024.0], dtype=torch.bfloat16)
    sd["mask"] = torch.tril(torch.ones(4, 4, dtype=torch.bool))
    sd["transposed"] = sd["f32"].t()        # shares storage 0, stride (1, 3)
    sd["row1"] = sd["f32"][1]               # shares storage 0, storage offset 3
    sd["scalar"] = torch.tensor(-1e5)       # 0-d, like TransformerLens's IGNORE buffer
    sd["f64"] = torch.tensor([1.5, 2.5], dtype=torch.float64)
    sd["i64"] = torch.tensor([7, 8], dtype=torch.int64)
    sd["param"] = torch.nn.Parameter(torch.tensor([[1.0, 2.0]]))  # _rebuild_parameter
    sd["empty"] = torch.zeros(0, 3)
    return sd


def module_state_dict():
    # A real nn.Module state dict carries _metadata (pickled with BUILD).
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    return m.state_dict()


if __name__ == "__main__":
    torch.save(small(), "torch_small.pth")
    torch.save(module_state_dict(), "torch_module.pth")
    # Protocol 4 exercises FRAME, SHORT_BINUNICODE, MEMOIZE and STACK_GLOBAL.
    torch.save(small(), "torch_proto4.pth", pickle_protocol=4)
    sd = module_state_dict()
    for k, v in sd.items():
        print(k, list(v.shape), v.flatten().tolist())
