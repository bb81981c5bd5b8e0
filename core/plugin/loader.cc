#include "core/plugin/loader.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/io/mapped_file.h"
#include "core/plugin/elf_symbols.h"

namespace memlens {
namespace {

namespace fs = std::filesystem;

// A plugin directory is shallow (bazel-bin/plugins/<name>/lib<name>.so); the bound keeps a
// mistaken --plugin_dir=/ from walking the whole disk.
constexpr int kMaxSearchDepth = 4;

// Reads the file's ELF dynamic symbols (elf_symbols.h) before dlopen runs any of its code:
// refuses a file that is not a shared library, lacks the entry point, or would register a flag
// that already exists (Abseil aborts the process on a duplicate flag).
absl::Status CheckBeforeLoading(const std::string& path) {
  absl::StatusOr<MappedFile> file = MappedFile::Open(path, kPluginFile);
  if (!file.ok()) return file.status();
  absl::StatusOr<ElfDynamicSymbols> symbols = ReadElfDynamicSymbols(file->bytes(), path);
  if (!symbols.ok()) {
    return absl::NotFoundError(
        absl::StrCat(symbols.status().message(), "; not a memlens plugin (not loaded)"));
  }
  if (std::find(symbols->defined.begin(), symbols->defined.end(), MEMLENS_PLUGIN_ENTRY_SYMBOL) ==
      symbols->defined.end()) {
    return absl::NotFoundError(absl::StrCat(
        path, ": not a memlens plugin: it has no entry point '", MEMLENS_PLUGIN_ENTRY_SYMBOL,
        "' in its dynamic symbol table (not loaded; define it with MEMLENS_REGISTER_PLUGIN from "
        "core/plugin/plugin_api.h)"));
  }
  for (const std::string& flag : symbols->flags) {
    if (const absl::CommandLineFlag* existing = absl::FindCommandLineFlag(flag)) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, ": its flag --", flag, " collides with the flag of the same name defined in ",
          existing->Filename(), " (not loaded; plugin flags should start with the plugin's name)"));
    }
  }
  return absl::OkStatus();
}

// Appends the demangled name of an undefined symbol in a dlerror() message: plugin authors
// read "undefined symbol: memlens::ActivationStore::Get(...) const" more easily than
// "_ZNK7memlens15ActivationStore3GetE...".
std::string ExplainDlerror(const char* err) {
  std::string msg = err == nullptr ? "unknown dlopen error" : err;
  constexpr absl::string_view kUndefined = "undefined symbol: ";
  const size_t at = msg.find(std::string(kUndefined));
  if (at == std::string::npos) return msg;
  const size_t start = at + kUndefined.size();
  size_t end = msg.find_first_of(" ,\n", start);
  if (end == std::string::npos) end = msg.size();
  const std::string mangled = msg.substr(start, end - start);
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (status == 0 && demangled != nullptr) {
    absl::StrAppend(&msg, " (", demangled,
                    "): the plugin was built against a different memlens core, or the host "
                    "binary lacks //core/plugin:plugin_host");
  }
  free(demangled);
  return msg;
}

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool LooksLikePath(absl::string_view entry) {
  return absl::StrContains(entry, '/') || absl::EndsWith(entry, ".so");
}

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status DuplicateError(const std::string& name, const std::string& a, const std::string& b) {
  return absl::AlreadyExistsError(absl::StrCat(
      "plugin name '", name, "' is defined by two files: ", a, " and ", b,
      " (remove one from the plugin directories, or select one by path)"));
}

std::set<std::string> FlagNames() {
  std::set<std::string> names;
  for (const auto& kv : absl::GetAllFlags()) names.emplace(kv.first);
  return names;
}

// The flags each plugin file registered when it was first opened (by real path): opening it
// again returns the same handle and registers nothing, so the first answer is kept.
absl::Mutex flags_mu;
std::map<std::string, std::vector<std::string>>& FlagsByFile() ABSL_EXCLUSIVE_LOCKS_REQUIRED(flags_mu) {
  static auto* m = new std::map<std::string, std::vector<std::string>>();
  return *m;
}

}  // namespace

absl::StatusOr<LoadedPlugin> LoadPluginFile(const std::string& path) {
  // dlopen treats a name without '/' as a library to look up in the system paths; a plugin
  // file is always a path.
  const std::string open_path = absl::StrContains(path, '/') ? path : "./" + path;
  const std::string real = RealPath(path);
  absl::MutexLock lock(&flags_mu);  // also serializes the before/after flag snapshots
  const bool first_open = FlagsByFile().count(real) == 0;
  if (first_open) {
    if (absl::Status s = CheckBeforeLoading(path); !s.ok()) return s;
  }
  const std::set<std::string> flags_before = first_open ? FlagNames() : std::set<std::string>();
  dlerror();
  void* handle = dlopen(open_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot load plugin: ", ExplainDlerror(dlerror())));
  }
  if (first_open) {
    std::vector<std::string>& added = FlagsByFile()[real];
    for (const std::string& f : FlagNames()) {
      if (!flags_before.count(f)) added.push_back(f);
    }
  }
  // Never dlclose'd (see loader.h): handle deliberately leaked from here on.
  dlerror();
  void* sym = dlsym(handle, MEMLENS_PLUGIN_ENTRY_SYMBOL);
  if (sym == nullptr) {
    const char* err = dlerror();
    return absl::NotFoundError(absl::StrCat(
        path, ": not a memlens plugin: it has no entry point '", MEMLENS_PLUGIN_ENTRY_SYMBOL,
        "' (define it with MEMLENS_REGISTER_PLUGIN from core/plugin/plugin_api.h)",
        err != nullptr ? absl::StrCat(" [", err, "]") : ""));
  }
  const MemlensPluginDescriptor* d = nullptr;
  try {
    d = reinterpret_cast<MemlensPluginEntryFn>(sym)();
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat(path, ": ", MEMLENS_PLUGIN_ENTRY_SYMBOL, "() threw: ", e.what()));
  } catch (...) {
    return absl::InternalError(
        absl::StrCat(path, ": ", MEMLENS_PLUGIN_ENTRY_SYMBOL, "() threw a non-standard exception"));
  }
  if (d == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", MEMLENS_PLUGIN_ENTRY_SYMBOL, "() returned null"));
  }
  // Only abi_version may be read before it is checked: the rest of the layout is per version.
  if (d->abi_version != MEMLENS_PLUGIN_ABI_VERSION) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": plugin ABI version ", d->abi_version, ", but this memlens expects ",
        MEMLENS_PLUGIN_ABI_VERSION, "; rebuild the plugin against this memlens's headers"));
  }
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": invalid plugin descriptor: ", what));
  };
  if (d->name == nullptr || !ValidName(d->name)) {
    return bad(d->name == nullptr
                   ? std::string("name is null")
                   : absl::StrCat("name '", d->name,
                                  "' must be 1 to 64 characters from [A-Za-z0-9_.-]"));
  }
  if (d->version == nullptr || d->version[0] == '\0') {
    return bad(absl::StrCat("plugin '", d->name, "' has no version"));
  }
  if (d->description == nullptr) {
    return bad(absl::StrCat("plugin '", d->name, "' has a null description"));
  }
  if (d->create == nullptr) {
    return bad(absl::StrCat("plugin '", d->name, "' has a null factory (create)"));
  }
  LoadedPlugin p;
  p.name = d->name;
  p.version = d->version;
  p.description = d->description;
  p.path = path;
  p.descriptor = d;
  p.flags = FlagsByFile()[real];
  return p;
}

std::vector<std::string> DefaultPluginDirs() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  // An installed PREFIX/bin/memlens keeps its plugins in PREFIX/lib/memlens/plugins.
  std::vector<std::string> candidates = {
      (exe.parent_path() / ".." / "lib" / "memlens" / "plugins").lexically_normal().string()};
  // A binary built by Bazel lives under <output>/bazel-out/<config>/bin/; memlens_plugin()
  // targets under //plugins land in that bin/plugins. Only that exact place, no walking up.
  const std::string path = exe.string();
  if (const size_t out = path.find("/bazel-out/"); out != std::string::npos) {
    const size_t bin = path.find("/bin/", out + 11);
    if (bin != std::string::npos && path.find('/', out + 11) == bin) {
      candidates.push_back(path.substr(0, bin) + "/bin/plugins");
    }
  }
  std::vector<std::string> out;
  for (const std::string& c : candidates) {
    if (fs::is_directory(c, ec)) out.push_back(c);
  }
  return out;
}

std::string DefaultPluginDir() {
  const std::vector<std::string> dirs = DefaultPluginDirs();
  return dirs.empty() ? "" : dirs.front();
}

std::vector<std::string> PluginSearchPath(const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  for (const std::string& d : dirs) {
    if (!d.empty()) out.push_back(d);
  }
  if (const char* env = std::getenv("MEMLENS_PLUGIN_PATH"); env != nullptr) {
    for (absl::string_view d : absl::StrSplit(env, ':', absl::SkipEmpty())) {
      out.emplace_back(d);
    }
  }
  for (std::string& d : DefaultPluginDirs()) out.push_back(std::move(d));
  return out;
}

std::vector<std::string> FindPluginFiles(const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  std::set<std::string> seen;  // real paths
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const fs::directory_entry& e = *it;
      const std::string base = e.path().filename().string();
      if (e.is_directory(ec)) {
        // Bazel puts a symlink to every binary under its .runfiles tree: same plugin again.
        if (absl::EndsWith(base, ".runfiles") || it.depth() + 1 >= kMaxSearchDepth) {
          it.disable_recursion_pending();
        }
        continue;
      }
      if (absl::StartsWith(base, "lib") && absl::EndsWith(base, ".so") && e.is_regular_file(ec)) {
        found.push_back(e.path().string());
      }
    }
    std::sort(found.begin(), found.end());
    for (std::string& f : found) {
      if (seen.insert(RealPath(f)).second) out.push_back(std::move(f));
    }
  }
  return out;
}

absl::StatusOr<std::vector<LoadedPlugin>> LoadPluginsFrom(
    const std::vector<std::string>& selection, const std::vector<std::string>& search_path,
    std::vector<absl::Status>* skipped) {
  const std::vector<std::string> files = FindPluginFiles(search_path);
  const std::string where =
      search_path.empty() ? "no plugin directories"
                          : absl::StrCat("searched ", absl::StrJoin(search_path, ", "));

  // Load results by file, so that each file is opened (and its errors reported) once.
  std::map<std::string, absl::StatusOr<LoadedPlugin>> loaded;
  auto load = [&](const std::string& file) -> const absl::StatusOr<LoadedPlugin>& {
    auto it = loaded.find(file);
    if (it == loaded.end()) it = loaded.emplace(file, LoadPluginFile(file)).first;
    return it->second;
  };

  if (selection.empty()) {
    std::vector<LoadedPlugin> out;
    std::vector<std::string> errors;
    std::map<std::string, std::string> by_name;  // name -> file
    for (const std::string& file : files) {
      const absl::StatusOr<LoadedPlugin>& p = load(file);
      if (!p.ok()) {
        if (skipped != nullptr) {
          // Not a memlens plugin at all (not ELF, no entry point: e.g. a system library under
          // --plugin_dir=/): ignored. A plugin that fails to load: reported.
          if (p.status().code() != absl::StatusCode::kNotFound) skipped->push_back(p.status());
        } else {
          errors.emplace_back(p.status().message());
        }
        continue;
      }
      auto [it, inserted] = by_name.emplace(p->name, file);
      if (!inserted) {
        if (skipped != nullptr) {
          skipped->push_back(DuplicateError(p->name, it->second, file));
        } else {
          errors.emplace_back(DuplicateError(p->name, it->second, file).message());
        }
        continue;
      }
      out.push_back(*p);
    }
    if (errors.size() == 1) return absl::FailedPreconditionError(errors[0]);
    if (!errors.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          errors.size(), " plugin files failed to load:\n  ", absl::StrJoin(errors, "\n  ")));
    }
    std::sort(out.begin(), out.end(),
              [](const LoadedPlugin& a, const LoadedPlugin& b) { return a.name < b.name; });
    return out;
  }

  std::vector<LoadedPlugin> out;
  std::map<std::string, std::string> chosen;  // name -> file, to catch duplicates
  auto add = [&](const LoadedPlugin& p) -> absl::Status {
    auto [it, inserted] = chosen.emplace(p.name, p.path);
    if (inserted) {
      out.push_back(p);
    } else if (RealPath(it->second) != RealPath(p.path)) {
      return DuplicateError(p.name, it->second, p.path);
    }  // the same file selected twice: once is enough
    return absl::OkStatus();
  };
  for (const std::string& entry : selection) {
    if (entry.empty()) continue;
    if (LooksLikePath(entry)) {
      const absl::StatusOr<LoadedPlugin>& p = load(entry);
      if (!p.ok()) return p.status();
      if (absl::Status s = add(*p); !s.ok()) return s;
      continue;
    }
    if (chosen.count(entry)) continue;  // already selected (e.g. by path)
    // By name: files named lib<name>.so first (the convention, cheap), then all the others.
    std::vector<const LoadedPlugin*> matches;
    const std::string conventional = absl::StrCat("lib", entry, ".so");
    for (int pass = 0; pass < 2 && matches.empty(); ++pass) {
      for (const std::string& file : files) {
        if ((Basename(file) == conventional) != (pass == 0)) continue;
        const absl::StatusOr<LoadedPlugin>& p = load(file);
        if (p.ok() && p->name == entry) matches.push_back(&*p);
      }
    }
    if (matches.empty()) {
      std::vector<std::string> available, errors;
      for (const std::string& file : files) {
        const absl::StatusOr<LoadedPlugin>& p = load(file);
        if (p.ok()) {
          available.push_back(p->name);
        } else {
          errors.emplace_back(p.status().message());
        }
      }
      std::string msg = absl::StrCat(
          "unknown plugin '", entry, "' (", where, "; available: ",
          available.empty() ? "none" : absl::StrJoin(available, ", "), ")");
      if (!errors.empty()) {
        absl::StrAppend(&msg, "; files that failed to load:\n  ", absl::StrJoin(errors, "\n  "));
      }
      return absl::NotFoundError(msg);
    }
    if (matches.size() > 1) return DuplicateError(entry, matches[0]->path, matches[1]->path);
    if (absl::Status s = add(*matches[0]); !s.ok()) return s;
  }
  return out;
}

absl::StatusOr<std::vector<LoadedPlugin>> LoadPlugins(const std::vector<std::string>& selection,
                                                      const std::vector<std::string>& dirs,
                                                      std::vector<absl::Status>* skipped) {
  return LoadPluginsFrom(selection, PluginSearchPath(dirs), skipped);
}

Report DescribePlugins(const std::vector<LoadedPlugin>& plugins) {
  Report report;
  report.metadata.title = "memlens plugins";
  Section section;
  section.plugin = "memlens";
  section.plugin_version = kMemlensVersion;
  section.title = "plugins";
  ReportBuilder b(&section);
  TableBuilder list = b.AddTable("plugins", {{"name"}, {"version"}, {"description"}, {"file"}});
  TableBuilder flags = b.AddTable("flags", {{"plugin"}, {"flag"}, {"default"}, {"value"}, {"help"}});
  for (const LoadedPlugin& p : plugins) {
    list.AddRow({p.name, p.version, p.description, p.path});
    for (const std::string& name : p.flags) {
      const absl::CommandLineFlag* f = absl::FindCommandLineFlag(name);
      if (f == nullptr) continue;
      flags.AddRow({p.name, absl::StrCat("--", name), f->DefaultValue(), f->CurrentValue(),
                    f->Help()});
    }
  }
  if (plugins.empty()) b.AddNote("No plugins found.");
  report.sections.push_back(std::move(section));
  return report;
}

}  // namespace memlens
