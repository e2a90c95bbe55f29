// Declarations only (include/CTernFuzz.h): the definitions come from libFuzzer when tern-fuzz
// is built with -sanitize=fuzzer (scripts/fuzz).
#include "CTernFuzz.h"
