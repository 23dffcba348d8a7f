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

# OpenBLAS (optional, LNFOLD_BLAS): the matrix products' backend where it is found (kernels/gemm.hpp; measured
# 1.3-1.7x Eigen's single-thread sgemm at the benchmark models' shapes, docs/performance.md). Found as a library
# plus OpenBLAS's cblas.h (openblas_config.h beside it tells OpenBLAS from other CBLAS headers); imported as
# lnfold_openblas, which the lnfold target links.
if((NOT DEFINED LNFOLD_BLAS OR LNFOLD_BLAS) AND NOT TARGET lnfold_openblas)
  find_path(LNFOLD_OPENBLAS_INCLUDE_DIR NAMES openblas_config.h PATH_SUFFIXES openblas)
  find_library(LNFOLD_OPENBLAS_LIBRARY NAMES openblas)
  if(LNFOLD_OPENBLAS_INCLUDE_DIR AND LNFOLD_OPENBLAS_LIBRARY AND EXISTS "${LNFOLD_OPENBLAS_INCLUDE_DIR}/cblas.h")
    add_library(lnfold_openblas INTERFACE IMPORTED)
    set_target_properties(lnfold_openblas PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${LNFOLD_OPENBLAS_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${LNFOLD_OPENBLAS_LIBRARY}"
      INTERFACE_COMPILE_DEFINITIONS "LNFOLD_WITH_OPENBLAS=1")
  endif()
endif()

# oneDNN (optional, LNFOLD_ONEDNN): the backend of float products where libdnnl is found (dnnl_sgemm: 7-30% faster
# than OpenBLAS at the benchmark models' shapes on the development machine; double products stay on OpenBLAS or
# Eigen). Imported as lnfold_onednn, which the lnfold target links.
if((NOT DEFINED LNFOLD_ONEDNN OR LNFOLD_ONEDNN) AND NOT TARGET lnfold_onednn)
  find_path(LNFOLD_ONEDNN_INCLUDE_DIR NAMES dnnl.h)
  find_library(LNFOLD_ONEDNN_LIBRARY NAMES dnnl)
  if(LNFOLD_ONEDNN_INCLUDE_DIR AND LNFOLD_ONEDNN_LIBRARY)
    add_library(lnfold_onednn INTERFACE IMPORTED)
    set_target_properties(lnfold_onednn PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${LNFOLD_ONEDNN_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${LNFOLD_ONEDNN_LIBRARY}"
      INTERFACE_COMPILE_DEFINITIONS "LNFOLD_WITH_ONEDNN=1")
  endif()
endif()
