# hw/testbed/testbed.cmake: fastwake_add_testbed_test(): a CTest test that runs a command in the QEMU + Soft-RoCE guest.
#
#   include(${PROJECT_SOURCE_DIR}/hw/testbed/testbed.cmake)
#   fastwake_add_testbed_test(NAME kmod_ioctls
#     ARGS    --module ${CMAKE_BINARY_DIR}/kmod/fastwake.ko --add $<TARGET_FILE:fw_kmod_test>
#     COMMAND /opt/fw/fw_kmod_test
#     TIMEOUT 120            # seconds for COMMAND in the guest (default 300)
#     LABELS  kmod)
#
# ARGS go to hw/testbed/run-in-guest.sh before "--", COMMAND after it (one
# argument = a shell command line). The test: label "testbed" (+ LABELS), skips
# (exit 77) only when qemu-system-x86_64 is missing (or when COMMAND itself
# exits 77), holds RESOURCE_LOCK fw_testbed so guests boot one at a time, and
# uses the guest image in FASTWAKE_TESTBED_DIR (built on first use, cached).
include_guard(GLOBAL)

set(FASTWAKE_TESTBED_DIR "${CMAKE_BINARY_DIR}/testbed" CACHE PATH
    "Guest image directory for testbed tests (hw/testbed/build-guest.sh --out)")
function(fastwake_add_testbed_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "ARGS;COMMAND;LABELS" ${ARGN})
  # (Not a variable set at include time: include_guard skips the file in the
  # second directory that includes it, and plain variables are per directory.)
  set(run_in_guest "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/run-in-guest.sh")
  if(NOT T_NAME OR NOT T_COMMAND)
    message(FATAL_ERROR "fastwake_add_testbed_test: NAME and COMMAND are required")
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  # QEMU is killed at TIMEOUT + 150 s (boot allowance); CTest waits longer,
  # so run-in-guest.sh can report what happened (and first builds the image).
  math(EXPR ctest_timeout "${T_TIMEOUT} + 300")
  add_test(NAME ${T_NAME}
    COMMAND bash ${run_in_guest} --skip-unavailable
            --guest-dir ${FASTWAKE_TESTBED_DIR} --timeout ${T_TIMEOUT}
            ${T_ARGS} -- ${T_COMMAND})
  set_tests_properties(${T_NAME} PROPERTIES
    LABELS "testbed;${T_LABELS}"
    SKIP_RETURN_CODE 77
    RESOURCE_LOCK fw_testbed
    RUN_SERIAL TRUE  # a TCG guest beside other tests on two cores can stall for minutes
    TIMEOUT ${ctest_timeout})
endfunction()
