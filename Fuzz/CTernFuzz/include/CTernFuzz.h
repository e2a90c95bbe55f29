#ifndef CTERNFUZZ_H
#define CTERNFUZZ_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt FuzzerInterface.h), linked only by `-sanitize=fuzzer`: runs
/// the fuzzing loop with `callback` as the target and libFuzzer's flags from argv. `tern-fuzz`
/// calls it from its own entry point, because SwiftPM links an executable's `main` to the
/// module's entry function.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
