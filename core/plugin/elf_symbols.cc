#include "core/plugin/elf_symbols.h"

#include <cxxabi.h>
#include <elf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

// Copies a T from image[offset, offset + sizeof(T)), false when it does not fit.
template <typename T>
bool ReadAt(absl::Span<const uint8_t> image, uint64_t offset, T* out) {
  if (offset > image.size() || sizeof(T) > image.size() - offset) return false;
  std::memcpy(out, image.data() + offset, sizeof(T));
  return true;
}

std::string Demangle(const std::string& name) {
  if (!absl::StartsWith(name, "_Z")) return name;
  int status = 0;
  char* d = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  std::string out = status == 0 && d != nullptr ? d : name;
  std::free(d);
  return out;
}

}  // namespace

absl::StatusOr<ElfDynamicSymbols> ReadElfDynamicSymbols(absl::Span<const uint8_t> image,
                                                        const std::string& source) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
  };
  Elf64_Ehdr eh;
  if (!ReadAt(image, 0, &eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    return bad("not an ELF shared library");
  }
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
      eh.e_machine != EM_X86_64) {
    return bad("an ELF file for another machine (memlens plugins are 64-bit x86-64)");
  }
  if (eh.e_type != ET_DYN) return bad("an ELF file but not a shared library");
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0) {
    return bad("an ELF shared library without section headers (cannot read its symbols)");
  }
  auto section = [&](uint64_t index, Elf64_Shdr* sh) {
    return index < eh.e_shnum && ReadAt(image, eh.e_shoff + index * sizeof(Elf64_Shdr), sh);
  };
  ElfDynamicSymbols out;
  std::set<std::string> flags;
  for (uint64_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh;
    if (!section(i, &sh)) return bad("ELF section headers lie outside the file");
    if (sh.sh_type != SHT_DYNSYM) continue;
    Elf64_Shdr strtab;
    if (!section(sh.sh_link, &strtab) || strtab.sh_offset > image.size() ||
        strtab.sh_size > image.size() - strtab.sh_offset) {
      return bad("the ELF dynamic string table lies outside the file");
    }
    if (sh.sh_entsize != sizeof(Elf64_Sym) || sh.sh_offset > image.size() ||
        sh.sh_size > image.size() - sh.sh_offset) {
      return bad("the ELF dynamic symbol table lies outside the file");
    }
    const char* strings = reinterpret_cast<const char*>(image.data() + strtab.sh_offset);
    for (uint64_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); ++k) {
      Elf64_Sym sym;
      if (!ReadAt(image, sh.sh_offset + k * sizeof(Elf64_Sym), &sym)) break;
      if (sym.st_shndx == SHN_UNDEF || sym.st_name >= strtab.sh_size) continue;
      const int bind = ELF64_ST_BIND(sym.st_info);
      if (bind != STB_GLOBAL && bind != STB_WEAK) continue;
      const char* name = strings + sym.st_name;
      const size_t len = strnlen(name, strtab.sh_size - sym.st_name);
      if (len == strtab.sh_size - sym.st_name) continue;  // not terminated inside the table
      out.defined.emplace_back(name, len);
      const std::string plain = Demangle(out.defined.back());
      if (absl::StartsWith(plain, "FLAGS_")) {
        flags.insert(plain.substr(6, plain.find('[') - 6));  // "[abi:cxx11]" of std::string flags
      }
    }
  }
  // ABSL_FLAG(bool, x, ...) also defines FLAGS_nox, which registers nothing.
  for (const std::string& f : flags) {
    if (absl::StartsWith(f, "no") && flags.count(f.substr(2))) continue;
    out.flags.push_back(f);
  }
  return out;
}

}  // namespace memlens
