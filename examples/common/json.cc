#include "json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace qamp::common {

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

Json &Json::set(std::string key, Json value) {
  if (!std::holds_alternative<Object>(v_)) v_ = Object{};
  auto &obj = std::get<Object>(v_);
  for (auto &[k, v] : obj) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  obj.emplace_back(std::move(key), std::move(value));
  return *this;
}

Json &Json::push(Json value) {
  if (!std::holds_alternative<Array>(v_)) v_ = Array{};
  std::get<Array>(v_).push_back(std::move(value));
  return *this;
}

std::string Json::dump(int indent, int expand_depth) const {
  std::string out;
  dump_to(out, indent, expand_depth, 0);
  return out;
}

void Json::dump_to(std::string &out, int indent, int expand_depth, int depth) const {
  const bool expand = indent >= 0 && depth < expand_depth;
  // Between members: a newline and the indentation (expanded), ", " (spaced), "," (one line).
  auto newline = [&](int d, bool between) {
    if (expand) {
      if (between) out.push_back(',');
      out.push_back('\n');
      out.append(static_cast<std::size_t>(indent * d), ' ');
    } else if (between) {
      out += indent < 0 ? "," : ", ";
    }
  };
  struct Visitor {
    std::string &out;
    int indent;
    int expand_depth;
    int depth;
    decltype(newline) &nl;
    void operator()(std::monostate) const { out += "null"; }
    void operator()(bool b) const { out += b ? "true" : "false"; }
    void operator()(std::int64_t n) const { out += std::to_string(n); }
    void operator()(std::uint64_t n) const { out += std::to_string(n); }
    void operator()(double d) const {
      if (!std::isfinite(d)) {
        out += "null";
        return;
      }
      // Shortest text that reads back as the same double (a rate of 20971520 B/s must not come
      // out as 2.09715e+07).
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, ec == std::errc() ? end : buf);
    }
    void operator()(const std::string &s) const { out += json_quote(s); }
    void operator()(const Object &o) const {
      if (o.empty()) {
        out += "{}";
        return;
      }
      out.push_back('{');
      bool first = true;
      for (const auto &[k, v] : o) {
        nl(depth + 1, !first);
        first = false;
        out += json_quote(k);
        out += indent < 0 ? ":" : ": ";
        v.dump_to(out, indent, expand_depth, depth + 1);
      }
      nl(depth, false);
      out.push_back('}');
    }
    void operator()(const Array &a) const {
      if (a.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      bool first = true;
      for (const auto &v : a) {
        nl(depth + 1, !first);
        first = false;
        v.dump_to(out, indent, expand_depth, depth + 1);
      }
      nl(depth, false);
      out.push_back(']');
    }
  };
  std::visit(Visitor{out, indent, expand_depth, depth, newline}, v_);
}

}  // namespace qamp::common
