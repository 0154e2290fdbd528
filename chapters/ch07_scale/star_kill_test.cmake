# star_kill_test.cmake — the star demo under random crashes (test demo.star.kill, label net).
#
#   cmake -DDEMO=<star executable> -DDIR=<scratch dir> [-DRUNS=20] -P star_kill_test.cmake
#
# Runs the demo RUNS times with small task sets, SIGKILLing worker w1 at a random point each
# time (after a random number of completed tasks, plus a random delay), and checks from the
# --results file itself — not from the demo's own claim — that every task id appears exactly
# once, completed by a worker that was not dropped for garbage.
foreach(var DEMO DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "star_kill_test.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT DEFINED RUNS)
  set(RUNS 20)
endif()
set(tasks 12)
file(MAKE_DIRECTORY ${DIR})
math(EXPR last "${RUNS} - 1")
foreach(run RANGE ${last})
  string(RANDOM LENGTH 2 ALPHABET 0123456789 r1)
  string(RANDOM LENGTH 2 ALPHABET 0123456789 r2)
  math(EXPR kill_after "${r1} % (${tasks} - 1) + 1")   # 1 .. tasks-1
  math(EXPR delay "${r2} % 15")                         # 0 .. 14 ms later
  set(results ${DIR}/star-${run}.txt)
  file(REMOVE ${results})
  execute_process(COMMAND ${DEMO} --workers 3 --tasks ${tasks} --work-ms 5
                          --kill-after ${kill_after} --kill-delay-ms ${delay} --results ${results}
    RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 30)
  if(NOT status STREQUAL "0")
    message(FATAL_ERROR "run ${run} (kill after ${kill_after} + ${delay} ms): status ${status}\n${out}${err}")
  endif()
  file(STRINGS ${results} lines)
  list(LENGTH lines n)
  if(NOT n EQUAL tasks)
    message(FATAL_ERROR "run ${run}: ${n} result lines, expected ${tasks}\n${out}")
  endif()
  math(EXPR top "${tasks} - 1")
  foreach(id RANGE ${top})
    set(count 0)
    foreach(line IN LISTS lines)
      if(line MATCHES "^${id} ([a-z0-9]+) ")
        math(EXPR count "${count} + 1")
        if(CMAKE_MATCH_1 STREQUAL "garbler")
          message(FATAL_ERROR "run ${run}: task ${id} credited to the garbler\n${out}")
        endif()
      endif()
    endforeach()
    if(NOT count EQUAL 1)
      message(FATAL_ERROR "run ${run}: task ${id} completed ${count} times\n${out}")
    endif()
  endforeach()
  message(STATUS "run ${run}: killed w1 after ${kill_after} tasks + ${delay} ms: ${tasks} tasks, each once")
endforeach()
message(STATUS "${RUNS} runs: every task completed exactly once")
