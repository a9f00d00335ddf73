// The addon's plain C++ core (no N-API): argument checks, the SIGBUS guard
// table and the registry of live mappings. Compiled into the addon (mmap.cc)
// and into the libFuzzer harness (fuzz/fuzz_mmap.cc), so the fuzzer drives
// exactly the code the daemon runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mpx {

// ---- argument checks --------------------------------------------------------

// Largest integer a JS number holds exactly (Number.MAX_SAFE_INTEGER).
constexpr double kMaxSafeInteger = 9007199254740991.0;

// Empty if `d` is an integer in [0, max]; else why not ("is NaN", "is -1",
// "is 4294967297, more than 4294967296"), for the caller's error message.
std::string CheckIndex(double d, double max);

// The largest length mmap() accepts: what the runtime's buffers can hold
// (`runtime_max`, Node's buffer.constants.MAX_LENGTH; <= 0 or NaN if unknown,
// then 2^32, Node 20's value), never more than the platform can map (the
// kernel refuses lengths over PTRDIFF_MAX) nor than a JS number holds exactly.
uint64_t MaxMapLength(double runtime_max);

// ---- SIGBUS guard -----------------------------------------------------------
// A read-only mapping's range is registered in a fixed lock-free table (the
// signal handler may not take locks or allocate). On SIGBUS at an address in a
// registered range (the file shrank under the mapping), the handler maps one
// anonymous zero page over the faulting page and returns: the access is
// retried and reads zeros. It also bumps the fault count, so the reader knows
// its mappings may show zeros and remaps them after a fresh fstat. Any other
// SIGBUS goes to the previous handler, by default killing the process.

// 65536 slots: the kernel's default vm.max_map_count (65530) is lower.
constexpr int kGuards = 1 << 16;
static_assert((kGuards & (kGuards - 1)) == 0, "slot search wraps with a mask");

size_t PageSize();
void InstallSigbusGuard();
// Registers [addr, addr+len); returns the slot, or -1 when the table is full
// or the range is empty or wraps around the address space.
int GuardRange(void* addr, size_t len);
// Frees a slot from GuardRange (no-op for -1). Call before munmap: the range
// may be reused by an unrelated mapping.
void Unguard(int slot);
// The page the SIGBUS handler would replace for a fault at `a`, or 0 if `a`
// is in no registered range. Async-signal-safe (the handler uses it).
uintptr_t GuardedPage(uintptr_t a);
// Slots in use (for tests and the fuzzer's leak check).
int GuardsInUse();
uint64_t FaultCount();

// ---- live mappings ----------------------------------------------------------
// Every mapping is known by a process-unique id, which the addon passes to
// N-API as the finalizer hint (an integer, not a pointer to free). Whoever
// takes the id out of the registry first (explicit munmap, GC finalizer, or
// the error path of a failed buffer creation) unmaps; the others find nothing.
// So no path frees or unmaps twice, whatever order they run in.

struct Mapping {
  uintptr_t id = 0;
  void* addr = nullptr;
  size_t len = 0;
  int guard = -1;  // slot in the guard table, or -1 (writable mappings)
  bool writable = false;
};

// mmap(NULL, len, PROT_READ[|PROT_WRITE], MAP_SHARED, fd, 0), guarded if
// read-only, registered. Returns 0 and fills *out, or an errno (EINVAL for
// len 0; ENOMEM with *guard_full set when the guard table is full).
int Map(int fd, size_t len, bool writable, Mapping* out, bool* guard_full);
// The live mapping starting at `addr` with length `len`, if any.
bool Lookup(void* addr, size_t len, Mapping* out);
// Removes the mapping from the registry and the guard table, without
// unmapping (the caller detaches views first, then munmaps). False if it was
// already taken.
bool Take(uintptr_t id, Mapping* out);
// Take + munmap. Returns true if this call unmapped it. Idempotent.
bool Release(uintptr_t id);
size_t LiveCount();

}  // namespace mpx
