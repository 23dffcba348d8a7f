# Run by CTest: train's failure paths (issue 24). A log it cannot write (/dev/full, a missing directory) is refused
# before the first step with the reason and exit status 1, an older log at the path survives a refused run, and an
# absurd batch is a clear error, not an uncaught std::bad_alloc.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(failures "")

# expect(<regex> <args...>): exit status 1 and output matching regex.
function(expect regex)
  execute_process(COMMAND "${TRAIN}" --model mlp --steps 2 --eval-every 1 --eval-samples 10 --quiet ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(REPLACE ";" " " command "${ARGN}")
  if(NOT rc EQUAL 1)
    set(failures "${failures}\ntrain ${command}: exit status ${rc}, expected 1:\n${out}" PARENT_SCOPE)
  elseif(NOT out MATCHES "${regex}")
    set(failures "${failures}\ntrain ${command}: the output does not match '${regex}':\n${out}" PARENT_SCOPE)
  endif()
endfunction()

expect("cannot write log '/dev/full': it is not a regular file" --log /dev/full)
expect("cannot write log '${WORK_DIR}/missing/log.csv': cannot create a temporary file in the directory '${WORK_DIR}/missing': No such file or directory"
       --log "${WORK_DIR}/missing/log.csv")
file(WRITE "${WORK_DIR}/old.csv" "an older log")
expect("out of memory|cannot allocate" --batch 1000000000000 --log "${WORK_DIR}/old.csv")
file(READ "${WORK_DIR}/old.csv" old)
if(NOT old STREQUAL "an older log")
  set(failures "${failures}\na failed run changed the older log at ${WORK_DIR}/old.csv: '${old}'")
endif()
file(GLOB left "${WORK_DIR}/.*")
if(left)
  set(failures "${failures}\ntemporary files left behind: ${left}")
endif()

if(failures)
  message(FATAL_ERROR "${failures}")
endif()
