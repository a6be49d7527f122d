// examples/common/handles.h — one RAII owner per C handle the example programs hold: the handle
// is freed exactly once, by the owner's destructor, whatever path leaves the scope.
#pragma once

#include <cstdio>
#include <memory>

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

namespace qamp::common {

struct NgtcpConnDeleter {
  void operator()(ngtcp2_conn *conn) const noexcept { ngtcp2_conn_del(conn); }
};
struct Nghttp3ConnDeleter {
  void operator()(nghttp3_conn *conn) const noexcept { nghttp3_conn_del(conn); }
};
struct FileCloser {
  // A close error is not reported: the files owned this way are traces (qlog), best effort.
  void operator()(std::FILE *file) const noexcept { std::fclose(file); }
};

// Filled by ngtcp2_conn_server_new / ngtcp2_conn_client_new through an out-parameter: create
// into a raw pointer, then hand it over at once (`owner.reset(raw)`).
using NgtcpConn = std::unique_ptr<ngtcp2_conn, NgtcpConnDeleter>;
using Nghttp3Conn = std::unique_ptr<nghttp3_conn, Nghttp3ConnDeleter>;
using File = std::unique_ptr<std::FILE, FileCloser>;

}  // namespace qamp::common
