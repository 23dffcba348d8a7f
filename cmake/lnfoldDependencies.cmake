# Finds lnfold's dependencies. Shared by the build tree and the installed lnfoldConfig.cmake.
include(CMakeFindDependencyMacro)

find_dependency(Eigen3 3.4 NO_MODULE)

# Debian's xsimd 8.1 package exports target `xsimd` that links a target `xtl` it does not provide.
# xsimd 8 needs xtl only for xtl::xcomplex support, which lnfold does not use: an empty stand-in is enough.
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED)
endif()
find_dependency(xsimd 8.1)

# zlib (optional): the data loaders read the .gz files of Debian's dataset packages directly.
find_package(ZLIB QUIET)

if(NOT DEFINED LNFOLD_OPENMP OR LNFOLD_OPENMP)
  find_package(OpenMP COMPONENTS CXX QUIET)
endif()
