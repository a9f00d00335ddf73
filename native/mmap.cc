// multiproc_mmap: the few POSIX calls the exporter needs that Node lacks
// (mmap/munmap/msync/madvise/flock), exposed via node-addon-api (N-API 8).
// Errors surface as JS Errors: "<syscall> failed: <ERRNO> (<detail>)" with
// .code/.errno/.syscall set like Node's own system errors.
#include <napi.h>

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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
};

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
  if (!m->unmapped) ::munmap(m->addr, m->len);
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
  void* addr = ::mmap(nullptr, len, prot, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) ThrowErrno(env, errno, "mmap", detail);

  Mapping* m = new Mapping{addr, len, false};
  Napi::ArrayBuffer ab;
  try {
    ab = Napi::ArrayBuffer::New(env, addr, len, Finalize, m);
    ab.TypeTag(&kTag);
  } catch (...) {  // finalizer will not run: clean up ourselves
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
  return exports;
}

}  // namespace

NODE_API_MODULE(multiproc_mmap, Init)
