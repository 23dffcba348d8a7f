# Run by CTest: the path of the README's demo, short. train --model gpt (30 steps) saves its weights; generate
# reads them and writes 60 sampled bytes with the LayerNorm model and then the folded one, which must agree
# ("same tokens: yes", exit 0); so must GPT-2 small with random weights; a missing weights file is a clear error
# (exit 1, naming the file).
file(MAKE_DIRECTORY "${WORK_DIR}")
set(weights "${WORK_DIR}/char_gpt.safetensors")
file(REMOVE "${weights}")
execute_process(COMMAND "${TRAIN}" --model gpt --steps 30 --batch 8 --eval-every 30 --quiet --save "${weights}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT EXISTS "${weights}")
  message(FATAL_ERROR "train --save: exit status ${rc}, weights written: no:\n${out}")
endif()
execute_process(COMMAND "${GENERATE}" --weights "${weights}" --prompt "The " --tokens 60 --temperature 0.8 --top-k 20
                        --seed 3 --both
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "same tokens: yes \\(60 of 60 agree\\)")
  message(FATAL_ERROR "generate --both: exit status ${rc}, expected 'same tokens: yes (60 of 60 agree)':\n${out}\n${err}")
endif()
if(NOT err MATCHES "LayerNorm: prefill 4 tokens in .* decode 60 tokens in .*folded: prefill 4 tokens")
  message(FATAL_ERROR "generate --both: no speed report on stderr:\n${err}")
endif()
# GPT-2 small (random weights, token ids): the LayerNorm and folded models agree on 4 greedy tokens.
execute_process(COMMAND "${GENERATE}" --model gpt2 --random-weights --ids 464,2068,7586 --tokens 4 --both
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "same tokens: yes \\(4 of 4 agree\\)")
  message(FATAL_ERROR "generate --model gpt2 --both: exit status ${rc}:\n${out}\n${err}")
endif()
execute_process(COMMAND "${GENERATE}" --weights "${WORK_DIR}/missing.safetensors"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 1 OR NOT out MATCHES "missing.safetensors")
  message(FATAL_ERROR "generate with a missing file: exit status ${rc}, expected 1 and the file named:\n${out}")
endif()
message(STATUS "train --save -> generate --both: the same 60 tokens")
