// The pause a spin-wait loop takes between two checks: it tells the core (and an SMT sibling or
// a hypervisor) that this thread is only waiting.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ubp::kernels::detail {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace ubp::kernels::detail
