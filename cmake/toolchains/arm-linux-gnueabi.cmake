# Cross build for armv7 soft-float (arm-linux-gnueabi) with Debian's g++-arm-linux-gnueabi; programs run under qemu-arm-static (qemu-user-static).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7)
set(CMAKE_CXX_COMPILER arm-linux-gnueabi-g++)
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabi)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)    # libraries only of the target
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)    # Eigen, xsimd and Catch2 are headers: the host's serve
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm-static -L /usr/arm-linux-gnueabi)
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfloat-abi=soft")  # no FPU, no NEON: xsimd finds no architecture
