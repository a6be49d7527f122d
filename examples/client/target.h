// examples/client/target.h — what a <URI> asks for and where its body is saved (pure: no I/O).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qamp::client {

// "https://host:port/a/b?x" or "/a/b": the :path and the file name it saves to.
struct Target {
  std::string uri;
  std::string path;       // ":path", "/" when empty
  std::string authority;  // from the URI, else empty (the connection's HOST:PORT is used)
  std::string file_name;  // last path segment without query, "index.html" when empty
};
std::optional<Target> parse_target(std::string_view uri);

// The first pair of targets (i < j) that would save to the same file name in one directory, if
// any: qamp-client refuses such a command line (one file could not hold both bodies).
std::optional<std::pair<std::size_t, std::size_t>> duplicate_file_name(const std::vector<Target> &targets);

}  // namespace qamp::client
