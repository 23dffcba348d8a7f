# Cross build for armv7 hard-float with NEON (arm-linux-gnueabihf) with Debian's g++-arm-linux-gnueabihf; programs run under qemu-arm-static (qemu-user-static).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)    # libraries only of the target
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)    # Eigen, xsimd and Catch2 are headers: the host's serve
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm-static -L /usr/arm-linux-gnueabihf)
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=neon")  # armv7 with NEON (xsimd's neon architecture)
