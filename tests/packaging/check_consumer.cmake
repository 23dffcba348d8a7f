# Run by CTest. MODE=install: installs lnfold from BUILD_DIR into WORK_DIR/prefix, builds the consumer with
# find_package and, separately, with pkg-config flags. MODE=subdirectory: builds the consumer with
# add_subdirectory(SOURCE_DIR). Each build must succeed and the consumer must run and print "ok".
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "failed: ${command}\n${out}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(consumer "${SOURCE_DIR}/tests/packaging/consumer")
if(MODE STREQUAL "install")
  run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
  run("${CMAKE_COMMAND}" -S "${consumer}" -B "${WORK_DIR}/build" -DCMAKE_BUILD_TYPE=Release
      "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
  run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
  run("${WORK_DIR}/build/consumer")

  # pkg-config: compile the same program with the flags of the installed lnfold.pc.
  find_program(PKG_CONFIG pkg-config REQUIRED)
  set(ENV{PKG_CONFIG_PATH} "${WORK_DIR}/prefix/share/pkgconfig")
  run("${PKG_CONFIG}" --cflags --libs lnfold)
  string(STRIP "${last_output}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run("${CXX}" -O1 "${consumer}/main.cpp" ${flags} -o "${WORK_DIR}/consumer_pkgconfig")
  run("${WORK_DIR}/consumer_pkgconfig")
else()
  run("${CMAKE_COMMAND}" -S "${consumer}" -B "${WORK_DIR}/build" -DCMAKE_BUILD_TYPE=Release
      "-DLNFOLD_SOURCE_DIR=${SOURCE_DIR}")
  run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
  run("${WORK_DIR}/build/consumer")
endif()
if(NOT last_output MATCHES "consumer: ok")
  message(FATAL_ERROR "the consumer did not report ok:\n${last_output}")
endif()
message(STATUS "${MODE}: ${last_output}")
