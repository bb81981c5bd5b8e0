// The dynamic symbols a shared library defines, read from the file without loading it.
//
// dlopen runs a library's constructors before the host can look at it, so the loader reads the
// ELF dynamic symbol table first: a file that is not a 64-bit little-endian x86-64 ELF shared
// object, or that does not define the memlens entry point, is refused before any of its code
// runs (`--plugin_dir=/` then loads nothing from the system's libraries), and the Abseil flags a
// plugin would register (its FLAGS_<name> symbols) are known in advance, so a flag colliding with
// one already registered is refused instead of aborting the process inside dlopen.
#ifndef MEMLENS_CORE_PLUGIN_ELF_SYMBOLS_H_
#define MEMLENS_CORE_PLUGIN_ELF_SYMBOLS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace memlens {

struct ElfDynamicSymbols {
  std::vector<std::string> defined;  // names of defined symbols (as in the file, mangled)
  // Flag names from FLAGS_<name> symbols (demangled first; ABSL_FLAG's FLAGS_no<name> companion
  // of a bool flag is left out).
  std::vector<std::string> flags;
};

// Parses the section headers and the SHT_DYNSYM table of an ELF image. Errors name `source` and
// what is wrong (not ELF, not a shared object, wrong class/machine, table outside the file).
absl::StatusOr<ElfDynamicSymbols> ReadElfDynamicSymbols(absl::Span<const uint8_t> image,
                                                        const std::string& source);

}  // namespace memlens

#endif  // MEMLENS_CORE_PLUGIN_ELF_SYMBOLS_H_
