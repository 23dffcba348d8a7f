# Install rules: headers, the CMake package (find_package(lnfold CONFIG)) and a pkg-config file.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/lnfold" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS lnfold EXPORT lnfoldTargets)

set(LNFOLD_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/lnfold")
install(EXPORT lnfoldTargets NAMESPACE lnfold:: DESTINATION "${LNFOLD_CMAKE_DIR}")
if(TARGET lnfold_openblas)
  set(LNFOLD_BLAS_USED ON)
else()
  set(LNFOLD_BLAS_USED OFF)
endif()
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/lnfoldConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/lnfoldConfig.cmake" INSTALL_DESTINATION "${LNFOLD_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/lnfoldConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/lnfoldConfig.cmake" "${PROJECT_BINARY_DIR}/lnfoldConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/lnfoldDependencies.cmake" DESTINATION "${LNFOLD_CMAKE_DIR}")

if(LNFOLD_OPENMP AND OpenMP_CXX_FOUND)
  set(LNFOLD_PC_CFLAGS "-fopenmp")
  set(LNFOLD_PC_LIBS "-fopenmp")
endif()
if(TARGET lnfold_openblas)
  get_filename_component(lnfold_openblas_dir "${LNFOLD_OPENBLAS_LIBRARY}" DIRECTORY)
  string(APPEND LNFOLD_PC_CFLAGS " -DLNFOLD_WITH_OPENBLAS=1 -I${LNFOLD_OPENBLAS_INCLUDE_DIR}")
  string(APPEND LNFOLD_PC_LIBS " -L${lnfold_openblas_dir} -lopenblas")
endif()
if(ZLIB_FOUND)
  string(APPEND LNFOLD_PC_CFLAGS " -DLNFOLD_HAS_ZLIB=1")
  string(APPEND LNFOLD_PC_LIBS " -lz")
endif()
configure_file("${PROJECT_SOURCE_DIR}/cmake/lnfold.pc.in" "${PROJECT_BINARY_DIR}/lnfold.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/lnfold.pc" DESTINATION "${CMAKE_INSTALL_DATADIR}/pkgconfig")
