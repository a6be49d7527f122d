// examples/common/callback_barrier.h — the exception barrier of every C callback trampoline
// (ngtcp2, nghttp3): a C++ exception must never unwind through C frames (undefined behaviour,
// and the C library's state would be left half-updated). The trampoline runs its body through
// ngtcp2_barrier / nghttp3_barrier; an exception becomes the library's CALLBACK_FAILURE code, so
// the library fails the call (ngtcp2 and nghttp3 then close the connection) instead of crashing.
#pragma once

#include <cstdio>
#include <exception>
#include <type_traits>
#include <utility>

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

namespace qamp::common {

namespace detail {

// The one log line of a caught exception, on stderr: the barrier is where it is logged, once;
// the caller only sees the library's error code. Never throws.
inline void log_callback_exception(const char *callback, const char *what) noexcept {
  std::fprintf(stderr, "qamp: exception in callback %s: %s (the callback fails)\n", callback, what);
}

// Runs `body`. An exception is logged and turned into `failure`; a callback that returns nothing
// (rand, qlog write) just returns: it has no error code, and the exception stops here.
template <auto failure, class F>
auto run_barrier(const char *callback, F &&body) noexcept -> std::invoke_result_t<F> {
  using R = std::invoke_result_t<F>;
  try {
    return std::forward<F>(body)();
  } catch (const std::exception &e) {
    log_callback_exception(callback, e.what());
  } catch (...) {
    log_callback_exception(callback, "not a std::exception");
  }
  if constexpr (!std::is_void_v<R>) return static_cast<R>(failure);
}

}  // namespace detail

// For ngtcp2 callbacks: an exception returns NGTCP2_ERR_CALLBACK_FAILURE.
template <class F>
auto ngtcp2_barrier(const char *callback, F &&body) noexcept {
  return detail::run_barrier<NGTCP2_ERR_CALLBACK_FAILURE>(callback, std::forward<F>(body));
}

// For nghttp3 callbacks: an exception returns NGHTTP3_ERR_CALLBACK_FAILURE.
template <class F>
auto nghttp3_barrier(const char *callback, F &&body) noexcept {
  return detail::run_barrier<NGHTTP3_ERR_CALLBACK_FAILURE>(callback, std::forward<F>(body));
}

}  // namespace qamp::common
