// See mmap_core.h.
#include "mmap_core.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

namespace mpx {

namespace {

std::string FormatNumber(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  if (d == std::floor(d) && std::fabs(d) < 9.2e18)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(d));
  else if (std::snprintf(buf, sizeof buf, "%.15g", d) > 0 && std::strtod(buf, nullptr) != d)
    std::snprintf(buf, sizeof buf, "%.17g", d);  // shortest of the two that reads back as d
  return buf;
}

}  // namespace

std::string CheckIndex(double d, double max) {
  if (std::isnan(d)) return "is NaN";
  if (std::isinf(d) || d != std::floor(d) || d < 0) return "is " + FormatNumber(d);
  if (!(d <= max)) return "is " + FormatNumber(d) + ", more than " + FormatNumber(max);
  return "";
}

uint64_t MaxMapLength(double runtime_max) {
  uint64_t max = uint64_t{1} << 32;  // Node 20's buffer.constants.MAX_LENGTH
  if (runtime_max >= 1 && runtime_max <= kMaxSafeInteger)  // false for NaN
    max = static_cast<uint64_t>(runtime_max);
  if (max > static_cast<uint64_t>(kMaxSafeInteger)) max = static_cast<uint64_t>(kMaxSafeInteger);
  if (max > static_cast<uint64_t>(PTRDIFF_MAX)) max = static_cast<uint64_t>(PTRDIFF_MAX);
  return max;
}

// ---- SIGBUS guard -----------------------------------------------------------

namespace {

struct Guard {
  std::atomic<uintptr_t> start{0};  // 0 = free slot, kClaimed = being filled in
  std::atomic<size_t> len{0};
};
constexpr uintptr_t kClaimed = 1;
Guard g_guards[kGuards];
std::atomic<int> g_guard_high{0};  // slots [0, high) may be in use
std::atomic<int> g_guard_next{0};  // search hint: slots below it were in use
std::atomic<int> g_guards_used{0};
std::atomic<uint64_t> g_faults{0};
std::atomic<uintptr_t> g_page{4096};
struct sigaction g_prev_bus;
std::once_flag g_install_once;

void OnSigbus(int sig, siginfo_t* info, void* uctx) {
  if (info->si_code == BUS_ADRERR) {
    uintptr_t page = GuardedPage(reinterpret_cast<uintptr_t>(info->si_addr));
    if (page != 0) {
      void* r = ::mmap(reinterpret_cast<void*>(page), g_page.load(std::memory_order_relaxed), PROT_READ,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (r != MAP_FAILED) {
        g_faults.fetch_add(1, std::memory_order_release);
        return;
      }
    }
  }
  // Not ours: do what would have happened without this handler.
  if ((g_prev_bus.sa_flags & SA_SIGINFO) != 0 && g_prev_bus.sa_sigaction != nullptr) {
    g_prev_bus.sa_sigaction(sig, info, uctx);
    return;
  }
  if (g_prev_bus.sa_handler != SIG_DFL && g_prev_bus.sa_handler != SIG_IGN) {
    g_prev_bus.sa_handler(sig);
    return;
  }
  ::signal(SIGBUS, SIG_DFL);
  ::raise(SIGBUS);  // delivered when this handler returns: the default action
}

}  // namespace

size_t PageSize() {
  // Initialised before the handler is installed (InstallSigbusGuard calls it),
  // so the handler only ever reads g_page.
  static const size_t page = [] {
    long p = ::sysconf(_SC_PAGESIZE);
    size_t v = p > 0 && (p & (p - 1)) == 0 ? static_cast<size_t>(p) : 4096;
    g_page.store(v, std::memory_order_relaxed);
    return v;
  }();
  return page;
}

void InstallSigbusGuard() {
  std::call_once(g_install_once, [] {
    PageSize();
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = OnSigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_prev_bus);
  });
}

int GuardRange(void* addr, size_t len) {
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  // 0 and kClaimed are slot states; a range must not wrap (GuardedPage
  // computes its last byte as a + len - 1).
  if (a <= kClaimed || len == 0 || len - 1 > UINTPTR_MAX - a) return -1;
  PageSize();
  // Lowest free slot first (keeps g_guard_high, the handler's scan, short),
  // found from a hint below which every slot was in use: filling the table
  // costs O(n), not O(n^2). Races only cost a longer scan, which wraps around.
  int from = g_guard_next.load(std::memory_order_relaxed);
  for (int k = 0; k < kGuards; k++) {
    int i = (from + k) & (kGuards - 1);
    uintptr_t expected = 0;
    if (g_guards[i].start.load(std::memory_order_relaxed) != 0) continue;
    // Claim the slot, fill in len, then publish start (the handler reads len after start).
    if (!g_guards[i].start.compare_exchange_strong(expected, kClaimed, std::memory_order_acquire)) continue;
    g_guards[i].len.store(len, std::memory_order_relaxed);
    g_guards[i].start.store(a, std::memory_order_release);
    int high = g_guard_high.load(std::memory_order_relaxed);
    while (high <= i && !g_guard_high.compare_exchange_weak(high, i + 1, std::memory_order_release)) {
    }
    int next = g_guard_next.load(std::memory_order_relaxed);
    while (next <= i && !g_guard_next.compare_exchange_weak(next, i + 1, std::memory_order_relaxed)) {
    }
    g_guards_used.fetch_add(1, std::memory_order_relaxed);
    return i;
  }
  return -1;
}

void Unguard(int slot) {
  if (slot < 0 || slot >= kGuards) return;
  if (g_guards[slot].start.exchange(0, std::memory_order_release) > kClaimed)
    g_guards_used.fetch_sub(1, std::memory_order_relaxed);
  int next = g_guard_next.load(std::memory_order_relaxed);
  while (slot < next && !g_guard_next.compare_exchange_weak(next, slot, std::memory_order_relaxed)) {
  }
}

uintptr_t GuardedPage(uintptr_t a) {
  uintptr_t mask = g_page.load(std::memory_order_relaxed) - 1;
  int high = g_guard_high.load(std::memory_order_acquire);
  for (int i = 0; i < high; i++) {
    uintptr_t s = g_guards[i].start.load(std::memory_order_acquire);
    if (s <= kClaimed || a < s) continue;
    // Last byte of the range's last page; no overflow: s + len - 1 was checked
    // at registration, and OR-ing in the page bits stays below 2^N.
    uintptr_t last = (s + (g_guards[i].len.load(std::memory_order_relaxed) - 1)) | mask;
    if (a <= last) return a & ~mask;
  }
  return 0;
}

int GuardsInUse() { return g_guards_used.load(std::memory_order_relaxed); }

uint64_t FaultCount() { return g_faults.load(std::memory_order_acquire); }

// ---- live mappings ----------------------------------------------------------

namespace {

// Process-wide (worker threads share one address space), hence the mutex.
std::mutex g_mu;
std::unordered_map<uintptr_t, Mapping> g_by_id;
std::unordered_map<void*, uintptr_t> g_by_addr;
uintptr_t g_next_id = 1;

}  // namespace

int Map(int fd, size_t len, bool writable, Mapping* out, bool* guard_full) {
  *guard_full = false;
  if (len == 0 || len > static_cast<size_t>(PTRDIFF_MAX)) return EINVAL;
  if (!writable) InstallSigbusGuard();
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* addr = ::mmap(nullptr, len, prot, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return errno;
  int guard = -1;
  if (!writable) {
    guard = GuardRange(addr, len);
    if (guard < 0) {
      ::munmap(addr, len);
      *guard_full = true;
      return ENOMEM;
    }
  }
  try {
    std::lock_guard<std::mutex> lock(g_mu);
    uintptr_t id = g_next_id;
    while (id == 0 || g_by_id.count(id) != 0) id++;  // only after 2^N ids (32-bit)
    g_next_id = id + 1;
    Mapping m{id, addr, len, guard, writable};
    g_by_id.emplace(id, m);
    try {
      g_by_addr.emplace(addr, id);
    } catch (...) {
      g_by_id.erase(id);
      throw;
    }
    *out = m;
    return 0;
  } catch (const std::bad_alloc&) {
    Unguard(guard);
    ::munmap(addr, len);
    return ENOMEM;
  }
}

bool Lookup(void* addr, size_t len, Mapping* out) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto a = g_by_addr.find(addr);
  if (a == g_by_addr.end()) return false;
  auto m = g_by_id.find(a->second);
  if (m == g_by_id.end() || m->second.len != len) return false;
  *out = m->second;
  return true;
}

bool Take(uintptr_t id, Mapping* out) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto m = g_by_id.find(id);
    if (m == g_by_id.end()) return false;
    *out = m->second;
    g_by_addr.erase(out->addr);
    g_by_id.erase(m);
  }
  Unguard(out->guard);
  return true;
}

bool Release(uintptr_t id) {
  Mapping m;
  if (!Take(id, &m)) return false;
  ::munmap(m.addr, m.len);
  return true;
}

size_t LiveCount() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_by_id.size();
}

}  // namespace mpx
