// The LibTorch headers every torch translation unit of harness/ uses, compiled once into a
// precompiled header (target_precompile_headers in harness/CMakeLists.txt). Deliberately not
// <torch/torch.h>: no data loaders, JIT or serialization here.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>
