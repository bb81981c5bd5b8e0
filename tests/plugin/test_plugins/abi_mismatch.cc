// Test plugin built for another ABI version: the loader must refuse it and say both numbers.
#include "core/plugin/plugin_api.h"

extern "C" const MemlensPluginDescriptor* memlens_plugin_descriptor(void) {
  static const MemlensPluginDescriptor d = {MEMLENS_PLUGIN_ABI_VERSION + 1000, "abi_mismatch",
                                            "0.1", "built for another ABI", nullptr};
  return &d;
}
