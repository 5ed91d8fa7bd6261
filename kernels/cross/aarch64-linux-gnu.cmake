# CMake toolchain file: cross-compile for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu.
#
#   cmake -S kernels/cross -B build/aarch64 \
#         -DCMAKE_TOOLCHAIN_FILE=kernels/cross/aarch64-linux-gnu.cmake
#
# Executables are linked statically (see kernels/cross/CMakeLists.txt), so qemu-aarch64 runs them
# without an aarch64 sysroot; CMAKE_CROSSCOMPILING_EMULATOR lets ctest/gtest run them under qemu.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(UBP_AARCH64_TRIPLE aarch64-linux-gnu)
find_program(UBP_AARCH64_CXX NAMES ${UBP_AARCH64_TRIPLE}-g++ ${UBP_AARCH64_TRIPLE}-g++-12 REQUIRED)
find_program(UBP_AARCH64_CC NAMES ${UBP_AARCH64_TRIPLE}-gcc ${UBP_AARCH64_TRIPLE}-gcc-12 REQUIRED)
set(CMAKE_CXX_COMPILER ${UBP_AARCH64_CXX})
set(CMAKE_C_COMPILER ${UBP_AARCH64_CC})

# Debian's multiarch cross root; the cross compiler finds its own headers and libraries there.
set(CMAKE_FIND_ROOT_PATH /usr/${UBP_AARCH64_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(UBP_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(UBP_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${UBP_QEMU_AARCH64} -L /usr/${UBP_AARCH64_TRIPLE})
endif()
