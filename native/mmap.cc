// multiproc_mmap: the few POSIX calls the exporter needs that Node lacks
// (mmap/munmap/msync/madvise/flock), exposed via node-addon-api (N-API 8).
// Errors surface as JS Errors: "<syscall> failed: <ERRNO> (<detail>)" with
// .code/.errno/.syscall set like Node's own system errors.
//
// Read-only mappings are guarded against SIGBUS: another process may shrink a
// file the reader has mapped, and touching a page past the new end raises
// SIGBUS, which would kill the daemon. See "SIGBUS guard" below.
#include <napi.h>

#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

namespace {

// Finalize hint of every mapping. Owned by the ArrayBuffer's GC finalizer;
// `unmapped` records an explicit munmap() so the finalizer never unmaps twice
// (by then the address range may belong to a newer mapping).
struct Mapping {
  void* addr;
  size_t len;
  bool unmapped;
  int guard;  // slot in g_guards, or -1 (writable mappings are not guarded)
};

// ---- SIGBUS guard -----------------------------------------------------------
// A read-only mapping's range is registered in a fixed lock-free table (the
// signal handler may not take locks or allocate). On SIGBUS at an address in a
// registered range (the file shrank under the mapping), the handler maps one
// anonymous zero page over the faulting page and returns: the access is
// retried and reads zeros. It also bumps g_faults, so the reader knows its
// mappings may show zeros and remaps them after a fresh fstat (faultCount()).
// Any other SIGBUS goes to the previous handler, by default killing the process
// as before. mmap() in a signal handler is not on POSIX's async-signal-safe
// list, but on Linux it is a plain system call that takes no user-space lock.
// 65536 slots: the kernel's default vm.max_map_count (65530) is lower.
constexpr int kGuards = 1 << 16;
struct Guard {
  std::atomic<uintptr_t> start{0};  // 0 = free slot, kClaimed = being filled in
  std::atomic<size_t> len{0};
};
constexpr uintptr_t kClaimed = 1;
Guard g_guards[kGuards];
std::atomic<int> g_guard_high{0};  // slots [0, high) may be in use
std::atomic<uint64_t> g_faults{0};
struct sigaction g_prev_bus;
uintptr_t g_page = 4096;
std::once_flag g_install_once;

void OnSigbus(int sig, siginfo_t* info, void* uctx) {
  uintptr_t a = reinterpret_cast<uintptr_t>(info->si_addr);
  if (info->si_code == BUS_ADRERR) {
    int high = g_guard_high.load(std::memory_order_acquire);
    for (int i = 0; i < high; i++) {
      uintptr_t s = g_guards[i].start.load(std::memory_order_acquire);
      if (s <= kClaimed || a < s) continue;
      uintptr_t end = (s + g_guards[i].len.load(std::memory_order_relaxed) + g_page - 1) & ~(g_page - 1);
      if (a >= end) continue;
      void* page = reinterpret_cast<void*>(a & ~(g_page - 1));
      void* r = ::mmap(page, g_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (r != MAP_FAILED) {
        g_faults.fetch_add(1, std::memory_order_release);
        return;
      }
      break;
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

void InstallSigbusGuard() {
  std::call_once(g_install_once, [] {
    g_page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = OnSigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_prev_bus);
  });
}

// Registers [addr, addr+len); returns the slot, or -1 when the table is full.
int GuardRange(void* addr, size_t len) {
  for (int i = 0; i < kGuards; i++) {
    uintptr_t expected = 0;
    if (g_guards[i].start.load(std::memory_order_relaxed) != 0) continue;
    // Claim the slot, fill in len, then publish start (the handler reads len after start).
    if (!g_guards[i].start.compare_exchange_strong(expected, kClaimed, std::memory_order_acquire)) continue;
    g_guards[i].len.store(len, std::memory_order_relaxed);
    g_guards[i].start.store(reinterpret_cast<uintptr_t>(addr), std::memory_order_release);
    int high = g_guard_high.load(std::memory_order_relaxed);
    while (high <= i && !g_guard_high.compare_exchange_weak(high, i + 1, std::memory_order_release)) {
    }
    return i;
  }
  return -1;
}

// Before munmap: the range may be reused by an unrelated mapping.
void Unguard(Mapping* m) {
  if (m->guard >= 0) g_guards[m->guard].start.store(0, std::memory_order_release);
  m->guard = -1;
}

// Live mappings by address. Lets munmap/msync/madvise reject ArrayBuffers that
// did not come from mmap() instead of handing arbitrary memory to the kernel.
// Process-wide (worker threads share one address space), hence the mutex.
std::mutex g_mu;
std::unordered_map<void*, Mapping*> g_live;

// Tag put on every ArrayBuffer we return. It survives Detach(), so a repeated
// munmap() of an already-unmapped buffer is recognised as ours (no-op).
constexpr napi_type_tag kTag = {0x6d756c746970726fULL, 0x632d6d6d61702d31ULL};

const char* ErrnoName(int e) {
  switch (e) {
#define X(n) case n: return #n;
    X(EACCES) X(EAGAIN) X(EBADF) X(EBUSY) X(EFAULT) X(EFBIG) X(EINTR)
    X(EINVAL) X(EIO) X(EMFILE) X(ENFILE) X(ENODEV) X(ENOENT) X(ENOLCK)
    X(ENOMEM) X(ENOSPC) X(ENOSYS) X(ENOTSUP) X(EOVERFLOW) X(EPERM) X(EROFS)
    X(ETXTBSY)
#undef X
    default: return nullptr;
  }
}

[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall,
                             const std::string& detail) {
  const char* name = ErrnoName(err);
  std::string what = name ? name : std::string("errno ") + std::to_string(err) +
                                       " " + std::strerror(err);
  Napi::Error e = Napi::Error::New(
      env, std::string(syscall) + " failed: " + what + " (" + detail + ")");
  if (name) e.Set("code", name);
  e.Set("errno", Napi::Number::New(env, -err));  // negative, like libuv/Node
  e.Set("syscall", syscall);
  throw e;
}

// Non-negative integer argument no larger than `max`, else TypeError.
double IntArg(const Napi::CallbackInfo& info, size_t i, const char* fn,
              const char* name, double max) {
  Napi::Value v = info[i];
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= max && d == std::floor(d)))
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + name +
                                               " must be a non-negative integer");
  return d;
}
int FdArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  return static_cast<int>(IntArg(info, i, fn, "fd", 2147483647.0));
}

std::string StrArg(const Napi::CallbackInfo& info, size_t i, const char* fn,
                   const char* name) {
  if (!info[i].IsString())
    throw Napi::TypeError::New(info.Env(),
                               std::string(fn) + ": " + name + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::ArrayBuffer BufferArg(const Napi::CallbackInfo& info, const char* fn) {
  if (!info[0].IsArrayBuffer())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": expected an ArrayBuffer");
  return info[0].As<Napi::ArrayBuffer>();
}

// Registry entry for a live (not yet unmapped) buffer from mmap(); TypeError
// for foreign buffers, Error for ones that were already unmapped.
Mapping* LiveMapping(const Napi::CallbackInfo& info, Napi::ArrayBuffer ab,
                     const char* fn) {
  bool ours = ab.CheckTypeTag(&kTag);
  if (ours && ab.IsDetached())
    throw Napi::Error::New(info.Env(), std::string(fn) + ": buffer has been unmapped");
  if (ours) {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_live.find(ab.Data());
    if (it != g_live.end() && it->second->len == ab.ByteLength()) return it->second;
  }
  throw Napi::TypeError::New(info.Env(),
                             std::string(fn) + ": ArrayBuffer was not created by mmap()");
}

void Finalize(Napi::Env, void* /*data*/, Mapping* m) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!m->unmapped) g_live.erase(m->addr);
  }
  if (!m->unmapped) {
    Unguard(m);
    ::munmap(m->addr, m->len);
  }
  delete m;
}

Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "mmap");
  double dlen = IntArg(info, 1, "mmap", "length", 9007199254740991.0);
  bool writable = info[2].ToBoolean();
  std::string detail = "fd " + std::to_string(fd) + ", length " +
                       std::to_string(static_cast<uint64_t>(dlen));
  if (dlen == 0)  // POSIX: EINVAL; give a clearer message
    throw Napi::RangeError::New(env, "mmap: length must be > 0 (" + detail + ")");
  size_t len = static_cast<size_t>(dlen);
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  if (!writable) InstallSigbusGuard();
  void* addr = ::mmap(nullptr, len, prot, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) ThrowErrno(env, errno, "mmap", detail);
  int guard = -1;
  if (!writable) {
    guard = GuardRange(addr, len);
    if (guard < 0) {
      ::munmap(addr, len);
      ThrowErrno(env, ENOMEM, "mmap", detail + ", " + std::to_string(kGuards) + " read-only mappings already guarded");
    }
  }

  Mapping* m = new Mapping{addr, len, false, guard};
  Napi::ArrayBuffer ab;
  try {
    ab = Napi::ArrayBuffer::New(env, addr, len, Finalize, m);
    ab.TypeTag(&kTag);
  } catch (...) {  // finalizer will not run: clean up ourselves
    Unguard(m);
    ::munmap(addr, len);
    delete m;
    throw;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  g_live[addr] = m;
  return ab;
}

Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer ab = BufferArg(info, "munmap");
  if (ab.IsDetached() && ab.CheckTypeTag(&kTag)) return env.Undefined();  // idempotent
  Mapping* m = LiveMapping(info, ab, "munmap");
  void* addr = m->addr;  // copy: after Detach the hint may be finalized any time
  size_t len = m->len;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    m->unmapped = true;  // the GC finalizer must now only free the struct
    g_live.erase(addr);
  }
  Unguard(m);
  // Detach BEFORE unmapping: detaching sets byteLength of the buffer and every
  // typed-array/DataView over it to 0, so JS can no longer reach the pages.
  // Unmapping first would leave live views pointing at unmapped memory, and
  // the next access would SIGSEGV the whole process.
  ab.Detach();
  if (::munmap(addr, len) != 0)
    ThrowErrno(env, errno, "munmap", "length " + std::to_string(len));
  return env.Undefined();
}

Napi::Value Msync(const Napi::CallbackInfo& info) {
  Mapping* m = LiveMapping(info, BufferArg(info, "msync"), "msync");
  int flags = info[1].ToBoolean() ? MS_SYNC : MS_ASYNC;
  if (::msync(m->addr, m->len, flags) != 0)
    ThrowErrno(info.Env(), errno, "msync", "length " + std::to_string(m->len));
  return info.Env().Undefined();
}

Napi::Value Madvise(const Napi::CallbackInfo& info) {
  Mapping* m = LiveMapping(info, BufferArg(info, "madvise"), "madvise");
  std::string a = StrArg(info, 1, "madvise", "advice");
  int advice;
  if (a == "normal") advice = MADV_NORMAL;
  else if (a == "random") advice = MADV_RANDOM;
  else if (a == "sequential") advice = MADV_SEQUENTIAL;
  else if (a == "willneed") advice = MADV_WILLNEED;
  else if (a == "dontneed") advice = MADV_DONTNEED;
  else throw Napi::TypeError::New(info.Env(), "madvise: unknown advice '" + a + "'");
  if (::madvise(m->addr, m->len, advice) != 0)
    ThrowErrno(info.Env(), errno, "madvise", "advice " + a);
  return info.Env().Undefined();
}

Napi::Value Flock(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0, "flock");
  std::string o = StrArg(info, 1, "flock", "op");
  bool nb = info[2].ToBoolean();
  int op;
  if (o == "sh") op = LOCK_SH;
  else if (o == "ex") op = LOCK_EX;
  else if (o == "un") op = LOCK_UN;
  else throw Napi::TypeError::New(info.Env(), "flock: op must be 'sh', 'ex' or 'un'");
  if (nb) op |= LOCK_NB;
  int r;
  do r = ::flock(fd, op); while (r != 0 && errno == EINTR);
  if (r == 0) return Napi::Boolean::New(info.Env(), true);
  if (nb && (errno == EWOULDBLOCK || errno == EAGAIN))  // held elsewhere
    return Napi::Boolean::New(info.Env(), false);
  ThrowErrno(info.Env(), errno, "flock", "fd " + std::to_string(fd) + ", op " + o);
}

Napi::Value FileSize(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0, "fileSize");
  struct stat st;
  if (::fstat(fd, &st) != 0)
    ThrowErrno(info.Env(), errno, "fstat", "fd " + std::to_string(fd));
  return Napi::Number::New(info.Env(), static_cast<double>(st.st_size));
}

// SIGBUS faults absorbed so far (pages of shrunk files replaced by zero pages).
Napi::Value FaultCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(g_faults.load(std::memory_order_acquire)));
}

Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(::sysconf(_SC_PAGESIZE)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
  exports.Set("msync", Napi::Function::New(env, Msync, "msync"));
  exports.Set("madvise", Napi::Function::New(env, Madvise, "madvise"));
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("fileSize", Napi::Function::New(env, FileSize, "fileSize"));
  exports.Set("pageSize", Napi::Function::New(env, PageSize, "pageSize"));
  exports.Set("faultCount", Napi::Function::New(env, FaultCount, "faultCount"));
  return exports;
}

}  // namespace

NODE_API_MODULE(multiproc_mmap, Init)
