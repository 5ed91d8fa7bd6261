// Umbrella header of ubp_kernels.
#pragma once

#include "ubp/kernels/common.h"
#include "ubp/kernels/im2col.h"
#include "ubp/kernels/layers.h"
#include "ubp/kernels/packed.h"
#include "ubp/kernels/spmm.h"
#include "ubp/kernels/thread_pool.h"
