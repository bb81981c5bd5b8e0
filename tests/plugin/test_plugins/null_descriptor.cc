// Test plugin whose entry point returns null.
#include "core/plugin/plugin_api.h"

extern "C" const MemlensPluginDescriptor* memlens_plugin_descriptor(void) { return nullptr; }
