# Cross-compiling for 64-bit ARM (Raspberry Pi 3/4/5 with a 64-bit OS) on Debian 12 amd64, with
# multiarch: crossbuild-essential-arm64 and the :arm64 -dev packages (deploy/package.sh arm64
# installs them). Use: cmake -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(SCB_TRIPLET aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${SCB_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${SCB_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${SCB_TRIPLET})

# Multiarch: the arm64 libraries live in /usr/lib/aarch64-linux-gnu of the build machine itself, the
# cross libc in /usr/aarch64-linux-gnu. Programs come from the build machine; libraries and CMake
# package files only from the target's directories (never /usr/lib/x86_64-linux-gnu).
set(CMAKE_FIND_ROOT_PATH /usr/${SCB_TRIPLET} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/cmake)

# FindOpenSSL first asks pkg-config, which would answer with the build machine's libssl: point it at
# the arm64 .pc files, and name the libraries outright.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${SCB_TRIPLET}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(OPENSSL_ROOT_DIR /usr/lib/${SCB_TRIPLET})
set(OPENSSL_INCLUDE_DIR /usr/include CACHE PATH "")
set(OPENSSL_CRYPTO_LIBRARY /usr/lib/${SCB_TRIPLET}/libcrypto.so CACHE FILEPATH "")
set(OPENSSL_SSL_LIBRARY /usr/lib/${SCB_TRIPLET}/libssl.so CACHE FILEPATH "")

# Run arm64 programs (unit tests, Catch2's test discovery, help2man) with qemu-user (qemu-user-static),
# on the arm64 runtime a Raspberry Pi has: Debian's libc6:arm64 of multiarch (/lib/ld-linux-aarch64.so.1),
# not the cross toolchain's older copy in /usr/aarch64-linux-gnu: under qemu 7.2 with that one
# (libc6-arm64-cross 2.36-8) any program that starts a second thread and waits on it spins forever.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /)
