// Test shared object with no memlens entry point.
extern "C" int not_a_plugin(void) { return 1; }
