# check_demo.cmake — the body of every demo.<name> test (see gofer_add_demo).
#
#   cmake -DDEMO=<executable> [-DARGS=<a;b;...>] -DSUMMARY=<regex> -P check_demo.cmake
#
# Runs the demo, echoing what it prints, and passes only if it exits with status 0 and the
# last line of its standard output matches SUMMARY.
foreach(var DEMO SUMMARY)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_demo.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${DEMO} ${ARGS}
  RESULT_VARIABLE status
  OUTPUT_VARIABLE out
  ECHO_OUTPUT_VARIABLE)

get_filename_component(name ${DEMO} NAME)
if(NOT status STREQUAL "0")
  message(FATAL_ERROR "${name} exited with status ${status}, expected 0")
endif()
string(STRIP "${out}" out)
string(REGEX MATCH "[^\n]*$" last "${out}")
if(NOT last MATCHES "${SUMMARY}")
  message(FATAL_ERROR "${name}: the last line should match\n  ${SUMMARY}\nbut it is\n  ${last}")
endif()
