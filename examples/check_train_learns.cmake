# Run by CTest: a short training run (ARGS, a ;-list of train's options) must exit with 0 and end with a finite
# validation accuracy of at least MIN_ACCURACY (chosen well above chance and below what the run reaches).
execute_process(COMMAND "${TRAIN}" ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "train ${ARGS}: exit status ${rc}:\n${out}")
endif()
if(NOT out MATCHES "val accuracy ([0-9]+\\.[0-9]+),")
  message(FATAL_ERROR "train ${ARGS}: no finite 'val accuracy' in the output:\n${out}")
endif()
set(accuracy "${CMAKE_MATCH_1}")
if(accuracy LESS MIN_ACCURACY)
  message(FATAL_ERROR "train ${ARGS}: validation accuracy ${accuracy}, expected at least ${MIN_ACCURACY}:\n${out}")
endif()
message(STATUS "validation accuracy ${accuracy} (at least ${MIN_ACCURACY})")
