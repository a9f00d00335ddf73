// multiproc_mmap: the few POSIX calls the exporter needs that Node lacks
// (mmap/munmap/msync/madvise/flock), exposed via node-addon-api (N-API 8).
// Errors surface as JS Errors: "<syscall> failed: <ERRNO> (<detail>)" with
// .code/.errno/.syscall set like Node's own system errors. Every number from
// JS is checked before use: a bad one is a TypeError/RangeError, never a crash.
//
// Read-only mappings are guarded against SIGBUS: another process may shrink a
// file the reader has mapped, and touching a page past the new end raises
// SIGBUS, which would kill the daemon. The guard, the registry of live
// mappings and the argument checks are plain C++ in mmap_core.cc (shared with
// the libFuzzer harness in fuzz/); this file is the N-API layer.
#include <napi.h>

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "mmap_core.h"

namespace {

// Largest mmap() length: what Node's buffers can hold (set in Init). Node
// wraps an external ArrayBuffer in a Buffer, and for a longer one Node 20
// calls the finalizer at once and fails the call (see Mmap()).
uint64_t g_max_len = mpx::MaxMapLength(0);

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

// Non-negative integer argument no larger than `max`, else TypeError
// ("mmap: length must be a non-negative integer (is -1)").
double IntArg(const Napi::CallbackInfo& info, size_t i, const char* fn,
              const char* name, double max) {
  Napi::Value v = info[i];
  std::string bad = v.IsNumber() ? mpx::CheckIndex(v.As<Napi::Number>().DoubleValue(), max)
                                 : std::string("is not a number");
  if (!bad.empty())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + name +
                                               " must be a non-negative integer (" + bad + ")");
  return v.As<Napi::Number>().DoubleValue();
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

// Registry entry of a live (not yet unmapped) buffer from mmap(); TypeError
// for foreign buffers, Error for ones that were already unmapped.
mpx::Mapping LiveMapping(const Napi::CallbackInfo& info, Napi::ArrayBuffer ab,
                         const char* fn) {
  bool ours = ab.CheckTypeTag(&kTag);
  if (ours && ab.IsDetached())
    throw Napi::Error::New(info.Env(), std::string(fn) + ": buffer has been unmapped");
  mpx::Mapping m;
  if (ours && mpx::Lookup(ab.Data(), ab.ByteLength(), &m)) return m;
  throw Napi::TypeError::New(info.Env(),
                             std::string(fn) + ": ArrayBuffer was not created by mmap()");
}

// GC finalizer. The hint is the mapping's id (an integer, nothing to free):
// if munmap() or a failed creation already took it, this does nothing.
void FinalizeMapping(napi_env, void*, void* hint) {
  mpx::Release(reinterpret_cast<uintptr_t>(hint));
}

// The pending JS exception's message, cleared (after a failed napi call).
std::string TakePendingMessage(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) return "no exception";
  napi_value e;
  if (napi_get_and_clear_last_exception(env, &e) != napi_ok) return "unknown";
  try {
    return Napi::Value(env, e).ToString().Utf8Value();
  } catch (const Napi::Error&) {
    return "unprintable exception";
  }
}

Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "mmap");
  double dlen = IntArg(info, 1, "mmap", "length", mpx::kMaxSafeInteger);
  bool writable = info[2].ToBoolean();
  uint64_t len64 = static_cast<uint64_t>(dlen);
  std::string detail = "fd " + std::to_string(fd) + ", length " + std::to_string(len64);
  if (len64 == 0)  // POSIX: EINVAL; give a clearer message
    throw Napi::RangeError::New(env, "mmap: length must be > 0 (" + detail + ")");
  if (len64 > g_max_len)
    throw Napi::RangeError::New(env, "mmap: length is more than the " + std::to_string(g_max_len) +
                                         " bytes a buffer can hold in this Node.js (" + detail + ")");
  size_t len = static_cast<size_t>(len64);  // exact: g_max_len <= PTRDIFF_MAX
  mpx::Mapping m;
  bool guard_full = false;
  int err = mpx::Map(fd, len, writable, &m, &guard_full);
  if (err != 0)
    ThrowErrno(env, err, "mmap", guard_full ? detail + ", " + std::to_string(mpx::kGuards) + " read-only mappings already guarded" : detail);

  // Not Napi::ArrayBuffer::New(..., finalizer, hint): when Node refuses the
  // buffer (e.g. longer than buffer.constants.MAX_LENGTH) it runs the
  // finalizer before failing, and node-addon-api then deletes its finalizer
  // data a second time (free(): double free, SIGABRT). With the id as hint,
  // the finalizer and this error path both Release(id): one of them unmaps.
  napi_value value;
  napi_status st = napi_create_external_arraybuffer(env, m.addr, len, FinalizeMapping,
                                                    reinterpret_cast<void*>(m.id), &value);
  if (st != napi_ok) {
    mpx::Release(m.id);
    std::string why = TakePendingMessage(env);
    throw Napi::Error::New(env, "mmap: cannot make an ArrayBuffer of the mapping: " + why + " (" + detail + ")");
  }
  st = napi_type_tag_object(env, value, &kTag);
  if (st != napi_ok) {
    std::string why = TakePendingMessage(env);
    napi_detach_arraybuffer(env, value);  // no view may reach the pages once unmapped
    mpx::Release(m.id);
    throw Napi::Error::New(env, "mmap: cannot tag the ArrayBuffer: " + why + " (" + detail + ")");
  }
  return Napi::Value(env, value);
}

Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer ab = BufferArg(info, "munmap");
  if (ab.IsDetached() && ab.CheckTypeTag(&kTag)) return env.Undefined();  // idempotent
  mpx::Mapping m = LiveMapping(info, ab, "munmap");
  // Out of the registry first: from Detach on, the GC finalizer may run; it
  // then finds nothing to unmap.
  if (!mpx::Take(m.id, &m)) return env.Undefined();
  // Detach BEFORE unmapping: detaching sets byteLength of the buffer and every
  // typed-array/DataView over it to 0, so JS can no longer reach the pages.
  // Unmapping first would leave live views pointing at unmapped memory, and
  // the next access would SIGSEGV the whole process.
  ab.Detach();
  if (::munmap(m.addr, m.len) != 0)
    ThrowErrno(env, errno, "munmap", "length " + std::to_string(m.len));
  return env.Undefined();
}

Napi::Value Msync(const Napi::CallbackInfo& info) {
  mpx::Mapping m = LiveMapping(info, BufferArg(info, "msync"), "msync");
  int flags = info[1].ToBoolean() ? MS_SYNC : MS_ASYNC;
  if (::msync(m.addr, m.len, flags) != 0)
    ThrowErrno(info.Env(), errno, "msync", "length " + std::to_string(m.len));
  return info.Env().Undefined();
}

Napi::Value Madvise(const Napi::CallbackInfo& info) {
  mpx::Mapping m = LiveMapping(info, BufferArg(info, "madvise"), "madvise");
  std::string a = StrArg(info, 1, "madvise", "advice");
  int advice;
  if (a == "normal") advice = MADV_NORMAL;
  else if (a == "random") advice = MADV_RANDOM;
  else if (a == "sequential") advice = MADV_SEQUENTIAL;
  else if (a == "willneed") advice = MADV_WILLNEED;
  else if (a == "dontneed") advice = MADV_DONTNEED;
  else throw Napi::TypeError::New(info.Env(), "madvise: unknown advice '" + a + "'");
  if (::madvise(m.addr, m.len, advice) != 0)
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
  return Napi::Number::New(info.Env(), static_cast<double>(mpx::FaultCount()));
}

Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(mpx::PageSize()));
}

// The largest length mmap() accepts here.
Napi::Value MaxLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(g_max_len));
}

// Node's buffer.constants.MAX_LENGTH (process.getBuiltinModule: Node >= 20.16),
// or 0 when it cannot be read (MaxMapLength then assumes Node 20's 2^32).
double RuntimeMaxBufferLength(Napi::Env env) {
  try {
    Napi::Value process = env.Global().Get("process");
    if (!process.IsObject()) return 0;
    Napi::Value get = process.As<Napi::Object>().Get("getBuiltinModule");
    if (!get.IsFunction()) return 0;
    Napi::Value buffer = get.As<Napi::Function>().Call(process, {Napi::String::New(env, "buffer")});
    if (!buffer.IsObject()) return 0;
    Napi::Value constants = buffer.As<Napi::Object>().Get("constants");
    if (!constants.IsObject()) return 0;
    Napi::Value max = constants.As<Napi::Object>().Get("MAX_LENGTH");
    return max.IsNumber() ? max.As<Napi::Number>().DoubleValue() : 0;
  } catch (const Napi::Error&) {  // already cleared from the env
    return 0;
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  g_max_len = mpx::MaxMapLength(RuntimeMaxBufferLength(env));
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
  exports.Set("msync", Napi::Function::New(env, Msync, "msync"));
  exports.Set("madvise", Napi::Function::New(env, Madvise, "madvise"));
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("fileSize", Napi::Function::New(env, FileSize, "fileSize"));
  exports.Set("pageSize", Napi::Function::New(env, PageSize, "pageSize"));
  exports.Set("faultCount", Napi::Function::New(env, FaultCount, "faultCount"));
  exports.Set("maxLength", Napi::Function::New(env, MaxLength, "maxLength"));
  return exports;
}

}  // namespace

NODE_API_MODULE(multiproc_mmap, Init)
