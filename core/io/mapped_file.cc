#include "core/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

// The live mappings, for the SIGBUS handler and CheckMappedFilesUnchanged. Fixed slots: a
// signal handler may neither lock nor allocate, so it reads `begin`/`end` atomically and the
// path only after seeing them set (they are published last, with release order).
struct MappingSlot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  char path[1024];
  struct stat identity;  // at mapping time: device, inode, size, modification time
};
constexpr int kMappingSlots = 256;
MappingSlot g_mappings[kMappingSlots];
std::mutex g_mappings_mu;
struct sigaction g_previous_sigbus;

void WriteAll(const char* s) {
  for (size_t n = std::strlen(s); n > 0;) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

// A read from a mapped page whose file was truncated raises SIGBUS: name the file and stop,
// instead of dying with "Bus error". Faults elsewhere go to the previous handler.
void OnSigbus(int sig, siginfo_t* info, void* context) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (const MappingSlot& slot : g_mappings) {
    const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    if (begin != 0 && addr >= begin && addr < slot.end.load(std::memory_order_relaxed)) {
      WriteAll("memlens: ");
      WriteAll(slot.path);
      WriteAll(": the file shrank while memlens was reading it in place (truncated or rewritten "
               "by another program); stopping without results\n");
      ::_exit(EXIT_FAILURE);
    }
  }
  if (g_previous_sigbus.sa_flags & SA_SIGINFO && g_previous_sigbus.sa_sigaction != nullptr) {
    g_previous_sigbus.sa_sigaction(sig, info, context);
    return;
  }
  ::signal(SIGBUS, SIG_DFL);
  ::raise(SIGBUS);
}

void Register(const void* mapping, size_t size, const std::string& path, const struct stat& st) {
  static std::once_flag install;
  std::call_once(install, [] {
    struct sigaction sa = {};
    sa.sa_sigaction = OnSigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous_sigbus);
  });
  std::lock_guard<std::mutex> lock(g_mappings_mu);
  for (MappingSlot& slot : g_mappings) {
    if (slot.begin.load(std::memory_order_relaxed) != 0) continue;
    std::snprintf(slot.path, sizeof(slot.path), "%s", path.c_str());
    slot.identity = st;
    const uintptr_t begin = reinterpret_cast<uintptr_t>(mapping);
    slot.end.store(begin + size, std::memory_order_relaxed);
    slot.begin.store(begin, std::memory_order_release);
    return;
  }
  // All slots taken (hundreds of files mapped at once): this one just has no named message.
}

void Unregister(const void* mapping) {
  std::lock_guard<std::mutex> lock(g_mappings_mu);
  for (MappingSlot& slot : g_mappings) {
    if (slot.begin.load(std::memory_order_relaxed) == reinterpret_cast<uintptr_t>(mapping)) {
      slot.begin.store(0, std::memory_order_release);
      return;
    }
  }
}

}  // namespace

absl::StatusOr<MappedFile> MappedFile::Open(const std::string& path, const FileKind& kind) {
  absl::StatusOr<CheckedFile> checked = OpenRegularFile(path, kind);
  if (!checked.ok()) return checked.status();
  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(checked->size);
  if (file.size_ > 0) {
    // Read-only until MappedFloats makes a tensor's pages writable: a writable private mapping
    // is charged to the commit limit in full, which refuses files larger than memory that
    // `memlens info` must still describe.
    void* p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, checked->fd.get(), 0);
    if (p == MAP_FAILED) {  // opening was checked: what is left is ENOMEM and the like
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": cannot map the file: ", std::strerror(errno)));
    }
    file.mapping_ = p;
    file.data_ = static_cast<const uint8_t*>(p);
    Register(p, file.size_, path, checked->status);
  }
  return file;  // the mapping keeps the file referenced after the descriptor closes
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Reset();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapping_ = std::exchange(other.mapping_, nullptr);
  }
  return *this;
}

MappedFile::~MappedFile() { Reset(); }

void MappedFile::Reset() {
  if (mapping_ != nullptr) {
    Unregister(mapping_);
    ::munmap(mapping_, size_);
  }
  mapping_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

absl::StatusOr<absl::Span<const uint8_t>> MappedFile::Subspan(uint64_t offset, uint64_t length,
                                                              absl::string_view what) const {
  // offset + length may overflow; compare against the remaining room instead.
  if (offset > size_ || length > size_ - offset) {
    return absl::OutOfRangeError(absl::StrCat(path_, ": ", what, " at bytes [", offset, ", ",
                                              offset, " + ", length, ") lies outside the file (",
                                              size_, " bytes)"));
  }
  return absl::Span<const uint8_t>(data_ + offset, static_cast<size_t>(length));
}

std::optional<Tensor> MappedFloats(const std::shared_ptr<const MappedFile>& file,
                                   absl::Span<const uint8_t> bytes, std::vector<int64_t> shape) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(bytes.data());
  if (begin % alignof(float) != 0) return std::nullopt;
  if (!bytes.empty()) {
    // Private pages made writable: a write (weight processing) copies the page, never reaching
    // the file. Whole pages, so a neighbouring tensor's pages may become writable too (equally
    // private). Failure (the commit limit) leaves the caller to copy.
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t first = begin / page * page;
    const uintptr_t last = (begin + bytes.size() + page - 1) / page * page;
    if (::mprotect(reinterpret_cast<void*>(first), last - first, PROT_READ | PROT_WRITE) != 0) {
      return std::nullopt;
    }
  }
  const size_t n = Tensor::NumElements(shape);
  float* floats = reinterpret_cast<float*>(const_cast<uint8_t*>(bytes.data()));
  return Tensor(std::move(shape), TensorData::View(floats, n, file));
}

absl::Status CheckMappedFilesUnchanged() {
  std::lock_guard<std::mutex> lock(g_mappings_mu);
  for (const MappingSlot& slot : g_mappings) {
    if (slot.begin.load(std::memory_order_relaxed) == 0) continue;
    struct stat now;
    // Gone, or another file now (replaced by rename): the mapped one is intact.
    if (::stat(slot.path, &now) != 0 || now.st_dev != slot.identity.st_dev ||
        now.st_ino != slot.identity.st_ino) {
      continue;
    }
    const struct stat& then = slot.identity;
    if (now.st_size != then.st_size || now.st_mtim.tv_sec != then.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != then.st_mtim.tv_nsec) {
      return absl::AbortedError(absl::StrCat(
          slot.path, ": the file was modified while memlens used it in place (rewritten by "
          "another program); the results could mix old and new contents and were not written"));
    }
  }
  return absl::OkStatus();
}

void ReleaseMappedPages(const void* data, size_t size) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + size) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void PopulateMappedPages(const void* data, size_t size) {
  if (size == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(data) + size;
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif
  if (madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_READ) == 0) return;
  // An older kernel: touch one byte per page.
  volatile uint8_t sink = 0;
  for (uintptr_t p = begin; p < end; p += page) sink ^= *reinterpret_cast<const uint8_t*>(p);
  (void)sink;
}

}  // namespace memlens
