// libFuzzer target over the addon's core (../mmap_core.cc, the code the
// daemon runs): each input is a program of operations on one file of fuzzed
// content and size (sparse up to 1 TiB) — map with fuzzed lengths (NaN,
// negative, fractional, past 4 GiB, past the file's end) through the same
// checks the addon applies to numbers from JS, read and write through the
// mappings, shrink and grow the file under them (the SIGBUS guard turns pages
// past the new end into zero pages), unmap by every path, register guard
// ranges with fuzzed addresses and lengths, fill the guard table.
//
// A model of the file says what every read must return; any difference, a
// leaked mapping or guard slot, or a sanitizer report is a crash.
// Build and run: `npm run fuzz:native` (native/sanitize.mjs).
#include <fcntl.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "../mmap_core.h"

namespace {

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "fuzz_mmap: check failed at line %d: %s\n", __LINE__, #cond); \
      std::abort();                                                          \
    }                                                                        \
  } while (0)

constexpr uint64_t GiB = uint64_t{1} << 30;
constexpr size_t kModelBytes = 1 << 16;  // content is modelled (and written) below 64 KiB
constexpr size_t kMaxLive = 8;
constexpr int kMaxOps = 48;

int g_rw = -1;   // the file, read-write
int g_ro = -1;   // the same file, read-only (a writable map of it is EACCES)
int g_dir = -1;  // a directory (mmap: ENODEV)
size_t g_page = 4096;

struct Live {
  mpx::Mapping m;
  std::set<uintptr_t> zero_pages;  // page offsets the SIGBUS guard replaced
};

struct State {
  uint64_t size = 0;
  std::vector<uint8_t> content;  // the first min(size, kModelBytes) bytes; zeros past it
  std::vector<Live> live;
  uint64_t max_len = mpx::MaxMapLength(0);

  uint8_t Expected(const Live& l, uint64_t off) const {
    if (l.zero_pages.count(off & ~uint64_t(g_page - 1)) != 0) return 0;
    if (off >= size) return 0;
    return off < content.size() ? content[off] : 0;
  }
  void Resize(uint64_t n) {
    CHECK(::ftruncate(g_rw, static_cast<off_t>(n)) == 0);
    size = n;
    content.resize(static_cast<size_t>(std::min<uint64_t>(n, kModelBytes)), 0);
  }
};

uint64_t RoundUp(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

// A length or size: one of the edges, or any 64-bit value.
uint64_t InterestingSize(FuzzedDataProvider& p, const State& s) {
  const uint64_t pick[] = {0, 1, 7, 8, g_page - 1, g_page, g_page + 1, 3 * g_page,
                           kModelBytes, s.size, s.size + 1, s.size ? s.size - 1 : 0,
                           (uint64_t{1} << 31) - 1, uint64_t{1} << 31, (uint64_t{1} << 32) - 1,
                           uint64_t{1} << 32, (uint64_t{1} << 32) + 1, 5 * GiB, s.max_len, s.max_len + 1};
  if (p.ConsumeBool()) return pick[p.ConsumeIntegralInRange<size_t>(0, sizeof pick / sizeof pick[0] - 1)];
  return p.ConsumeIntegral<uint64_t>();
}

// A number as JS could pass it: any double (NaN, infinities, -0, fractions).
double JsNumber(FuzzedDataProvider& p, const State& s) {
  if (p.ConsumeBool()) return static_cast<double>(InterestingSize(p, s));
  uint64_t bits = p.ConsumeIntegral<uint64_t>();
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

bool IsIndex(double d, double max) { return std::isfinite(d) && d == std::floor(d) && d >= 0 && d <= max; }

void CheckArgumentChecks(FuzzedDataProvider& p, const State& s) {
  double d = JsNumber(p, s);
  double max = p.ConsumeBool() ? mpx::kMaxSafeInteger : JsNumber(p, s);
  std::string why = mpx::CheckIndex(d, max);
  CHECK(why.empty() == IsIndex(d, max));
  CHECK(why.size() < 100);
  uint64_t m = mpx::MaxMapLength(d);
  CHECK(m >= 1 && m <= uint64_t{9007199254740991} && m <= static_cast<uint64_t>(PTRDIFF_MAX));
  if (d >= 1 && d <= mpx::kMaxSafeInteger && static_cast<uint64_t>(d) <= static_cast<uint64_t>(PTRDIFF_MAX))
    CHECK(m == static_cast<uint64_t>(d));
  else if (!(d >= 1))
    CHECK(m == uint64_t{1} << 32);
}

void OpMap(FuzzedDataProvider& p, State& s) {
  if (s.live.size() >= kMaxLive) return;
  double d = JsNumber(p, s);
  bool writable = p.ConsumeBool();
  int fd = g_rw;
  switch (p.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: fd = g_ro; break;
    case 1: fd = g_dir; break;
    case 2: fd = 1 << 20; break;  // not open: EBADF
    default: break;
  }
  // The addon's order: an integer in [0, 2^53-1], > 0, <= maxLength(); else it throws.
  if (!mpx::CheckIndex(d, mpx::kMaxSafeInteger).empty() || d == 0) return;
  uint64_t len = static_cast<uint64_t>(d);
  if (len > s.max_len) return;
  size_t before = mpx::LiveCount();
  int guards = mpx::GuardsInUse();
  mpx::Mapping m;
  bool full = false;
  int err = mpx::Map(fd, static_cast<size_t>(len), writable, &m, &full);
  if (err != 0) {
    CHECK(mpx::LiveCount() == before && mpx::GuardsInUse() == guards && !full);
    if (fd == g_ro && writable) CHECK(err == EACCES);
    if (fd == g_dir) CHECK(err == (writable ? EACCES : ENODEV));
    if (fd == 1 << 20) CHECK(err == EBADF);
    if (fd == g_rw) CHECK(err == ENOMEM || err == EINVAL || err == EOVERFLOW);
    return;
  }
  CHECK(fd == g_rw || (fd == g_ro && !writable));
  CHECK(m.len == len && m.writable == writable && (m.guard >= 0) == !writable);
  CHECK(mpx::LiveCount() == before + 1 && mpx::GuardsInUse() == guards + (writable ? 0 : 1));
  mpx::Mapping found;
  CHECK(mpx::Lookup(m.addr, m.len, &found) && found.id == m.id);
  CHECK(!mpx::Lookup(m.addr, m.len + 1, &found));
  uintptr_t a = reinterpret_cast<uintptr_t>(m.addr);
  if (!writable) CHECK(mpx::GuardedPage(a + (len - 1)) == ((a + (len - 1)) & ~uintptr_t(g_page - 1)));
  s.live.push_back(Live{m, {}});
}

Live* PickLive(FuzzedDataProvider& p, State& s) {
  if (s.live.empty()) return nullptr;
  return &s.live[p.ConsumeIntegralInRange<size_t>(0, s.live.size() - 1)];
}

uint64_t PickOffset(FuzzedDataProvider& p, uint64_t len) {
  switch (p.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: return 0;
    case 1: return len - 1;
    case 2: return p.ConsumeIntegralInRange<uint64_t>(0, std::min<uint64_t>(len, 3 * kModelBytes) - 1);
    default: return p.ConsumeIntegralInRange<uint64_t>(0, len - 1);
  }
}

void OpRead(FuzzedDataProvider& p, State& s) {
  Live* l = PickLive(p, s);
  if (l == nullptr) return;
  uint64_t off = PickOffset(p, l->m.len);
  // A writable mapping is not guarded: a page past the end would SIGBUS for real.
  if (l->m.writable && off >= RoundUp(s.size, g_page)) return;
  uint64_t faults = mpx::FaultCount();
  uint8_t got = static_cast<volatile uint8_t*>(l->m.addr)[off];
  uint64_t page = off & ~uint64_t(g_page - 1);
  bool faulted = mpx::FaultCount() != faults;
  // Only a read-only page wholly past the end faults, exactly once (then it is a zero page).
  bool past = page >= RoundUp(s.size, g_page) && l->zero_pages.count(page) == 0;
  CHECK(faulted == (past && !l->m.writable));
  if (faulted) l->zero_pages.insert(page);
  CHECK(got == s.Expected(*l, off));
}

void OpWrite(FuzzedDataProvider& p, State& s) {
  if (s.content.empty()) return;
  uint64_t off = p.ConsumeIntegralInRange<uint64_t>(0, s.content.size() - 1);
  size_t n = std::min<size_t>(p.ConsumeIntegralInRange<size_t>(1, 64), s.content.size() - off);
  std::vector<uint8_t> bytes = p.ConsumeBytes<uint8_t>(n);
  if (bytes.empty()) return;
  Live* l = p.ConsumeBool() ? PickLive(p, s) : nullptr;
  if (l != nullptr && l->m.writable && off + bytes.size() <= l->m.len) {
    std::memcpy(static_cast<uint8_t*>(l->m.addr) + off, bytes.data(), bytes.size());
  } else {
    CHECK(::pwrite(g_rw, bytes.data(), bytes.size(), static_cast<off_t>(off)) == static_cast<ssize_t>(bytes.size()));
  }
  std::memcpy(s.content.data() + off, bytes.data(), bytes.size());
}

void Unmap(State& s, size_t i, bool by_release) {
  mpx::Mapping m = s.live[i].m;
  size_t before = mpx::LiveCount();
  if (by_release) {
    CHECK(mpx::Release(m.id));
  } else {
    mpx::Mapping taken;
    CHECK(mpx::Take(m.id, &taken) && taken.addr == m.addr && taken.len == m.len);
    CHECK(::munmap(taken.addr, taken.len) == 0);
  }
  CHECK(!mpx::Release(m.id));  // a second unmap (the GC finalizer, later) does nothing
  mpx::Mapping found;
  CHECK(!mpx::Lookup(m.addr, m.len, &found));
  CHECK(mpx::LiveCount() == before - 1);
  s.live.erase(s.live.begin() + static_cast<long>(i));
}

void OpUnmap(FuzzedDataProvider& p, State& s) {
  if (s.live.empty()) return;
  Unmap(s, p.ConsumeIntegralInRange<size_t>(0, s.live.size() - 1), p.ConsumeBool());
}

void OpResize(FuzzedDataProvider& p, State& s) {
  uint64_t n = InterestingSize(p, s);
  if (n > 1024 * GiB) n %= 1024 * GiB + 1;  // sparse, within what ext4 and tmpfs hold
  s.Resize(n);
}

void OpGuard(FuzzedDataProvider& p) {
  uintptr_t addr = p.ConsumeIntegral<uintptr_t>();
  size_t len = p.ConsumeBool() ? p.ConsumeIntegralInRange<size_t>(0, 4 * g_page) : p.ConsumeIntegral<size_t>();
  if (p.ConsumeBool()) addr = UINTPTR_MAX - p.ConsumeIntegralInRange<uintptr_t>(0, 2 * g_page);
  int before = mpx::GuardsInUse();
  int slot = mpx::GuardRange(reinterpret_cast<void*>(addr), len);
  bool valid = addr > 1 && len > 0 && len - 1 <= UINTPTR_MAX - addr;
  CHECK((slot >= 0) == valid);  // the table has room: at most kMaxLive real guards
  if (slot < 0) {
    CHECK(mpx::GuardsInUse() == before);
    return;
  }
  uintptr_t mask = g_page - 1;
  uintptr_t last = addr + (len - 1);
  CHECK(mpx::GuardsInUse() == before + 1);
  CHECK(mpx::GuardedPage(addr) == (addr & ~mask));
  CHECK(mpx::GuardedPage(last) == (last & ~mask));
  CHECK(mpx::GuardedPage(last | mask) == (last & ~mask));  // the rest of the last page
  mpx::Unguard(slot);
  CHECK(mpx::GuardsInUse() == before);
}

// Fill the guard table: the next read-only mapping is refused (ENOMEM), nothing leaks.
void OpFillGuards(State& s) {
  std::vector<int> slots;
  for (;;) {
    int slot = mpx::GuardRange(reinterpret_cast<void*>(uintptr_t{1} << 40), g_page);
    if (slot < 0) break;
    slots.push_back(slot);
    CHECK(slots.size() <= static_cast<size_t>(mpx::kGuards));
  }
  CHECK(mpx::GuardsInUse() == mpx::kGuards);
  size_t before = mpx::LiveCount();
  mpx::Mapping m;
  bool full = false;
  CHECK(mpx::Map(g_rw, g_page, false, &m, &full) == ENOMEM && full);
  CHECK(mpx::LiveCount() == before);
  if (s.live.size() < kMaxLive) {  // writable mappings are not guarded
    CHECK(mpx::Map(g_rw, g_page, true, &m, &full) == 0 && !full);
    s.live.push_back(Live{m, {}});
  }
  for (int slot : slots) mpx::Unguard(slot);
  CHECK(mpx::GuardsInUse() == static_cast<int>(s.live.size()) - static_cast<int>(std::count_if(s.live.begin(), s.live.end(), [](const Live& l) { return l.m.writable; })));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/fuzz_mmap.XXXXXX";
  std::vector<char> buf(path.begin(), path.end());
  buf.push_back('\0');
  g_rw = ::mkstemp(buf.data());
  CHECK(g_rw >= 0);
  g_ro = ::open(buf.data(), O_RDONLY);
  CHECK(g_ro >= 0);
  CHECK(::unlink(buf.data()) == 0);  // the fds keep the file; nothing is left behind
  g_dir = ::open("/", O_RDONLY | O_DIRECTORY);
  CHECK(g_dir >= 0);
  g_page = mpx::PageSize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider p(data, size);
  State s;
  s.Resize(0);
  std::vector<uint8_t> initial = p.ConsumeBytes<uint8_t>(p.ConsumeIntegralInRange<size_t>(0, 256));
  if (!initial.empty()) {
    CHECK(::pwrite(g_rw, initial.data(), initial.size(), 0) == static_cast<ssize_t>(initial.size()));
    s.size = initial.size();
    s.content = initial;
  }
  if (p.ConsumeBool()) s.Resize(InterestingSize(p, s) % (1024 * GiB + 1));
  for (int i = 0; i < kMaxOps && p.remaining_bytes() > 0; i++) {
    switch (p.ConsumeIntegralInRange<int>(0, 9)) {
      case 0: case 1: OpMap(p, s); break;
      case 2: case 3: OpRead(p, s); break;
      case 4: OpWrite(p, s); break;
      case 5: OpUnmap(p, s); break;
      case 6: OpResize(p, s); break;
      case 7: OpGuard(p); break;
      case 8: CheckArgumentChecks(p, s); break;
      case 9:
        if (p.ConsumeIntegralInRange<int>(0, 63) == 0) OpFillGuards(s);
        else s.max_len = mpx::MaxMapLength(JsNumber(p, s));  // a runtime with other buffer limits
        break;
    }
  }
  while (!s.live.empty()) Unmap(s, s.live.size() - 1, s.live.size() % 2 == 0);
  CHECK(mpx::LiveCount() == 0 && mpx::GuardsInUse() == 0);
  return 0;
}
