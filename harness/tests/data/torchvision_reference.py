#!/usr/bin/python3
"""Reference files from torchvision's ResNets for harness/tests/weights_import_test.cpp.

usage: /usr/bin/python3 torchvision_reference.py OUT_DIR MODEL [MODEL ...]
       MODEL: resnet18 | resnet50   (needs Debian's python3-torchvision)

Writes, for each MODEL, into OUT_DIR:
  MODEL.pth      torch.save(model.state_dict(), ...): the OrderedDict form under test
  MODEL.ts       the TorchScript archive of the same model (torch.jit.script(...).save)
  MODEL_io.pth   torch.save({"input": x, "logits": model(x)}, ...) in eval mode; x is
                 (2, 3, 64, 64): small, but the standard 7x7/2 stem and max pool still apply
"""
import sys

import torch
import torchvision

IMAGE_SIZE = 64


def give_batch_norm_real_state(model, generator):
    """A fresh model's batch norms are the identity in eval mode (mean 0, var 1, weight 1,
    bias 0), which would let a loader that ignores them pass. Two training-mode passes give
    real running statistics; random affine parameters and counters do the rest."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in norms:
        bn.momentum = None  # cumulative average over the passes
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator))
        for bn in norms:
            bn.momentum = 0.1
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=generator) + 0.5)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=generator) * 0.1)
            bn.num_batches_tracked.fill_(int(torch.randint(3, 1000, (1,), generator=generator)))


def write_reference(out_dir, name, seed):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    give_batch_norm_real_state(model, generator)
    model.eval()
    x = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    with torch.no_grad():
        logits = model(x)
    torch.save(model.state_dict(), f"{out_dir}/{name}.pth")
    torch.jit.script(model).save(f"{out_dir}/{name}.ts")
    torch.save({"input": x, "logits": logits}, f"{out_dir}/{name}_io.pth")


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    seeds = {"resnet18": 18, "resnet50": 50}
    for name in argv[2:]:
        if name not in seeds:
            sys.exit(f"unknown model '{name}'; accepted: {', '.join(seeds)}")
        write_reference(argv[1], name, seeds[name])


if __name__ == "__main__":
    main(sys.argv)
