# Writes the SAM template to deploy: the source template with the dispatcher's
# retry event sources generated from the retry schedule the functions run with.
#
#   cmake -DHOOKLOOP=<hookloop binary> -DSOURCE=<source template> -DOUTPUT=<template to write>
#         [-DCODE_URI=<the package, relative to OUTPUT>] -P template.cmake
#
# Why generated: a retry goes to the topic of its tier (wh.retry.<tier>, one
# per delay of HOOKLOOP_RETRY_SCHEDULE), an MSK event source mapping reads
# exactly one topic and takes no pattern, so the dispatcher needs one mapping
# per tier, and a tier nobody consumes strands its retries. The tiers come
# from `hookloop retry-topics`, the code that names them when producing.
#
# Every event of DispatcherFunction whose name starts with "Retry" is replaced:
# the first one is the model (batch size, starting position, destination), and
# one copy named Retry<tier> reading <prefix>.<tier> is added per tier.
cmake_minimum_required(VERSION 3.19) # string(JSON)

foreach(v HOOKLOOP SOURCE OUTPUT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "template.cmake: -D${v}=... is required")
  endif()
endforeach()
file(READ "${SOURCE}" t)

set(vars Globals Function Environment Variables)
string(JSON schedule_type ERROR_VARIABLE err TYPE "${t}" ${vars} HOOKLOOP_RETRY_SCHEDULE)
if(err OR NOT schedule_type STREQUAL "STRING")
  message(FATAL_ERROR "${SOURCE}: Globals.Function.Environment.Variables.HOOKLOOP_RETRY_SCHEDULE must be a literal "
                      "string (the retry event sources are generated from it)")
endif()
string(JSON schedule GET "${t}" ${vars} HOOKLOOP_RETRY_SCHEDULE)
string(JSON prefix ERROR_VARIABLE err GET "${t}" ${vars} HOOKLOOP_RETRY_TOPIC_PREFIX)
if(err)
  set(prefix "wh.retry")
endif()

set(ENV{HOOKLOOP_RETRY_SCHEDULE} "${schedule}")
set(ENV{HOOKLOOP_RETRY_TOPIC_PREFIX} "${prefix}")
execute_process(COMMAND "${HOOKLOOP}" retry-topics OUTPUT_VARIABLE topics ERROR_VARIABLE why RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hookloop retry-topics failed: ${why}")
endif()
string(STRIP "${topics}" topics)
string(REPLACE "\n" ";" topics "${topics}")

set(events_path Resources DispatcherFunction Properties Events)
string(JSON events GET "${t}" ${events_path})
string(JSON n LENGTH "${events}")
set(model "")
set(retry_events "")
math(EXPR last "${n} - 1")
foreach(i RANGE ${last})
  string(JSON name MEMBER "${events}" ${i})
  if(name MATCHES "^Retry")
    list(APPEND retry_events "${name}")
    if(model STREQUAL "")
      string(JSON model GET "${events}" "${name}")
    endif()
  endif()
endforeach()
if(model STREQUAL "")
  message(FATAL_ERROR "${SOURCE}: DispatcherFunction has no Retry* event to model the retry event sources on")
endif()
foreach(name IN LISTS retry_events)
  string(JSON t REMOVE "${t}" ${events_path} "${name}")
endforeach()

string(LENGTH "${prefix}." plen)
foreach(topic IN LISTS topics)
  string(SUBSTRING "${topic}" ${plen} -1 tier)
  string(JSON ev SET "${model}" Properties Topics "[\"${topic}\"]")
  string(JSON t SET "${t}" ${events_path} "Retry${tier}" "${ev}")
endforeach()

if(DEFINED CODE_URI)
  string(JSON t SET "${t}" Globals Function CodeUri "\"${CODE_URI}\"")
endif()
file(WRITE "${OUTPUT}" "${t}\n")
list(LENGTH topics ntopics)
message(STATUS "${OUTPUT}: ${ntopics} retry event sources (${schedule})")
