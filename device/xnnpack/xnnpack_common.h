// What the two XNNPACK anchors share (xnnpack_engine.h: the model as one subgraph runtime;
// xnnpack_layers.h: one operator per layer): status checks, initialisation, the fused clamp of
// an activation and the weight layouts XNNPACK reads. Internal to ubp_device_xnnpack.
#pragma once

#include <xnnpack.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ubp/device/model_file.h"

namespace ubp::device::xnnpack {

// Throws XnnpackError "XNNPACK <call> failed: xnn_status_<name>" unless status is success.
void check(xnn_status status, const std::string& call);
// xnn_initialize once per process; throws XnnpackError if it failed.
void initialize_once();

// The output clamp that fuses an activation into an XNNPACK node or operator.
float clamp_min(kernels::Activation act);
float clamp_max(kernels::Activation act);

// " (layer <i> '<name>', <kind>)": where an error message says the failing layer is.
std::string where(size_t index, const Layer& layer);

// A conv / pointwise layer's filter as XNNPACK's [Cout][kh][kw][Cin] (ours is [Cout][Cin][kh][kw]).
std::vector<float> filter_ohwi(const Layer& layer);

// Layout changes between the engine's channel-major maps and XNNPACK's NHWC: `to` must hold
// shape[0] * shape[1] * shape[2] floats.
void chw_to_hwc(const float* from, const std::array<int64_t, 3>& shape, float* to);
void hwc_to_chw(const float* from, const std::array<int64_t, 3>& shape, float* to);

}  // namespace ubp::device::xnnpack
