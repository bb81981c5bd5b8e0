// Test plugin whose descriptor has no factory.
#include "core/plugin/plugin_api.h"

extern "C" const MemlensPluginDescriptor* memlens_plugin_descriptor(void) {
  static const MemlensPluginDescriptor d = {MEMLENS_PLUGIN_ABI_VERSION, "null_factory", "0.1",
                                            "no factory", nullptr};
  return &d;
}
