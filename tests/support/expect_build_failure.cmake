# Run by CTest: builds TARGET in BUILD_DIR and passes only when the build fails with exactly one compiler error
# whose output contains EXPECT (the never-defined diagnostic template with its numbers, or the assert text).
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must be rejected at compile time")
endif()
string(FIND "${out}" "${EXPECT}" position)
if(position EQUAL -1)
  message(FATAL_ERROR "${TARGET} failed to compile, but without the expected diagnostic '${EXPECT}':\n${out}")
endif()
string(REGEX MATCHALL "error: " errors "${out}")
list(LENGTH errors error_count)
if(NOT error_count EQUAL 1)
  message(FATAL_ERROR "${TARGET}: expected one compiler error, got ${error_count}:\n${out}")
endif()
message(STATUS "${TARGET} was rejected with: ${EXPECT}")
