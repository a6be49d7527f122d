#include "target.h"

#include <strings.h>

#include <map>

namespace qamp::client {

std::optional<Target> parse_target(std::string_view uri) {
  Target t;
  t.uri = std::string(uri);
  std::string_view rest = uri;
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    // HTTP/3 is https only (RFC 9114 §3.1); another scheme would be fetched as if it were.
    if (scheme != 5 || ::strncasecmp(rest.data(), "https", 5) != 0) return std::nullopt;
    rest.remove_prefix(scheme + 3);
    auto slash = rest.find('/');
    t.authority = std::string(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
    if (t.authority.empty()) return std::nullopt;
  } else if (rest.empty() || rest.front() != '/') {
    return std::nullopt;
  }
  t.path = std::string(rest);
  auto no_query = rest.substr(0, rest.find_first_of("?#"));
  auto base = no_query.substr(no_query.rfind('/') + 1);
  t.file_name = base.empty() || base == "." || base == ".." ? "index.html" : std::string(base);
  return t;
}

std::optional<std::pair<std::size_t, std::size_t>> duplicate_file_name(const std::vector<Target> &targets) {
  std::map<std::string_view, std::size_t> first;
  for (std::size_t j = 0; j < targets.size(); ++j) {
    auto [it, fresh] = first.emplace(targets[j].file_name, j);
    if (!fresh) return std::pair{it->second, j};
  }
  return std::nullopt;
}

}  // namespace qamp::client
