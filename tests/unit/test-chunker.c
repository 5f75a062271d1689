#include "config.h"
#include "tests/unit/tap.h"
int main(void) { ok(1, "placeholder"); return tap_done(); }
