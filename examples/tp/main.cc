// qamp-tp — encode, decode and compare qamp's transport parameters (DESIGN.md §3), and
// encode and decode QUIC-LB connection IDs.
#include <iostream>
#include <variant>

#include "cli.h"
#include "commands.h"

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;  // clang 14 has no CTAD for aggregates

}  // namespace

int main(int argc, char **argv) {
  using namespace qamp::tp;
  auto invocation = parse_command_line(argc, argv);
  return std::visit(Overloaded{
                        [](const Help &h) {
                          std::cout << usage(h.command);
                          return 0;
                        },
                        [](const UsageError &e) {
                          std::cerr << "qamp-tp: " << e.message << "\n\n" << usage(e.command);
                          return 2;
                        },
                        [](const DecodeArgs &a) { return run_decode(a, std::cout, std::cerr); },
                        [](const EncodeArgs &a) { return run_encode(a, std::cout, std::cerr); },
                        [](const CompareArgs &a) { return run_compare(a, std::cout, std::cerr); },
                        [](const CidArgs &a) { return run_cid(a, std::cout, std::cerr); },
                    },
                    invocation);
}
