// tests/fuzz/request_fuzzer.cc — libFuzzer target for qamp-server's request handling as its
// public interface exposes it (examples/server/response.h: respond()): the request target (path,
// query, "..", /bytes/N), the method, and the Range / If-Range headers, against a small document
// root made once per run. A broken promise is an abort().
//
// Input layout: four fields separated by '\n': method, path, range, if-range (missing fields are
// empty). respond() never hashes (the digest is computed off the loop, digest_worker.h); /bytes/N
// is capped at 1 MiB here (--max-generated-bytes), so a larger N must be refused.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "docroot.h"
#include "http_range.h"
#include "request.h"
#include "response.h"

namespace {

using namespace qamp::common;
using namespace qamp::server;

void expect(bool ok, const char *promise) {
  if (ok) return;
  std::fprintf(stderr, "request_fuzzer: broken promise: %s\n", promise);
  std::abort();
}

// htdocs/{a.bin, empty, dir/index.html}; removed at exit.
struct Root {
  std::string path;
  Root() {
    char tmpl[] = "/tmp/qamp-request-fuzzer.XXXXXX";
    expect(mkdtemp(tmpl) != nullptr, "the document root is created");
    path = tmpl;
    std::ofstream(path + "/a.bin", std::ios::binary) << std::string(3000, 'a');
    std::ofstream(path + "/empty", std::ios::binary);
    mkdir((path + "/dir").c_str(), 0700);
    std::ofstream(path + "/dir/index.html") << "<p>index</p>\n";
    char real[PATH_MAX];
    expect(realpath(path.c_str(), real) != nullptr, "the document root resolves");
    path = real;
  }
  ~Root() {
    for (auto f : {"/a.bin", "/empty", "/dir/index.html"}) unlink((path + f).c_str());
    rmdir((path + "/dir").c_str());
    rmdir(path.c_str());
  }
};

const Root &root() {
  static Root r;
  return r;
}

constexpr std::uint64_t kMaxGenerated = 1u << 20;

const DocRoot &docroot() {
  static DocRoot d = [] {
    DocRoot d;
    std::string err;
    expect(d.open(root().path, &err), "the document root opens");
    return d;
  }();
  return d;
}

const std::string *header(const Response &r, std::string_view name) {
  for (auto &[k, v] : r.headers)
    if (k == name) return &v;
  return nullptr;
}

void check(const std::string &method, const std::string &path, const std::string &range, const std::string &if_range) {
  const auto r = respond(docroot(), Request{method, path, range, if_range}, kMaxGenerated);
  expect(r.status == 200 || r.status == 206 || r.status == 400 || r.status == 403 || r.status == 404 ||
             r.status == 405 || r.status == 414 || r.status == 416 || r.status == 500,
         "the status is one respond() documents");
  if (r.status == 200 || r.status == 206)
    expect(!r.digest_key.empty() && r.digest_body, "a served body asks for its digest (computed off the loop)");
  if (method != "GET" && method != "HEAD") expect(r.status == 405, "a method other than GET/HEAD is 405");
  for (auto &[k, v] : r.headers) {
    expect(!k.empty(), "header names are not empty");
    expect(
        k.find_first_of("\r\n\0:", 0, 4) == std::string::npos && v.find_first_of("\r\n\0", 0, 3) == std::string::npos,
        "no CR, LF or NUL in a header (nothing of the request is echoed raw)");
  }
  if (r.status == 416) {
    expect(!r.body && header(r, "content-range"), "a 416 has no body and a Content-Range");
    return;
  }
  const auto *cl = header(r, "content-length");
  // The testing knob /bytes/N?length=unknown (README) serves its body with no content-length: its
  // end is the stream's FIN (RFC 9114 §4.1.2). Every other response states its length.
  const auto q = path.find('?');
  const bool length_unknown = (r.status == 200 || r.status == 206) && path.starts_with("/bytes/") &&
                              q != std::string::npos && path.substr(q + 1) == "length=unknown";
  if (!method_sends_content(method)) {
    // RFC 9110 §9.3.2: HEAD gets GET's header section (content-length included) and no content.
    expect((length_unknown ? !cl : cl != nullptr) && r.body_length == 0,
           "a HEAD has GET's content-length (none with ?length=unknown) and sends no content");
    return;
  }
  if (length_unknown)
    expect(!cl, "?length=unknown sends no content-length");
  else
    expect(cl && parse_decimal(*cl) == r.body_length, "content-length is the number of bytes sent");
  expect(r.body != nullptr, "every other response has a body");
  const auto size = r.body->size();
  expect(r.body_offset <= size && r.body_length <= size - r.body_offset, "the bytes sent lie inside the body");
  if (r.body_length) {
    // Both ends readable (ASan checks the views).
    auto first = r.body->at(r.body_offset, 1);
    auto last = r.body->at(r.body_offset + r.body_length - 1, 1);
    expect(!first.empty() && !last.empty(), "Body::at is never empty");
    volatile std::uint8_t sink = first[0] ^ last[0];
    (void)sink;
  }
  if (r.status == 206) {
    const auto *cr = header(r, "content-range");
    auto parsed = cr ? parse_content_range(*cr) : std::nullopt;
    expect(parsed && parsed->first.first == r.body_offset && parsed->first.length() == r.body_length &&
               parsed->second == size,
           "a 206's Content-Range names the bytes sent");
  }
  if ((r.status == 200 || r.status == 206) && !path.starts_with("/bytes/")) {
    // A file was served: it lies under the document root.
    auto file = root().path + path.substr(0, path.find('?'));
    if (file.ends_with("/")) file += "index.html";
    char real[PATH_MAX];
    expect(realpath(file.c_str(), real) != nullptr, "a served file exists");
    expect(std::string_view(real).starts_with(root().path + "/"), "a served file lies under the document root");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  std::vector<std::string> f(4);
  std::size_t i = 0;
  for (std::size_t k = 0; k < size; ++k) {
    if (data[k] == '\n' && i < 3) {
      ++i;
      continue;
    }
    f[i].push_back(static_cast<char>(data[k]));
  }
  check(f[0], f[1], f[2], f[3]);
  return 0;
}
