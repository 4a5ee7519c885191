#!/bin/sh
# valgrind_wrap.sh — stands in for the oclip program in the CLI tests (make test-valgrind):
# runs $OCLIP_REAL (default build-valgrind/oclip) under valgrind's memcheck with every argument.
# Any memcheck error (invalid read/write, uninitialised value used, a definite, indirect or
# possible leak) makes the program exit 99, which the tests report as a wrong exit status
# together with valgrind's report on stderr. Memory still reachable at exit (the tokenizer's
# vocabulary and other tables built once per process) is no error.
exec valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes \
    "${OCLIP_REAL:-build-valgrind/oclip}" "$@"
